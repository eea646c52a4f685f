"""Plain-language explanations of a decision (PIPL Art. 24), in zh-CN and en.

The borrower reads this, not an analyst: every listed reason is a sentence saying what we saw,
why acting on it protects them, and what they can do next. The sentence for a reason comes from
the rule itself when its rule set carries one (``explanation`` in the YAML: policy data, so a
custom rule brings its own), else from :data:`REASON_TEXT`, the built-in catalogue that covers
every code the shipped rule set and the engine raise. A rule's internal ``description`` (with its
requirement ids, parameter names and tuning notes) is never shown; a code with no sentence at all
gets a neutral sentence for its action (``lendguard rules lint`` refuses such a rule set on
upload, so this is only a safety net for versions stored before the lint).

Meta-reasons, the combined-risk escalations that only read ``score``, summarise the listed
reasons and are not listed themselves. The headline fits the measure: a credit freeze, a
hardship offer or a suitability pause is about the customer's borrowing, not a scam warning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lendguard.decisions.features.compute import FEATURE_NAMES
from lendguard.decisions.rules.loader import SCORE_NAME, Rule, RuleSet
from lendguard.decisions.scoring.reason_codes import current, load_catalogue

Text = dict[str, str]

ACTION_TEXT: dict[str, Text] = {
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

# Headlines about the customer's borrowing, for decisions driven by a responsible-lending rule
# (category wellbeing or compliance): they are not a scam warning and must not read like one.
BORROWING_HEADLINE: dict[str, Text] = {
    # a credit freeze with a hardship offer (the rescue ladder)
    "help": {
        "zh-CN": "我们暂缓了您本次的借款或提额申请，并为您准备了还款帮扶方案。",
        "en": "We have paused this request for new borrowing or a higher limit, and we have "
        "help with your repayments ready for you.",
    },
    # a credit freeze alone, or another pause of new borrowing
    "pause": {
        "zh-CN": "为避免您的还款负担加重，我们暂缓了您本次的借款或提额申请。",
        "en": "To keep your repayments from getting heavier, we have paused this request for "
        "new borrowing or a higher limit.",
    },
    "remind": {
        "zh-CN": "本次申请已继续办理，同时我们想提醒您留意自己的借款负担。",
        "en": "This request went ahead, and we want to remind you to keep an eye on how much "
        "you are borrowing.",
    },
    # suitability and affordability checks (category compliance)
    "check": {
        "zh-CN": "在为您办理之前，我们需要先确认这项业务适合您、您也负担得起，"
        "所以本次申请暂未继续。",
        "en": "Before going ahead we need to make sure this suits you and that you can afford "
        "it, so this request is paused for now.",
    },
}

# A neutral sentence per action for a reason no rule set or catalogue explains: never the rule's
# internal description.
GENERIC_REASON_TEXT: dict[str, Text] = {
    "allow": {
        "zh-CN": "我们留意到本次操作有一项需要关注的情况，无需您额外处理。",
        "en": "We noticed something worth keeping an eye on; there is nothing you need to do.",
    },
    "remind": {
        "zh-CN": "本次操作有一项风险迹象，为保护您的资金，我们提醒您再确认一下。"
        "如有疑问，可以联系客服。",
        "en": "This action showed a sign of risk, so to protect your money we reminded you "
        "to check it. Contact customer service if you are unsure.",
    },
    "dissuade": {
        "zh-CN": "本次操作有需要您确认的风险迹象，为保护您的资金，我们请您先暂停确认。"
        "请按提示操作，或联系客服了解详情。",
        "en": "This action showed signs of risk that need your confirmation, so to protect "
        "your money we asked you to pause and confirm. Follow the prompts or contact "
        "customer service for details.",
    },
    "intercept": {
        "zh-CN": "本次操作有需要进一步核实的情况，为保护您的资金，我们暂缓了处理。"
        "请按提示完成核实，或联系客服了解详情。",
        "en": "This action needs further checks, so to protect your money we put it on "
        "hold. Complete the checks when asked or contact customer service for details.",
    },
    "block": {
        "zh-CN": "本次操作存在较高风险，为保护您的资金，我们停止了处理。请联系官方客服了解详情。",
        "en": "This action carried a high risk, so to protect your money we stopped it. "
        "Please contact official customer service for details.",
    },
}

_CHECK_MORE_ZH = "如果您认识并信任对方，按提示确认即可。"
_CHECK_MORE_EN = "If you know and trust the payee, just confirm when asked."
_HELP_ZH = "如果还款有困难，可以联系客服了解帮扶方案。"
_HELP_EN = "If repayments are hard, contact customer service about the help we offer."

REASON_TEXT: dict[str, Text] = {
    # -- signals ---------------------------------------------------------------------------------
    "NEW_PAYEE": {
        "zh-CN": "这是您第一次向该收款方付款，而且金额较大；骗子常让人向陌生账户转大额，"
        "所以我们多确认一步。" + _CHECK_MORE_ZH,
        "en": "This was your first payment to this payee, and a large one; scammers often ask "
        "for large payments to new accounts, so we check once more. " + _CHECK_MORE_EN,
    },
    "DISBURSEMENT_OUTFLOW_SHARE": {
        "zh-CN": "您刚到账的贷款大部分在很短时间内被转出；诈骗分子常诱导人借款后立即转走，"
        "所以我们会多留意。如果这笔钱用于您自己的正常安排，按提示确认即可。",
        "en": "Most of a loan you had just received was leaving soon after it arrived; "
        "scammers often push people to borrow and pass the money straight on, so we take "
        "extra care. If the money is for your own plans, just confirm when asked.",
    },
    "CALL_ACTIVE": {
        "zh-CN": "付款时您正在通话；很多诈骗是在电话里一步步指挥转账的，所以我们会多留意。"
        "如果有人在电话里要求您转账，请先挂断，再通过官方渠道核实。",
        "en": "You were on a phone call during the payment; many scams talk people through a "
        "transfer on the phone, so we take extra care. If someone on a call asked you to "
        "pay, hang up and check through an official channel first.",
    },
    "APPLICATION_DURING_CALL": {
        "zh-CN": "申请贷款时您正在通话；有人会在电话里诱导别人借款，所以我们会多留意。"
        "如果是您自己想借款，无需额外处理。",
        "en": "You were on a call while applying for a loan; some callers talk people into "
        "borrowing, so we take extra care. If you want this loan yourself, there is nothing "
        "more to do.",
    },
    "SEVERAL_DRAWDOWNS": {
        "zh-CN": "您在24小时内多次提款；短时间内多次借款可能是被人诱导，也会加重还款负担，"
        "所以我们会多留意。如有疑问，可以随时联系客服。",
        "en": "You drew down several loans within 24 hours; borrowing many times in a short "
        "time can be a sign of pressure from someone else and adds to your repayments, so we "
        "take extra care. Contact customer service any time if you have questions.",
    },
    "APPLICATION_BURST": {
        "zh-CN": "您在一小时内多次申请贷款；这可能是有人在催促您，或账户被他人使用，"
        "所以我们会多留意。如果都是您本人申请，无需额外处理。",
        "en": "You applied for several loans within an hour; this can mean someone is rushing "
        "you or using your account, so we take extra care. If you made these applications "
        "yourself, there is nothing more to do.",
    },
    "FIRST_LARGE_TRANSFER": {
        "zh-CN": "这笔付款远大于您以往的任何一笔；金额异常时我们会多确认一步，以免您遭受大额损失。"
        "如果是您本人想付的款，按提示确认即可。",
        "en": "This payment was far larger than any you had made before; we check unusual "
        "amounts once more to protect you from a large loss. If you meant to make it, just "
        "confirm when asked.",
    },
    "NEW_DEVICE": {
        "zh-CN": "这笔大额付款来自一台新设备；他人盗用账户时往往会换用新设备，所以我们多确认一步。"
        "如果是您本人换了手机，按提示确认即可。",
        "en": "This large payment came from a new device; someone who has taken over an "
        "account usually uses a new device, so we check once more. If you changed your "
        "phone yourself, just confirm when asked.",
    },
    "LIMIT_CHANGED": {
        "zh-CN": "额度刚调整后马上有一笔大额付款；这种情况常见于账户被他人控制，"
        "所以我们多确认一步。"
        "如果是您本人操作，按提示确认即可。",
        "en": "A large payment followed straight after a limit change; this often happens "
        "when someone else controls an account, so we check once more. If it was you, just "
        "confirm when asked.",
    },
    "STUDENT_CUSTOMER": {
        "zh-CN": "您是学生，正把钱转给新的收款方；冒充注销校园贷、刷单返利等针对学生的骗局很常见，"
        "所以我们多确认一步。" + _CHECK_MORE_ZH,
        "en": "As a student you were sending money to a new payee; scams aimed at students, "
        "such as fake loan cancellations and paid tasks, are common, so we check once more. "
        + _CHECK_MORE_EN,
    },
    "MANY_PAYEES": {
        "zh-CN": "您在一小时内向多个不同收款方付款；这可能是有人在指挥您转账，或账户被他人使用，"
        "所以我们会多留意。如果都是您本人的正常付款，无需额外处理。",
        "en": "You paid many different payees within an hour; this can mean someone is "
        "directing your payments or using your account, so we take extra care. If these were "
        "your own payments, there is nothing more to do.",
    },
    "OUTFLOW_VELOCITY": {
        "zh-CN": "您在一小时内付款的次数异常多；这可能是账户被他人操作，所以我们会多留意。"
        "如果都是您本人操作，无需额外处理。",
        "en": "You made unusually many payments within an hour; this can mean someone else "
        "is using your account, so we take extra care. If they were all yours, there is "
        "nothing more to do.",
    },
    "BALANCE_DRAIN": {
        "zh-CN": "您几乎要把全部余额转给新的收款方；一次转走全部积蓄是诈骗中常见的情形，"
        "所以我们多确认一步。" + _CHECK_MORE_ZH,
        "en": "Almost your whole balance was going to a new payee; moving all your savings at "
        "once is common in scams, so we check once more. " + _CHECK_MORE_EN,
    },
    "NIGHT_NEW_PAYEE": {
        "zh-CN": "您在深夜向新的收款方大额付款；骗子常在深夜催人转账，所以我们多确认一步。"
        "如果是您本人想付的款，按提示确认即可。",
        "en": "You made a large late-night payment to a new payee; scammers often rush people "
        "into paying late at night, so we check once more. If you meant to make it, just "
        "confirm when asked.",
    },
    "SHARED_IP": {
        "zh-CN": "同一网络地址下短时间内出现了很多账户；这可能是公共网络，"
        "也可能是有人批量冒用身份，"
        "所以我们会多留意。如果您在使用公共网络，换用自己的网络后再试即可。",
        "en": "Many accounts used the same network address in a short time; this may be a "
        "public network or someone misusing identities in bulk, so we take extra care. If you "
        "are on a public network, try again from your own connection.",
    },
    # -- scam patterns ---------------------------------------------------------------------------
    "LOAN_TO_NEW_PAYEE_UNDER_COACHING": {
        "zh-CN": "刚到账的贷款正被转给陌生收款方，同时您在通话、共享屏幕或手机被远程控制；"
        "这是冒充客服、注销校园贷等骗局的典型做法，暂缓可以防止您的钱被骗走。"
        "请先挂断电话、停止共享，我们的工作人员会联系您核实。",
        "en": "Fresh loan money was going to an unknown payee while you were on a call, "
        "sharing your screen or under remote control; this is how fake customer-service and "
        "loan-cancellation scams work, and holding the payment keeps your money from being "
        "taken. Please hang up and stop sharing; our staff will contact you to check.",
    },
    "SCREEN_SHARING": {
        "zh-CN": "付款时您的屏幕正在被共享或录制；骗子会借此看到您的验证码和密码，"
        "所以我们暂停下来提醒您。请先停止共享屏幕，确认安全后再操作。",
        "en": "Your screen was being shared or recorded during the payment; scammers use this "
        "to see your codes and passwords, so we paused to warn you. Stop sharing your screen "
        "first, then try again once you are sure it is safe.",
    },
    "REMOTE_CONTROL_APP": {
        "zh-CN": "付款时您的手机上正在运行远程控制软件；他人可能借此操作您的账户，"
        "所以我们暂缓了这笔付款。请关闭并卸载不认识的远程控制软件，再按提示完成核实。",
        "en": "A remote-control app was running on your phone during the payment; someone "
        "else could use it to operate your account, so we held the payment. Close and remove "
        "any remote-control app you do not recognise, then complete the check when asked.",
    },
    "APPLICATION_UNDER_COACHING": {
        "zh-CN": "申请贷款时您的屏幕正在被共享或手机被远程控制；骗子常以“注销账户”“提升信用”"
        "为由诱导人借款，所以我们暂停下来确认。请停止共享屏幕，确认是您本人想借款后再继续。",
        "en": "Your screen was shared or your phone remotely controlled while you applied for "
        "a loan; scammers often talk people into borrowing to 'close an account' or 'repair "
        "their credit', so we paused to check. Stop sharing your screen and continue only if "
        "you yourself want this loan.",
    },
    "NEW_PAYEE_DURING_CALL": {
        "zh-CN": "您在通话中向陌生账户付款；信用记录不能花钱修改，公检法也不会要求转账，"
        "电话里要求转账的“客服”都是骗子。请先挂断电话，通过官方渠道核实后再决定是否付款。",
        "en": "You were paying someone new while on a call; credit records cannot be repaired "
        "for a fee, police never ask for transfers, and 'customer service' asking for money "
        "on the phone is a scam. Hang up first and check through an official channel before "
        "you decide to pay.",
    },
    "SCAM_CUE_IN_CONVERSATION": {
        "zh-CN": "您近期与我们联系时说到的情况与常见诈骗相似，而这笔钱要转给新的收款方；"
        "为防止您被骗，我们暂缓了这笔付款。工作人员会先回电与您核实，核实后付款可以继续。",
        "en": "What you told us when you last contacted us sounds like a common scam, and this "
        "money was going to a new payee; to protect you from being scammed, we held the "
        "payment. A member of staff will call you back first, and the payment can go ahead "
        "once it is checked.",
    },
    "ADVANCE_FEE_PATTERN": {
        "zh-CN": "您在申请贷款后、放款前向新的收款方付款；正规贷款放款前不会收取保证金、解冻费或"
        "验资费，要求先交费的都是诈骗。请不要付款，如有疑问请联系我们的官方客服。",
        "en": "You were paying a new payee after applying for a loan but before it was paid "
        "out; real lenders never charge a deposit or fee before paying out, so anyone asking "
        "you to pay first is a scammer. Please do not pay, and contact our official customer "
        "service if you are unsure.",
    },
    "STEPPED_TRANSFERS": {
        "zh-CN": "您先向同一收款方小额付款，随后金额大幅增加；刷单返利类骗局常先让人尝到甜头，"
        "再要求垫付大额，所以我们多确认一步。如果对方要求您先垫钱，请停止付款。",
        "en": "Small payments to one payee were followed by a much larger one; task and rebate "
        "scams let people win small amounts before asking for a large payment, so we check "
        "once more. If you are being asked to pay money up front, stop paying.",
    },
    "ELDERLY_CUSTOMER": {
        "zh-CN": "您正向刚开始往来的收款方转出较大金额；针对年长客户的投资、保健品骗局很多，"
        "所以我们会先与您或您的紧急联系人确认。确认无误后，付款会继续处理。",
        "en": "You were sending a large amount to a payee you only recently started paying; "
        "many investment and health-product scams target older customers, so we first "
        "confirm with you or your trusted contact. Once confirmed, the payment goes ahead.",
    },
    "PAYEE_MANY_PAYERS": {
        "zh-CN": "该收款方近期收到了很多不同的人的转账；这常见于骗子用来收钱的账户，"
        "所以我们提醒您小心。请确认您认识并信任对方后再付款。",
        "en": "The payee had recently received money from many different people; this is "
        "common for accounts scammers use to collect money, so we want you to be careful. "
        "Pay only if you know and trust the payee.",
    },
    "PAYEE_MULE_SUSPECTED": {
        "zh-CN": "收款账户近期收到多名陌生人的钱后又迅速转走，很像骗子用来收钱的账户；"
        "为防止您的钱被骗，这笔付款已暂缓。工作人员会与您核实，请不要按陌生人的要求继续转账。",
        "en": "The receiving account has taken money from many strangers and moved it on "
        "quickly, like an account scammers use to collect money; to keep your money safe, "
        "the payment is on hold. Our staff will check it with you; please do not send more at "
        "a stranger's request.",
    },
    # -- account takeover ------------------------------------------------------------------------
    "PHONE_CHANGED": {
        "zh-CN": "您的手机号刚刚变更；他人盗用账户时常先改掉手机号再转走资金，"
        "所以我们需要再次核实身份。"
        "请按提示完成身份核验；如果不是您本人修改，请立即联系客服。",
        "en": "Your phone number had just been changed; fraudsters often change the number "
        "before moving money, so we need to verify your identity again. Please complete the "
        "identity check; if you did not make the change, contact customer service now.",
    },
    "CREDENTIAL_CHANGE_NEW_DEVICE": {
        "zh-CN": "有人在一台新设备上修改您的手机号或密码；这是账户被盗的常见迹象，"
        "所以我们需要确认是您本人。请按提示完成人脸核验；如果不是您本人操作，"
        "请立即联系客服冻结账户。",
        "en": "Your phone number or password was being changed on a new device; this is a "
        "common sign of a stolen account, so we need to make sure it is you. Please complete "
        "face verification; if it was not you, contact customer service now to freeze the "
        "account.",
    },
    "ACCOUNT_TAKEOVER": {
        "zh-CN": "新设备上刚修改了手机号或密码，随后又要转出资金；这很像账户被他人盗用，"
        "暂缓可以保住您的钱。请按提示完成人脸核验；如果不是您本人操作，请立即联系客服。",
        "en": "A new device changed your phone number or password and then tried to move "
        "money out; this looks like someone else has taken over your account, and holding "
        "the payment keeps your money safe. Please complete face verification; if it was not "
        "you, contact customer service now.",
    },
    # -- the lender's vendors: payee name check, biometrics, SIM swap -----------------------------
    "PAYEE_NAME_MISMATCH": {
        "zh-CN": "您填写的收款人姓名与收款账户的户名不一致，而且这是一笔向新收款方的大额转账；"
        "骗子常以各种理由让您转到别人名下的账户，所以我们暂缓了这笔付款。"
        "请先用您自己知道的电话联系对方核实，确认无误后再继续。",
        "en": "The name you entered does not match the name on the receiving account, and this "
        "is a large payment to someone new; scammers often give a reason to pay an account in "
        "another person's name, so the payment is on hold. Please check with the payee on a "
        "number you already know before going on.",
    },
    "BIOMETRIC_CHECK_FAILED": {
        "zh-CN": "本次变更时的活体检测或人脸比对没有通过；他人盗用账户时常在这一步露出破绽，"
        "所以变更已暂缓。请按提示重新完成身份核验；如果不是您本人操作，请立即联系客服冻结账户。",
        "en": "The liveness or face check during this change did not pass; this is where "
        "someone using a stolen account is often caught, so the change is on hold. Please "
        "verify your identity again as prompted; if it was not you, contact customer service "
        "now to freeze the account.",
    },
    "KNOWN_FRAUDSTER_VOICE": {
        "zh-CN": "本次会话中听到的声音与已确认涉诈的声音相符；为防止他人冒用您的账户或诱导您操作，"
        "本次操作已暂缓、部分功能暂时受限。工作人员会拨打您预留的电话与您核实。",
        "en": "The voice heard in this session matches a voice linked to confirmed fraud; to "
        "stop anyone using your account or talking you into something, this action is on hold "
        "and some functions are limited for now. Our staff will call you on the number we hold "
        "for you.",
    },
    # the anti-fraud alliance (issue #20): another lender has listed one of the identifiers
    "ALLIANCE_LISTED": {
        "zh-CN": "您的身份证号、手机号、银行卡或设备已被反欺诈联盟中的其他机构列入名单；"
        "为防止他人冒用您的身份借款，本次业务需经人工审核。如信息有误，请联系我们的官方客服提出异议。",
        "en": "Your ID number, mobile number, card or device is listed by another lender in the "
        "anti-fraud alliance; to stop anyone borrowing in your name, this needs a manual "
        "review. If this is wrong, contact our official customer service to dispute it.",
    },
    "SIM_SWAP_RECENT": {
        "zh-CN": "您的手机卡在一天内刚补换过；骗子常先补办他人的手机卡来接收验证码、转走资金，"
        "所以我们需要再次核实身份。请按提示完成身份核验；如果您没有补换过手机卡，"
        "请立即联系运营商和我们的客服。",
        "en": "Your SIM card was replaced within the last day; fraudsters often take over a "
        "phone number to receive one-time codes and move money, so we need to verify your "
        "identity again. Please complete the identity check; if you did not replace your SIM "
        "card, contact your mobile operator and our customer service now.",
    },
    # -- rings and mule accounts -----------------------------------------------------------------
    "MULE_INBOUND": {
        "zh-CN": "您的账户短时间内收到多笔不同来源的转入；这常见于被骗子借用来收钱的账户，"
        "为防止您的账户卷入诈骗，部分功能暂时受限。请联系客服说明资金来源，核实后即可恢复。",
        "en": "Your account received money from many different sources in a short time; this "
        "is common for accounts borrowed by scammers to collect money, so some functions are "
        "limited to keep your account out of fraud. Please contact customer service to "
        "explain where the money came from; the limits are lifted once it is checked.",
    },
    "MULE_CASH_OUT": {
        "zh-CN": "您的账户收到多方转入后又立即大额转出；这是账户被用来转移赃款的常见迹象，"
        "而出租、出借银行卡或账户属于违法行为，所以我们暂缓了这笔付款。请联系客服说明情况。",
        "en": "Money from many payers was leaving your account right after it arrived; this "
        "is a common sign of an account used to pass on stolen money, and lending your "
        "account or card to others is illegal, so we held the payment. Please contact "
        "customer service to explain.",
    },
    "SHARED_DEVICE": {
        "zh-CN": "您使用的设备近期登录过多个账户；借用他人设备或身份被冒用都可能带来风险，"
        "所以我们需要核实身份。请按提示完成身份核验，并尽量只在自己的设备上办理业务。",
        "en": "The device you used had recently been used by several accounts; borrowed "
        "devices and misused identities both carry risk, so we need to verify your identity. "
        "Please complete the identity check, and use your own device where you can.",
    },
    "RING_CASH_OUT": {
        "zh-CN": "您使用的设备近期被多个账户使用，同时贷款资金正被转出；"
        "这可能意味着您的身份被他人冒用，"
        "所以我们暂缓了这笔付款。请完成身份核验，确认是您本人后即可继续。",
        "en": "The device you used had been used by several accounts while loan money was "
        "leaving; this can mean someone is misusing your identity, so we held the payment. "
        "Please verify your identity; once we know it is you, it can go ahead.",
    },
    "RING_MEMBER": {
        "zh-CN": "您的账户与多个新开的账户共用同一设备、手机号或银行卡；"
        "这可能意味着您的身份信息被他人冒用，"
        "所以本次业务需要先核实。请完成身份核验；如果您曾把手机或银行卡借给别人，请告诉客服。",
        "en": "Your account shares a device, phone number or bank card with several newly "
        "opened accounts; this can mean someone is misusing your details, so this needs "
        "checking first. Please verify your identity, and tell customer service if you have "
        "lent your phone or card to anyone.",
    },
    "RING_CONFIRMED_FRAUD": {
        "zh-CN": "您的账户与已确认涉及诈骗的账户共用设备、手机号或银行卡；"
        "为防止您的账户被卷入诈骗，"
        "本次业务已暂缓。请联系客服完成核验，确认与您无关后即可继续。",
        "en": "Your account shares a device, phone number or bank card with accounts confirmed "
        "as fraudulent; to keep your account out of fraud, this is on hold. Please contact "
        "customer service to verify; once it is clear you are not involved, it can go ahead.",
    },
    # -- responsible lending ---------------------------------------------------------------------
    "OVER_INDEBTED": {
        "zh-CN": "您近期的还款压力已经较大；为避免负担继续加重，我们暂不为您办理新的借款或提额。"
        "我们可以为您提供延长期限、降低月供、减免利息罚息等帮扶方案，工作人员会联系您，"
        "您也可以主动联系客服。",
        "en": "Your repayments have been heavy for you lately; to keep your debts from "
        "growing, we are not adding new borrowing or limit for now. We can offer a longer "
        "term, lower instalments, or waived interest and penalties; our staff will contact "
        "you, and you can also contact customer service yourself.",
    },
    "FINANCIAL_DIFFICULTY": {
        "zh-CN": "您的还款记录显示近期可能手头较紧；再借款可能让情况更难，"
        "所以我们暂不为您办理新的借款或提额。您可以先了解我们的困难帮扶方案，联系客服即可办理。",
        "en": "Your repayment record suggests money may be tight; more borrowing could make "
        "things harder, so we are not adding new borrowing or limit for now. You can look at "
        "our hardship options first; customer service can set one up.",
    },
    "MULTI_LENDER": {
        "zh-CN": "您目前同时在多家机构借款；同时借款越多，还款越容易吃力，"
        "所以我们会多留意您的负担。" + _HELP_ZH,
        "en": "You are borrowing from several lenders at once; the more loans at the same "
        "time, the harder repayments can get, so we keep an eye on your load. " + _HELP_EN,
    },
    "LOAN_STACKING": {
        "zh-CN": "您刚还完另一家机构的借款不久又来申请；借新还旧容易让债务越滚越大，"
        "所以我们会多留意。" + _HELP_ZH,
        "en": "You applied soon after repaying another lender; borrowing to repay other loans "
        "can make debts snowball, so we take extra care. " + _HELP_EN,
    },
    "HIGH_UTILISATION": {
        "zh-CN": "您的信用额度几乎已经用满；额度用满时再借款容易加重还款负担，所以我们会多留意。"
        + _HELP_ZH,
        "en": "Your credit lines are nearly used up; borrowing more at that point can make "
        "repayments heavy, so we take extra care. " + _HELP_EN,
    },
    "MANY_INQUIRIES": {
        "zh-CN": "您的信用报告在半年内被查询了很多次；频繁申请借款可能说明资金压力较大，"
        "所以我们会多留意。" + _HELP_ZH,
        "en": "Your credit report was checked many times in the last six months; applying "
        "often can be a sign of money pressure, so we take extra care. " + _HELP_EN,
    },
    "HIGH_DEBT_TO_INCOME": {
        "zh-CN": "您每月的还款占收入的比例较高；再借款可能让您难以维持日常开支，所以我们会多留意。"
        + _HELP_ZH,
        "en": "Your monthly repayments take a large share of your income; more borrowing "
        "could leave too little for everyday costs, so we take extra care. " + _HELP_EN,
    },
    "SUITABILITY_MISMATCH": {
        "zh-CN": "该产品的风险等级高于您的风险评估结果；为避免您承担不适合的风险，暂不为您办理。"
        "您可以选择风险等级更低的产品，或重新完成风险评估。",
        "en": "This product's risk grade is above your risk assessment; to keep you from "
        "taking on risk that does not suit you, we have not gone ahead. You can choose a "
        "lower-risk product or redo your risk assessment.",
    },
    "SUITABILITY_STALE": {
        "zh-CN": "您的风险评估已过期或尚未完成；我们需要了解您当前的情况，才能确认产品适合您。"
        "请先完成风险评估，再继续申请。",
        "en": "Your risk assessment has expired or has not been done; we need to know your "
        "current situation to make sure the product suits you. Please complete the risk "
        "assessment, then continue your application.",
    },
    "AFFORDABILITY_MISSING": {
        "zh-CN": "我们近期没有评估过您的还款能力；提额前先确认您负担得起，可以避免借款超出能力。"
        "请补充收入等信息，评估后即可继续。",
        "en": "We have not checked recently that you can afford more credit; checking first "
        "keeps you from borrowing beyond your means. Please add your income details, and we "
        "can continue once it is assessed.",
    },
    # -- the learned score -----------------------------------------------------------------------
    "MODEL_SCORE_HIGH": {
        "zh-CN": "本次操作与已确认的诈骗交易有很多相似之处；为防止您受骗，我们暂停下来请您确认。"
        "请核实收款方的身份，我们的工作人员也可能联系您。",
        "en": "This action has much in common with confirmed fraud; to protect you from being "
        "scammed, we paused to ask you to confirm. Please check who the payee is; our staff "
        "may also contact you.",
    },
    "MODEL_SCORE_VERY_HIGH": {
        "zh-CN": "本次操作与已确认的诈骗交易几乎一致；为保护您的资金，已暂缓处理。"
        "工作人员会联系您核实，核实后即可继续。",
        "en": "This action matches confirmed fraud almost exactly; to protect your money, it "
        "is on hold. Our staff will contact you to check, and it can go ahead once checked.",
    },
    # -- combined evidence (meta: never listed beside the reasons they summarise) -----------------
    "COMBINED_RISK": {
        "zh-CN": "本次操作同时出现了几项风险迹象；为保护您的资金，我们提醒您再确认一下。"
        "请确认收款方是您认识且信任的人。",
        "en": "This action showed several signs of risk together; to protect your money, we "
        "reminded you to check it. Make sure you know and trust the payee.",
    },
    "HIGH_COMBINED_RISK": {
        "zh-CN": "本次操作同时出现了多项风险迹象；为保护您的资金，我们请您先冷静确认。"
        "请确认收款方是您认识且信任的人，工作人员也可能联系您。",
        "en": "This action showed many signs of risk together; to protect your money, we "
        "asked you to pause and confirm. Make sure you know and trust the payee; our staff "
        "may also contact you.",
    },
    "VERY_HIGH_COMBINED_RISK": {
        "zh-CN": "本次操作同时出现了大量风险迹象；为保护您的资金，已暂缓处理。"
        "工作人员会联系您核实，核实后即可继续。",
        "en": "This action showed a great many signs of risk together; to protect your money, "
        "it is on hold. Our staff will contact you to check, and it can go ahead once checked.",
    },
    # -- added by the engine (lists) -------------------------------------------------------------
    "DENY_LISTED": {
        "zh-CN": "本次操作涉及的账户或设备在我们的风险名单上；为保护您的资金，本次操作已被停止。"
        "请联系官方客服核实，如有误会我们会尽快处理。",
        "en": "An account or device involved in this action is on our risk list; to protect "
        "your money, we stopped the action. Please contact official customer service to "
        "check, and we will put it right quickly if it is a mistake.",
    },
    "ALLOW_LISTED": {
        "zh-CN": "本次操作涉及的账户或设备已被核实为可信，所以我们没有增加额外的检查，"
        "无需您额外处理。",
        "en": "An account or device involved has been verified as trusted, so we added no "
        "extra checks; there is nothing you need to do.",
    },
    # -- a challenge's follow-up (the customer's answers, issue #19) -----------------------------
    "SCAM_TOLD_BY_CUSTOMER": {
        "zh-CN": "您的回答说明有人在指挥您转账或借款，这是诈骗的典型特征，所以这笔操作已被暂停，"
        "我们的工作人员会联系您。",
        "en": "Your answers tell us someone is directing you to move money or borrow, which is how "
        "scams work, so we stopped this and our staff will contact you.",
    },
    "IDENTITY_NOT_VERIFIED": {
        "zh-CN": "人脸核验未能确认是您本人，所以这笔操作暂不能继续。",
        "en": "The face check could not confirm it was you, so this cannot go ahead yet.",
    },
    "COOLING_OFF": {
        "zh-CN": "您刚更换了设备、手机号或密码，为防止账户被他人控制，"
        "这笔转出需等待冷静期结束后才会执行。",
        "en": "Your device, phone number or password changed recently, so this payment waits for a "
        "cooling-off period in case someone else has taken over your account.",
    },
    # -- added by the engine (the customer's own controls, issue #19) ---------------------------
    "MONEY_LOCKED": {
        "zh-CN": "您开启了资金锁，所以在解锁之前，转账、付款、提现和新的借款都会被暂停。"
        "如需解锁，请通过官方渠道申请：我们会在网点或视频中核实是您本人，或在冷静期结束后解锁。",
        "en": "You locked your money, so transfers, payments, withdrawals and new borrowing are "
        "stopped until you unlock it. To unlock, ask us through an official channel: we check "
        "it is really you at a branch or on a video call, or unlock it after a waiting period.",
    },
    "SESSION_SUSPENDED": {
        "zh-CN": "您开启了紧急锁定，所以新设备上的登录和操作都已暂停，以防他人冒用您的账户。"
        "如果是您本人，请使用以前用过的设备，或联系官方客服解锁。",
        "en": "You turned on the emergency lock, so sign-ins and actions on a new device are "
        "suspended in case someone else is using your account. If this is you, use a device "
        "you have used before, or contact official customer service to unlock.",
    },
    "TRUSTED_CONFIRMATION_REQUIRED": {
        "zh-CN": "本次付款超过了您设定的金额，按照您的选择，需要您的可信联系人确认后才会继续。",
        "en": "This payment is above the amount you chose, so as you asked, it goes ahead only "
        "once your trusted contact confirms it.",
    },
}

# Codes that summarise other reasons (the combined-risk ladder of the shipped rule set); a
# custom rule is recognised as one by its condition (see :func:`is_meta_reason`).
META_REASONS = frozenset({"COMBINED_RISK", "HIGH_COMBINED_RISK", "VERY_HIGH_COMBINED_RISK"})

GUARDRAIL_TEXT: dict[str, Text] = {
    "REPAYMENT_NEVER_BLOCKED": {
        "zh-CN": "还款永远不会被拦截。",
        "en": "A repayment is never stopped.",
    },
    "VULNERABLE_HUMAN_CALLBACK": {
        "zh-CN": "我们会安排工作人员给您回电。",
        "en": "A member of staff will call you back.",
    },
}

MEASURE_TEXT: dict[str, Text] = {
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
    "CREDIT_FREEZE": {
        "zh-CN": "暂不办理新的借款或提额",
        "en": "no new borrowing or higher limit for now",
    },
    "HARDSHIP_PLAN_OFFERED": {
        "zh-CN": "为您提供还款帮扶方案",
        "en": "we offer you a plan to make repayments easier",
    },
}

CLOSING_TEXT: Text = {
    "zh-CN": "如您认为判断有误，可联系客服要求人工复核。",
    "en": "If you think this is wrong, you can ask customer service for a human review.",
}

# Before the scoring model's top reasons (their codes and texts: scoring/reason_codes.yaml).
MODEL_INTRO: Text = {
    "zh-CN": "我们的风险模型主要参考了：",
    "en": "What our risk model weighed most: ",
}

_RESPONSIBLE = frozenset({"wellbeing", "compliance"})
_BORROWING_MEASURES = frozenset({"CREDIT_FREEZE", "HARDSHIP_PLAN_OFFERED"})


def _locale(locale: str) -> str:
    return "zh-CN" if locale.lower().startswith("zh") else "en"


def is_meta_reason(reason: Mapping[str, Any], rule: Rule | None = None) -> bool:
    """A reason that only escalates on the combined score: a summary, never listed.

    Known from the rule when its rule set is at hand; otherwise from the stored reason: the
    values it recorded are ``score`` and rule-set parameters, no feature.
    """
    if reason.get("code") in META_REASONS:
        return True
    if rule is not None:
        return rule.escalates_on_score_only
    names = set((reason.get("values") or {}).keys())
    return SCORE_NAME in names and not (names & FEATURE_NAMES)


def reason_sentence(code: str, locale: str, rule: Rule | None = None) -> str | None:
    """The customer sentence for a code: the rule's own, else the catalogue's; None if neither."""
    loc = _locale(locale)
    if rule is not None and rule.explanation.get(loc):
        return rule.explanation[loc]
    return REASON_TEXT.get(code, {}).get(loc)


def _model_reasons(decision: Mapping[str, Any], loc: str) -> list[tuple[str, Text, str]]:
    """``(code, text per locale, phrase in loc)`` of each of the scoring model's top reasons
    stored on the decision; a reason stored before the codes gets them here."""
    out: list[tuple[str, Text, str]] = []
    catalogue = load_catalogue()
    for entry in decision.get("model_reasons") or []:
        if not isinstance(entry, Mapping):
            continue
        reason = current(entry)
        value = reason.get("value")
        number = float(value) if isinstance(value, int | float) else None
        phrase = catalogue.for_feature(str(reason["feature"])).phrase(number, loc)
        out.append((str(reason["code"]), dict(reason["texts"]), phrase))
    return out


def _headline(decision: Mapping[str, Any], listed: list[Mapping[str, Any]], loc: str) -> str:
    """The first sentence: about borrowing when a responsible-lending reason set the action."""
    action = str(decision["action"])
    if action == "allow" or not listed:
        return ACTION_TEXT.get(action, ACTION_TEXT["allow"])[loc]
    primary = next((r for r in listed if r.get("action") == action), listed[0])
    measures = set(decision.get("measures") or ())
    if primary.get("category") == "compliance":
        return BORROWING_HEADLINE["check"][loc]
    if primary.get("category") in _RESPONSIBLE or (
        measures & _BORROWING_MEASURES and primary.get("category") != "fraud"
    ):
        if action == "remind":
            return BORROWING_HEADLINE["remind"][loc]
        key = "help" if "HARDSHIP_PLAN_OFFERED" in measures else "pause"
        return BORROWING_HEADLINE[key][loc]
    return ACTION_TEXT.get(action, ACTION_TEXT["allow"])[loc]


def explain(
    decision: dict[str, Any], locale: str, ruleset: RuleSet | None = None
) -> dict[str, Any]:
    """Build the customer-readable explanation of one stored decision.

    ``ruleset`` is the compiled version that made the decision, when the caller has it: its
    rules' own sentences then take precedence over the catalogue.
    """
    loc = _locale(locale)
    rules: dict[str, Rule] = {r.id: r for r in ruleset.rules} if ruleset is not None else {}
    listed: list[Mapping[str, Any]] = []
    reasons: list[dict[str, str]] = []
    for reason in decision.get("reasons") or []:
        rule = rules.get(str(reason.get("rule_id"))) if reason.get("rule_id") else None
        if is_meta_reason(reason, rule):
            continue
        text = reason_sentence(str(reason["code"]), loc, rule)
        if text is None:
            generic = GENERIC_REASON_TEXT.get(
                str(reason.get("action")), GENERIC_REASON_TEXT["allow"]
            )
            text = generic[loc]
        listed.append(reason)
        reasons.append({"code": str(reason["code"]), "text": text})
    action = str(decision["action"])
    sentences = [_headline(decision, listed, loc)]
    texts = _said_once([r["text"] for r in reasons], loc)  # each sentence once
    if not texts and action != "allow":
        # Only summaries fired (a combined score alone): still say why, in plain words.
        texts = [GENERIC_REASON_TEXT.get(action, GENERIC_REASON_TEXT["allow"])[loc]]
    if texts:
        sentences.append(("原因：" if loc == "zh-CN" else "Why: ") + _join(texts, loc))
    # The scoring model's top reasons, by what it saw (listed after the rules' reasons).
    model_reasons = _model_reasons(decision, loc)
    if model_reasons:
        phrases = [phrase for _, _, phrase in model_reasons]
        sentences.append(
            MODEL_INTRO[loc]
            + ("；".join(phrases) + "。" if loc == "zh-CN" else "; ".join(phrases) + ".")
        )
        reasons.extend({"code": code, "text": text[loc]} for code, text, _ in model_reasons)
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
    sentences.append(CLOSING_TEXT[loc])
    return {
        "decision_id": decision["decision_id"],
        "locale": loc,
        "action": decision["action"],
        "reasons": reasons,
        "text": _join(sentences, loc),
        "ruleset_version": decision["ruleset_version"],
        "model_version": decision.get("model_version"),
    }


_SENTENCE_END = {"zh-CN": re.compile(r"(?<=[。！？])"), "en": re.compile(r"(?<=[.!?])\s+")}


def _said_once(texts: list[str], loc: str) -> list[str]:
    """The reasons' sentences with any sentence already said dropped: several reasons end in
    the same next step ("if you know and trust the payee, confirm when asked"), and a borrower
    should read it once, not three times."""
    seen: set[str] = set()
    out: list[str] = []
    for text in texts:
        kept = []
        for sentence in _SENTENCE_END[loc].split(text):
            sentence = sentence.strip()
            if sentence and sentence not in seen:
                seen.add(sentence)
                kept.append(sentence)
        if kept:
            out.append(("" if loc == "zh-CN" else " ").join(kept))
    return out


def _join(sentences: list[str], loc: str) -> str:
    """Whole sentences one after another: zh-CN ones already end in 。 (never 。；), en ones
    with a space between."""
    if loc == "en":
        return " ".join(s if s.endswith((".", "!", "?")) else s + "." for s in sentences)
    return "".join(s if s.endswith(("。", "！", "？")) else s + "。" for s in sentences)
