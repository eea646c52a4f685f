"""Plain-language explanations of a decision (PIPL Art. 24), in zh-CN and en.

Reason codes of the default rule set have hand-written sentences; a code from a custom rule
falls back to the rule's own description.
"""

from __future__ import annotations

from typing import Any

ACTION_TEXT: dict[str, dict[str, str]] = {
    "allow": {"zh-CN": "本次操作已正常放行。", "en": "This action was allowed."},
    "remind": {
        "zh-CN": "本次操作已放行，但我们向您显示了一条风险提醒。",
        "en": "This action went ahead, and we showed you a risk reminder.",
    },
    "dissuade": {
        "zh-CN": "我们暂停了本次操作并建议您冷静确认，必要时工作人员会回电。",
        "en": "We paused this action and asked you to stop and confirm; "
        "a member of staff may call you.",
    },
    "intercept": {
        "zh-CN": "我们暂缓了本次操作，待核实后再处理。",
        "en": "We put this action on hold until it has been verified.",
    },
    "block": {
        "zh-CN": "我们阻止了本次操作。",
        "en": "We stopped this action.",
    },
}

REASON_TEXT: dict[str, dict[str, str]] = {
    "NEW_PAYEE": {
        "zh-CN": "这是您第一次向该收款方付款，金额较大。",
        "en": "It was your first payment to this payee, and a large one.",
    },
    "DISBURSEMENT_OUTFLOW_SHARE": {
        "zh-CN": "您刚收到的贷款中，大部分在放款后很短时间内被转出。",
        "en": "Most of a loan you had just received was leaving your account "
        "shortly after it arrived.",
    },
    "LOAN_TO_NEW_PAYEE_UNDER_COACHING": {
        "zh-CN": "刚到账的贷款正被转给陌生收款方，同时您在通话、共享屏幕或被远程控制。",
        "en": "Fresh loan money was going to an unknown payee while you were on a call, sharing "
        "your screen or under remote control.",
    },
    "SCREEN_SHARING": {
        "zh-CN": "转账时您的屏幕正在被共享或录制。",
        "en": "Your screen was being shared or recorded during the payment.",
    },
    "REMOTE_CONTROL_APP": {
        "zh-CN": "转账时手机上运行着远程控制软件。",
        "en": "A remote-control app was running during the payment.",
    },
    "CALL_ACTIVE": {
        "zh-CN": "转账时您正在通话。",
        "en": "You were on a phone call during the payment.",
    },
    "APPLICATION_UNDER_COACHING": {
        "zh-CN": "申请贷款时您的屏幕正在被共享或被远程控制。",
        "en": "Your screen was shared or remotely controlled while you applied for a loan.",
    },
    "APPLICATION_DURING_CALL": {
        "zh-CN": "申请贷款时您正在通话。",
        "en": "You were on a call while applying for a loan.",
    },
    "SEVERAL_DRAWDOWNS": {
        "zh-CN": "您在24小时内多次提款。",
        "en": "You drew down several loans within 24 hours.",
    },
    "APPLICATION_BURST": {
        "zh-CN": "您在一小时内多次申请贷款。",
        "en": "You applied for several loans within an hour.",
    },
    "FIRST_LARGE_TRANSFER": {
        "zh-CN": "这笔转出远大于您以往的任何一笔。",
        "en": "This payment was far larger than any you had made before.",
    },
    "STEPPED_TRANSFERS": {
        "zh-CN": "您先向同一收款方小额转账，随后大额转账。",
        "en": "Small payments to one payee were followed by a much larger one.",
    },
    "NEW_DEVICE": {
        "zh-CN": "这笔大额转出来自一台新设备。",
        "en": "This large payment came from a new device.",
    },
    "PHONE_CHANGED": {
        "zh-CN": "您的手机号刚刚变更。",
        "en": "Your phone number had just been changed.",
    },
    "ACCOUNT_TAKEOVER": {
        "zh-CN": "新设备上刚修改了手机号或密码，随后几乎全部余额被转出。",
        "en": "A new device changed your phone or password and then tried to move "
        "most of your balance.",
    },
    "LIMIT_CHANGED": {
        "zh-CN": "额度刚调整后立即有大额转出。",
        "en": "A large payment followed a limit change straight away.",
    },
    "ELDERLY_CUSTOMER": {
        "zh-CN": "为保护年长客户，向新收款方的大额转账需要额外确认。",
        "en": "To protect older customers, large payments to new payees are confirmed.",
    },
    "STUDENT_CUSTOMER": {
        "zh-CN": "为保护学生客户，贷款资金转给新收款方需要额外确认。",
        "en": "To protect students, loan money sent to a new payee is confirmed.",
    },
    "MANY_PAYEES": {
        "zh-CN": "您在一小时内向多个不同收款方付款。",
        "en": "You paid many different payees within an hour.",
    },
    "OUTFLOW_VELOCITY": {
        "zh-CN": "您在一小时内转出次数异常多。",
        "en": "You made unusually many payments within an hour.",
    },
    "SHARED_DEVICE": {
        "zh-CN": "该设备近期被多个账户使用。",
        "en": "The device had recently been used by several accounts.",
    },
    "SHARED_IP": {
        "zh-CN": "同一网络地址下短时间内出现了很多账户。",
        "en": "Many accounts used the same network address in a short time.",
    },
    "PAYEE_MANY_PAYERS": {
        "zh-CN": "该收款方近期收到许多不同用户的转账。",
        "en": "The payee had recently received money from many different people.",
    },
    "BALANCE_DRAIN": {
        "zh-CN": "几乎全部余额被转给新的收款方。",
        "en": "Almost your whole balance was going to a new payee.",
    },
    "NIGHT_NEW_PAYEE": {
        "zh-CN": "深夜向新收款方大额转账。",
        "en": "A large late-night payment to a new payee.",
    },
    "MODEL_SCORE_HIGH": {
        "zh-CN": "风险模型判断本次操作与已确认的诈骗高度相似。",
        "en": "Our risk model found this closely resembles confirmed fraud.",
    },
    "MODEL_SCORE_VERY_HIGH": {
        "zh-CN": "风险模型判断本次操作几乎确定是诈骗。",
        "en": "Our risk model found this almost certainly matches fraud.",
    },
    "HIGH_COMBINED_RISK": {
        "zh-CN": "多项风险信号同时出现。",
        "en": "Several risk signals appeared together.",
    },
    "VERY_HIGH_COMBINED_RISK": {
        "zh-CN": "大量风险信号同时出现。",
        "en": "Many risk signals appeared together.",
    },
    "DENY_LISTED": {
        "zh-CN": "相关账户或设备在风险名单上。",
        "en": "An account or device involved is on a risk list.",
    },
    "ALLOW_LISTED": {
        "zh-CN": "相关账户或设备已被核实为可信。",
        "en": "An account or device involved has been verified as trusted.",
    },
}

GUARDRAIL_TEXT: dict[str, dict[str, str]] = {
    "REPAYMENT_NEVER_BLOCKED": {
        "zh-CN": "还款永远不会被拦截。",
        "en": "A repayment is never stopped.",
    },
    "VULNERABLE_HUMAN_CALLBACK": {
        "zh-CN": "我们会安排工作人员给您回电。",
        "en": "A member of staff will call you back.",
    },
}

MEASURE_TEXT: dict[str, dict[str, str]] = {
    "VERIFY": {"zh-CN": "需要您确认本次操作", "en": "you are asked to confirm the action"},
    "REVERIFY_ID": {
        "zh-CN": "需要重新核验身份",
        "en": "you are asked to verify your identity again",
    },
    "DELAY": {"zh-CN": "资金暂缓到账", "en": "the money is held for a while"},
    "RESTRICT": {
        "zh-CN": "账户部分功能暂时受限",
        "en": "some account functions are limited for now",
    },
    "SUSPEND": {"zh-CN": "账户暂时冻结", "en": "the account is suspended for now"},
    "CALLBACK": {"zh-CN": "工作人员会回电", "en": "a member of staff will call you"},
}


def explain(decision: dict[str, Any], locale: str) -> dict[str, Any]:
    """Build the customer-readable explanation of one stored decision."""
    loc = "zh-CN" if locale.lower().startswith("zh") else "en"
    sentences = [ACTION_TEXT.get(decision["action"], ACTION_TEXT["allow"])[loc]]
    reasons = []
    for reason in decision.get("reasons") or []:
        text = (
            REASON_TEXT.get(reason["code"], {}).get(loc)
            or reason.get("description")
            or reason["code"]
        )
        reasons.append({"code": reason["code"], "text": text})
    if reasons:
        sentences.append(
            ("原因：" if loc == "zh-CN" else "Why: ")
            + ("；" if loc == "zh-CN" else " ").join(r["text"] for r in reasons)
        )
    measures = [MEASURE_TEXT[m][loc] for m in decision.get("measures") or [] if m in MEASURE_TEXT]
    if measures:
        joined = "、".join(measures) if loc == "zh-CN" else ", ".join(measures)
        sentences.append(
            ("保护措施：" if loc == "zh-CN" else "What happens now: ")
            + joined
            + ("。" if loc == "zh-CN" else ".")
        )
    for note in decision.get("guardrails") or []:
        text = GUARDRAIL_TEXT.get(note["code"], {}).get(loc)
        if text:
            sentences.append(text)
    sentences.append(
        "如您认为判断有误，可联系客服要求人工复核。"
        if loc == "zh-CN"
        else "If you think this is wrong, you can ask customer service for a human review."
    )
    return {
        "decision_id": decision["decision_id"],
        "locale": loc,
        "action": decision["action"],
        "reasons": reasons,
        "text": " ".join(sentences) if loc == "en" else "".join(sentences),
        "ruleset_version": decision["ruleset_version"],
        "model_version": decision.get("model_version"),
    }
