"""The words of the borrower's privacy centre, in zh-CN and en (issue #21).

A customer reads these, not staff: plain words, no rule ids, no internal names. Every key has
both languages (tests/privacy/test_portal.py checks it)."""

from __future__ import annotations

from collections.abc import Callable

LOCALES = ("zh-CN", "en")

TEXTS: dict[str, dict[str, str]] = {
    # The refusals of a flood (a second open request of a kind, a switch pressed too often).
    "request_already_open": {
        "zh-CN": "您已有一个同类请求正在处理中。我们答复后，您可以再次提交。"
        "处理进度见本页“处理中的请求”。",
        "en": "You already have a request of this kind open. You can send another once we "
        "have answered it. See “Your open requests” on this page.",
    },
    "too_many_changes": {
        "zh-CN": "您已多次更改这些设置。请从 App 重新打开本页面后再更改。",
        "en": "You have changed these settings many times. To change them again, open this "
        "page again from the app.",
    },
    "title": {"zh-CN": "我的隐私中心", "en": "My privacy centre"},
    "intro": {
        "zh-CN": "在这里，您可以查看我们收集和共享了您的哪些个人信息，阅读隐私政策，"
        "选择是否接收营销信息，查看我们为保护您的资金采取过的措施，并向我们提出查阅、"
        "更正或删除个人信息的请求。",
        "en": "Here you can see what personal information we collect and share, read our "
        "privacy notice, choose whether we may send you offers, see when we stepped in to "
        "protect your money, and ask us for a copy of your information, to correct it or to "
        "delete it.",
    },
    "open_until": {
        "zh-CN": "本页面在 {time} 前有效。之后请从 App 重新打开。",
        "en": "This page works until {time}. After that, open it again from the app.",
    },
    "language": {"zh-CN": "语言", "en": "Language"},
    "nav": {"zh-CN": "本页内容", "en": "On this page"},
    # -- the lists
    "collected_title": {"zh-CN": "我们收集的个人信息", "en": "Information we collect"},
    "collected_intro": {
        "zh-CN": "以下是我们收集的个人信息、用途和保存期限。"
        "“收集次数”是您的操作中出现该信息的次数。",
        "en": "What we collect, why, and how long we keep it. “Times collected” counts how "
        "often it came with something you did.",
    },
    "purpose": {"zh-CN": "用途", "en": "Why"},
    "scenario": {"zh-CN": "使用场景", "en": "When"},
    "retention": {"zh-CN": "保存期限", "en": "Kept for"},
    "times_collected": {"zh-CN": "收集次数", "en": "Times collected"},
    "sensitive": {"zh-CN": "敏感个人信息", "en": "Sensitive information"},
    "necessary": {"zh-CN": "提供服务所必需", "en": "Needed for the service"},
    "optional": {"zh-CN": "可选", "en": "Optional"},
    "sharing_title": {"zh-CN": "我们与谁共享", "en": "Who we share it with"},
    "sharing_intro": {
        "zh-CN": "您的个人信息只会提供给以下对象：提供服务所必需的，以及您单独同意过的。",
        "en": "Your information goes only to these recipients: those the service needs, and "
        "those you agreed to separately.",
    },
    "sharing_none": {
        "zh-CN": "目前我们不会向第三方提供您的个人信息。",
        "en": "We do not share your information with anyone else at the moment.",
    },
    "recipient": {"zh-CN": "接收方", "en": "Recipient"},
    "what": {"zh-CN": "共享的信息", "en": "What"},
    "how": {"zh-CN": "共享方式", "en": "How"},
    "separate_consent": {
        "zh-CN": "仅在您单独同意后共享",
        "en": "Shared only because you agreed separately",
    },
    # -- the notice
    "notice_title": {"zh-CN": "隐私政策", "en": "Privacy notice"},
    "notice_version": {
        "zh-CN": "第 {version} 版，发布于 {time}",
        "en": "Version {version}, published {time}",
    },
    "notice_none": {
        "zh-CN": "我们尚未发布隐私政策。如需了解，请联系客服。",
        "en": "We have not published a privacy notice yet. Please contact customer service "
        "to ask for it.",
    },
    "notice_other_language": {
        "zh-CN": "这份隐私政策暂无中文版本，以下为英文原文。",
        "en": "This notice is not yet available in English; here it is in Chinese.",
    },
    # -- the switches
    "switches_title": {"zh-CN": "营销信息", "en": "Offers and advertising"},
    "switches_intro": {
        "zh-CN": "您可以分别选择是否通过以下方式接收优惠和广告。关闭后立即生效。"
        "关于您借款的通知和保护您资金安全的提醒不受影响。",
        "en": "Choose for each channel whether we may send you offers and advertising. "
        "Turning one off works straight away. Messages about your loan and warnings that "
        "protect your money are not affected.",
    },
    "switches_unavailable": {
        "zh-CN": "我们目前无法在这里记录您的选择（尚无适用的隐私政策）。请联系客服。",
        "en": "We cannot record your choice here at the moment (no privacy notice covers "
        "it yet). Please contact customer service.",
    },
    "scope_sms": {"zh-CN": "短信", "en": "Text messages (SMS)"},
    "scope_push": {"zh-CN": "App 推送通知", "en": "App notifications"},
    "scope_popup": {"zh-CN": "App 内弹窗", "en": "Pop-ups in the app"},
    "scope_call": {"zh-CN": "电话", "en": "Phone calls"},
    "scope_email": {"zh-CN": "电子邮件", "en": "Email"},
    "state_on": {"zh-CN": "已开启", "en": "On"},
    "state_off": {"zh-CN": "已关闭", "en": "Off"},
    "state_unset": {"zh-CN": "尚未选择", "en": "Not chosen yet"},
    "turn_on": {"zh-CN": "开启", "en": "Turn on"},
    "turn_off": {"zh-CN": "关闭", "en": "Turn off"},
    "done_consent": {
        "zh-CN": "已保存。您的选择从现在起生效。",
        "en": "Saved. Your choice applies from now on.",
    },
    # -- interventions
    "interventions_title": {"zh-CN": "我们为保护您采取的措施", "en": "When we stepped in"},
    "interventions_intro": {
        "zh-CN": "过去 90 天内，我们在以下情况下提醒过您或暂停了操作，以保护您的资金。",
        "en": "In the last 90 days we warned you or paused something you did, to protect "
        "your money, on these occasions.",
    },
    "interventions_none": {
        "zh-CN": "过去 90 天内，我们没有需要介入的情况。",
        "en": "We have not needed to step in during the last 90 days.",
    },
    "action_remind": {"zh-CN": "我们向您显示了风险提醒", "en": "We showed you a warning"},
    "action_dissuade": {
        "zh-CN": "我们暂停了操作，请您确认",
        "en": "We paused and asked you to check",
    },
    "action_intercept": {"zh-CN": "我们暂缓了操作以便核实", "en": "We held it to check it"},
    "action_block": {"zh-CN": "我们阻止了本次操作", "en": "We stopped it"},
    "explain_remind": {
        "zh-CN": "本次操作有风险迹象，我们提醒您再确认一下。",
        "en": "Something about it looked risky, so we reminded you to check it.",
    },
    "explain_dissuade": {
        "zh-CN": "本次操作有需要您确认的风险迹象，我们请您先暂停确认。",
        "en": "Something about it looked risky, so we asked you to stop and confirm.",
    },
    "explain_intercept": {
        "zh-CN": "本次操作需要进一步核实，我们暂缓了处理。",
        "en": "It needed checking, so we put it on hold.",
    },
    "explain_block": {
        "zh-CN": "为保护您的资金，我们阻止了本次操作。",
        "en": "To protect your money, we stopped it.",
    },
    # -- requests
    "requests_title": {"zh-CN": "查阅、更正或删除我的信息", "en": "Ask for your information"},
    "requests_intro": {
        "zh-CN": "您可以要求获得个人信息副本、更正不准确的信息或删除信息。"
        "我们会在法定期限内答复；有些信息依法需要保留，我们会告诉您原因。",
        "en": "You can ask for a copy of your information, for wrong information to be "
        "corrected, or for it to be deleted. We answer within the time the law sets; where "
        "the law makes us keep something, we tell you why.",
    },
    "kind_access": {"zh-CN": "获取我的信息副本", "en": "A copy of my information"},
    "kind_correct": {"zh-CN": "更正我的信息", "en": "Correct my information"},
    "kind_delete": {"zh-CN": "删除我的信息", "en": "Delete my information"},
    "kind_withdraw": {"zh-CN": "撤回同意", "en": "Withdraw my consent"},
    "kind_explain": {"zh-CN": "解释一项决定", "en": "Explain a decision"},
    "request_kind": {"zh-CN": "您想要", "en": "What would you like?"},
    "request_note": {
        "zh-CN": "补充说明（可选，例如哪项信息需要更正）",
        "en": "Anything to add (optional, e.g. what needs correcting)",
    },
    "request_send": {"zh-CN": "提交请求", "en": "Send request"},
    "done_request": {
        "zh-CN": "我们已收到您的请求，将在 {time} 前答复。",
        "en": "We have received your request. We will answer by {time}.",
    },
    "open_requests": {"zh-CN": "处理中的请求", "en": "Your open requests"},
    "requests_none": {
        "zh-CN": "您目前没有处理中的请求。",
        "en": "You have no open requests.",
    },
    "received": {"zh-CN": "提交于 {time}", "en": "Sent {time}"},
    "answer_by": {"zh-CN": "我们将在 {time} 前答复", "en": "We will answer by {time}"},
    "days_left": {"zh-CN": "还剩 {days} 天", "en": "{days} days left"},
    "due_today": {"zh-CN": "今天到期", "en": "Due today"},
    "overdue": {
        "zh-CN": "已超过我们承诺的答复时间，我们正在尽快处理。",
        "en": "We are past the date we promised; we are working on it.",
    },
    "status_identity_unverified": {
        "zh-CN": "我们会先确认是您本人",
        "en": "We will first check that it is really you",
    },
    "status_pending": {"zh-CN": "正在处理", "en": "Being worked on"},
    # -- the money lock
    "lock_title": {"zh-CN": "资金锁", "en": "Money lock"},
    "lock_locked": {"zh-CN": "您的资金已锁定", "en": "Your money is locked"},
    "lock_unlock_pending": {
        "zh-CN": "解锁等待中：在 {time} 之前，您的资金仍处于锁定状态",
        "en": "An unlock is waiting: your money stays locked until {time}",
    },
    "lock_unlocked": {"zh-CN": "您的资金已解锁", "en": "Your money is unlocked"},
    "lock_since": {"zh-CN": "锁定于 {time}", "en": "Locked on {time}"},
    "lock_does": {
        "zh-CN": "锁定期间，任何资金都无法从您的账户转出，也无法新借款或提高额度。",
        "en": "While it is locked, no money can leave your account and no new loan or higher "
        "limit can be taken out.",
    },
    "lock_kill_switch": {
        "zh-CN": "新手机或新电脑上的登录也已暂停。",
        "en": "Sign-ins from new phones or computers are stopped too.",
    },
    "lock_how_unlock": {
        "zh-CN": "如需解锁，请到营业网点办理或与我们进行视频通话核实身份。"
        "本页面不能解锁：这是为了防止有人诱导您解锁。",
        "en": "To unlock, visit a branch or have a video call with us so we can check it is "
        "you. This page cannot unlock it: that protects you if someone pushes you to.",
    },
    # -- errors
    "denied_title": {"zh-CN": "此链接无法打开", "en": "This link cannot be opened"},
    "denied_text": {
        "zh-CN": "链接可能已过期或不完整。请从 App 重新打开您的隐私中心。",
        "en": "It may have expired or be incomplete. Please open your privacy centre again "
        "from the app.",
    },
    "form_expired": {
        "zh-CN": "此表单已失效，未作任何更改。请重新加载页面后再试。",
        "en": "This form has expired and nothing was changed. Please reload the page and try "
        "again.",
    },
    "form_invalid": {
        "zh-CN": "表单内容有误，未作任何更改。请返回后重试。",
        "en": "Something in the form was not right and nothing was changed. Please go back "
        "and try again.",
    },
    "back": {"zh-CN": "返回隐私中心", "en": "Back to my privacy centre"},
    "opening": {"zh-CN": "正在打开您的隐私中心…", "en": "Opening your privacy centre…"},
    "continue": {"zh-CN": "继续", "en": "Continue"},
}


def translator(locale: str) -> Callable[..., str]:
    """``t(key, **values)``: the text of ``key`` in ``locale`` with ``values`` filled in."""
    loc = locale if locale in LOCALES else "zh-CN"

    def t(key: str, **values: object) -> str:
        text = TEXTS[key][loc]
        return text.format(**values) if values else text

    return t
