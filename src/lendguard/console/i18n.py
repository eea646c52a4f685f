"""Console strings in zh-CN and en. Keys are English phrases; a missing zh-CN entry shows
the key."""

from __future__ import annotations

from collections.abc import Callable

LOCALES = ("zh-CN", "en")

ZH: dict[str, str] = {
    "LendGuard console": "LendGuard 控制台",
    "Sign in": "登录",
    "Sign out": "退出",
    "Username": "用户名",
    "Password": "密码",
    "Wrong username or password, or the account is locked.": "用户名或密码错误，或账户已被锁定。",
    "Too many sign-in attempts. Try again in a moment.": "登录尝试过于频繁，请稍后再试。",
    "Dashboard": "总览",
    "Live decisions": "实时决策",
    "Case queue": "案件队列",
    "Rules": "规则",
    "Lists": "名单",
    "Customer": "客户",
    "Decisions per day": "每日决策",
    "Interventions (30 days)": "干预次数（30 天）",
    "Held money cancelled": "已取消的拦截资金",
    "Cases resolved as legitimate": "核实为正常交易的案件",
    "last 30 days": "近 30 天",
    "Education to send the customer": "可发送给客户的防骗教育内容",
    "article": "文章",
    "video": "视频",
    "The protection report: every figure with its definition": (
        "消费者权益保护报告：每项数字及其定义"
    ),
    "Top reasons": "主要原因",
    "Open cases": "未结案件",
    "Overdue": "已超时",
    "Next case": "领取下一个案件",
    "Risk": "风险",
    "State": "状态",
    "Type": "类型",
    "Scam type": "诈骗类型",
    "Waiting": "等待",
    "minutes": "分钟",
    "SLA due": "时限",
    "Assignee": "处理人",
    "Held amount": "暂缓金额",
    "Opened": "创建时间",
    "Case": "案件",
    "Decisions": "决策",
    "Reasons": "原因",
    "Values": "特征值",
    "Action": "动作",
    "Amount": "金额",
    "Payee": "收款方",
    "Hold": "暂缓状态",
    "Timeline": "时间线",
    "Outreach": "外呼",
    "Call script": "话术",
    "Record outcome": "记录结果",
    "confirmed_scam": "客户确认被骗",
    "insisted": "客户坚持转账",
    "unreachable": "无法联系",
    "Notes": "备注",
    "Add note": "添加备注",
    "Move to": "转为",
    "Webhook deliveries": "回调通知",
    "Customer events": "客户事件",
    "new": "新建",
    "triage": "研判中",
    "contacting_customer": "联系客户中",
    "resolved_fraud": "已结案：欺诈",
    "resolved_legit": "已结案：正常",
    "resolved_scam_victim": "已结案：诈骗受害人",
    "escalated_police": "已移交公安",
    "resolved_supported": "已结案：已提供援助",
    "allow": "放行",
    "remind": "提醒",
    "dissuade": "劝阻",
    "intercept": "拦截",
    "block": "阻断",
    "dissuasion_callback": "劝阻回访",
    "trusted_contact_call": "联系紧急联系人",
    "Versions": "版本",
    "Privacy requests": "个人信息权利请求",
    "Complaints": "投诉",
    "overdue": "件已超时",
    "Received": "收到时间",
    "Models": "模型",
    "Version": "版本",
    "Active": "生效中",
    "Uploaded by": "上传人",
    "Approve and activate": "审批并生效",
    "Diff against the active version": "与生效版本的差异",
    "Backtest on recent history": "近期历史回测",
    "Events replayed": "回放事件数",
    "Changed decisions": "结果变化的决策",
    "The uploader cannot approve their own version.": "上传人不能审批自己的版本。",
    "Allow and deny lists": "白名单与黑名单",
    "Rule snoozes": "规则豁免",
    "Add": "添加",
    "Remove": "删除",
    "Reason": "原因",
    "Expires": "到期",
    "Field": "字段",
    "Value": "值",
    "List": "名单",
    "Rule": "规则",
    "Until": "直到",
    "Cases": "案件",
    "none": "无",
    "Page": "页",
    "of": "共",
    "prevented": "已阻止",
    "released": "已放行",
    "held": "暂缓中",
    "cancelled": "已取消",
    "delivered": "已送达",
    "pending": "待发送",
    "failed": "失败",
    "Language": "语言",
    "No case is waiting.": "暂无待领取案件。",
    "Customer page": "客户页面",
    "Score": "评分",
    "Time": "时间",
    "Event": "事件",
    "by": "操作人",
    "Back to queue": "返回队列",
    # service metrics
    "Service metrics": "服务指标",
    "last %d days": "最近 %d 天",
    "%d days": "%d 天",
    "days": "天",
    "Contacts opened since": "统计自以下时间起发起的服务接触：",
    "repeat window": "重复来访判定期",
    "Contacts": "服务接触",
    "open": "处理中",
    "abandoned": "已放弃",
    "First-contact resolution": "首次解决率",
    "in the repeat window": "仍在判定期内",
    "provisional": "暂计",
    "Time to first response": "首次响应时长",
    "median": "中位数",
    "awaiting a reply": "等待回复",
    "Satisfaction (CSAT)": "满意度（CSAT）",
    "satisfied (4–5)": "满意（4–5 分）",
    "responses": "份回复",
    "By channel": "按渠道",
    "Channel": "渠道",
    "Repeat contacts": "重复来访",
    "Median first response": "首次响应中位数",
    "CSAT mean": "平均满意度",
    "Satisfied": "满意占比",
    "Responses": "回复数",
    "Satisfaction scores": "满意度评分分布",
    "Median time to first response (seconds)": "首次响应时长中位数（秒）",
    "phone": "电话",
    "chat": "在线客服",
    "app": "App",
    "email": "邮件",
    "in_person": "网点面谈",
    "social_media": "社交媒体",
    "A contact is resolved on first contact when it was closed as resolved and the customer did "
    "not open another contact on the same topic within the repeat window after its close. Repeat "
    "contacts belong to the earlier issue and abandoned contacts start none: both are left out "
    "of the rate.": (
        "服务接触以“已解决”结束，且客户在结束后的判定期内未就同一主题再次来访，即计为首次解决。"
        "重复来访归入先前的问题，已放弃的接触不构成问题：两者均不计入首次解决率。"
    ),
    # linked accounts (the link graph: rings and mules)
    "Linked accounts": "关联账户",
    "Linked groups": "关联账户组",
    "Group size": "组内账户数",
    "Verdict": "判定",
    "Flagged as a ring": "判定为团伙",
    "Not flagged": "未判定为团伙",
    "Batch ring": "批量识别团伙",
    "New-account share": "新开户占比",
    "Labelled share": "已确认欺诈占比",
    "Shared identifier types": "共用标识类型",
    "Neighbourhood": "关联网络图",
    "Entity values are masked: type and first six characters.": "标识已脱敏：仅显示类型与前六位。",
    "Members": "成员",
    "Account opened": "开户时间",
    "Fraud label": "欺诈标签",
    "Mule score (peak)": "跑分嫌疑评分（峰值）",
    "First seen": "首次出现",
    "Last seen": "最近出现",
    "Shared attributes": "共用属性",
    "Identifier": "标识",
    "Members sharing it": "共用的成员",
    "All customers using it": "使用该标识的客户总数",
    "Open cases of members": "成员的未结案件",
    "Top reason": "主要原因",
    "Ring": "团伙",
    "flagged": "个已判定为团伙",
    "Computed at": "计算时间",
    "customers in the graph": "个客户在关联图中",
    "Suspected mules": "疑似跑分账户",
    "This customer is not linked to anyone through a device, phone, card or address.": (
        "该客户未通过设备、手机号、银行卡或地址与其他客户关联。"
    ),
    "ACCOUNTS_OPENED_TOGETHER_SHARING_IDENTIFIERS": "集中开户且共用多类标识",
    "CONFIRMED_FRAUD_IN_GROUP": "组内已有确认欺诈",
    "device": "设备",
    "card": "银行卡",
    "address": "地址",
    "ip": "IP 地址",
    "payee": "收款方",
    "contact": "通讯录号码",
    "voice": "声音（声纹编号）",
    # payee name check results (evidence beside a reason)
    "match": "户名一致",
    "close_match": "户名相近",
    "no_match": "户名不一致",
    "unavailable": "无法核验",
}


ZH.update(
    {
        # time zones, risk, people
        "Time zone": "时区",
        "Set": "设定",
        "Default": "默认",
        "Risk band": "风险等级",
        "low": "低",
        "medium": "中",
        "high": "高",
        "critical": "极高",
        "Elderly customer": "老年客户",
        "LendGuard (automatic)": "LendGuard（系统自动）",
        "API key “%s”": "API 密钥“%s”",
        "No decisions yet.": "暂无决策。",
        "Rule sets": "规则集",
        "Name": "名称",
        "Kind": "类别",
        "rules": "条规则",
        "Back": "返回",
        "Yes": "是",
        "Model": "模型",
        "Not allowed": "无权访问",
        "Your role does not allow this page or action.": "您的角色无权访问此页面或执行此操作。",
        "Decided at": "决策时间",
        "Event time": "事件时间",
        "Labelled fraud": "已标记为欺诈",
        "Suspected mule": "疑似跑分账户",
        "Status": "状态",
        "Feature": "特征",
        # case types and scam types (call scripts)
        "scam": "诈骗",
        "fraud": "欺诈",
        "account_takeover": "账户盗用",
        "mule": "资金过渡账户",
        "model_drift": "模型评分漂移",
        "safe_account": "“安全账户”诈骗",
        "remote_control": "远程控制 / 屏幕共享诈骗",
        "impersonation": "冒充客服 / 公检法诈骗",
        "advance_fee": "贷款前收费诈骗",
        "task_rebate": "刷单返利诈骗",
        "investment": "投资理财诈骗",
        "general": "高风险交易",
        "crisis": "危机干预",
        # event types
        "registration": "注册",
        "login": "登录",
        "device_change": "更换设备",
        "profile_change": "资料变更",
        "application": "贷款申请",
        "limit_change": "额度调整",
        "disbursement": "放款",
        "repayment": "还款",
        "transfer": "转账",
        "withdrawal": "提现",
        "payment": "支付",
        "deposit": "存入",
        "consent_change": "授权变更",
        # timeline entries and webhook instructions
        "opened": "创建案件",
        "joined": "新决策并入",
        "alert": "告警",
        "assigned": "分派",
        "note": "备注",
        "outreach": "外呼结果",
        "transition": "状态变更",
        "release_proposed": "提议放行",
        "release": "放行",
        "cancel": "取消",
        "done": "已完成",
        # list types and fields
        "deny": "黑名单",
        "allow_list": "白名单",
        "customer": "客户",
        # privacy requests
        "access": "查阅复制",
        "correct": "更正补充",
        "delete": "删除",
        "withdraw": "撤回同意",
        "explain": "解释说明",
        "identity_unverified": "待核验身份",
        "refused": "已拒绝",
        "complete": "已完成",
        # complaints
        "received": "已收到",
        "acknowledged": "已确认收到",
        "investigating": "调查中",
        "extended": "已延期",
        "responded": "已答复",
        "escalated_to_regulator": "已转监管",
        "closed": "已结案",
        "web": "网页",
        "branch": "网点",
        "letter": "信函",
        "regulator_referral": "监管转办",
        "cfpb_portal": "CFPB 投诉平台",
        # roles
        "analyst": "分析员",
        "approver": "审批人",
        "officer": "合规专员",
        "admin": "管理员",
        # error pages
        "Validation failed": "提交内容有误",
        "Not found": "未找到",
        "Conflict": "操作冲突",
        "Forbidden": "无权操作",
        "Too many requests": "请求过于频繁",
        "Invalid case transition": "案件状态不能这样变更",
        # labels and model kinds
        "legit": "正常",
        "scam_victim": "诈骗受害人",
        "events": "事件风险模型",
    }
)

# English for the values that come from code (states, actions, types, statuses): the console
# never shows an operator a snake_case name.
EN: dict[str, str] = {
    "new": "New",
    "triage": "Triage",
    "contacting_customer": "Contacting the customer",
    "resolved_fraud": "Resolved: fraud",
    "resolved_legit": "Resolved: legitimate",
    "resolved_scam_victim": "Resolved: scam victim",
    "escalated_police": "Escalated to the police",
    "resolved_supported": "Closed: support given",
    "allow": "Allow",
    "remind": "Remind",
    "dissuade": "Dissuade",
    "intercept": "Intercept",
    "block": "Block",
    "dissuasion_callback": "Dissuasion call-back",
    "trusted_contact_call": "Call to the trusted contact",
    "confirmed_scam": "Customer confirmed the scam",
    "insisted": "Customer insisted on paying",
    "unreachable": "Could not reach the customer",
    "prevented": "prevented",
    "released": "Released",
    "held": "Held",
    "cancelled": "Cancelled",
    "delivered": "Delivered",
    "pending": "Pending",
    "failed": "Failed",
    "done": "Done",
    "open": "open",
    "scam": "Scam",
    "fraud": "Fraud",
    "account_takeover": "Account takeover",
    "mule": "Money mule",
    "model_drift": "Model score drift",
    "safe_account": "'Safe account' scam",
    "remote_control": "Remote-control / screen-sharing scam",
    "impersonation": "Impersonation scam",
    "advance_fee": "Advance-fee loan scam",
    "task_rebate": "Task / rebate scam",
    "investment": "Investment scam",
    "general": "High-risk transaction",
    "crisis": "Crisis support",
    "registration": "Registration",
    "login": "Sign-in",
    "device_change": "Device change",
    "profile_change": "Profile change",
    "application": "Loan application",
    "limit_change": "Limit change",
    "disbursement": "Disbursement",
    "repayment": "Repayment",
    "transfer": "Transfer",
    "withdrawal": "Withdrawal",
    "payment": "Payment",
    "deposit": "Deposit",
    "contact": "Contact",
    "consent_change": "Consent change",
    "opened": "Case opened",
    "joined": "Decision joined the case",
    "alert": "Alert",
    "assigned": "Assigned",
    "note": "Note",
    "outreach": "Call outcome",
    "transition": "State change",
    "release_proposed": "Release proposed",
    "release": "Release",
    "cancel": "Cancel",
    "deny": "Deny list",
    "allow_list": "Allow list",
    "customer": "Customer",
    "device": "Device",
    "card": "Card",
    "address": "Address",
    "ip": "IP address",
    "payee": "Payee",
    "voice": "Voice (voiceprint id)",
    "match": "Name matches",
    "close_match": "Name close to the account holder's",
    "no_match": "Name does not match",
    "unavailable": "Name check unavailable",
    "phone": "Phone",
    "chat": "Chat",
    "app": "App",
    "email": "Email",
    "in_person": "In person",
    "social_media": "Social media",
    "web": "Web",
    "branch": "Branch",
    "letter": "Letter",
    "regulator_referral": "Regulator referral",
    "cfpb_portal": "CFPB portal",
    "access": "Access",
    "correct": "Correction",
    "delete": "Deletion",
    "withdraw": "Consent withdrawal",
    "explain": "Explanation",
    "identity_unverified": "Identity not yet verified",
    "refused": "Refused",
    "complete": "Complete",
    "received": "Received",
    "acknowledged": "Acknowledged",
    "investigating": "Investigating",
    "extended": "Extended",
    "responded": "Responded",
    "escalated_to_regulator": "Escalated to the regulator",
    "closed": "Closed",
    "analyst": "Analyst",
    "approver": "Approver",
    "officer": "Officer",
    "admin": "Administrator",
    "legit": "Legitimate",
    "scam_victim": "Scam victim",
    "events": "Event risk model",
    "low": "Low",
    "medium": "Medium",
    "high": "High",
    "critical": "Critical",
    "ACCOUNTS_OPENED_TOGETHER_SHARING_IDENTIFIERS": (
        "Accounts opened together and sharing several identifiers"
    ),
    "CONFIRMED_FRAUD_IN_GROUP": "Confirmed fraud in the group",
}

# Every value the console shows that comes from code, by what it is: the i18n test checks each
# has a zh-CN and an English entry (tests/console/test_i18n.py).
ENUMS: dict[str, tuple[str, ...]] = {
    "case states": (
        "new",
        "triage",
        "contacting_customer",
        "resolved_fraud",
        "resolved_legit",
        "resolved_scam_victim",
        "escalated_police",
        "resolved_supported",
    ),
    "actions": ("allow", "remind", "dissuade", "intercept", "block"),
    "case types": ("scam", "fraud", "account_takeover", "mule", "model_drift", "crisis"),
    "scam types": (
        "safe_account",
        "remote_control",
        "impersonation",
        "advance_fee",
        "task_rebate",
        "investment",
        "account_takeover",
        "mule",
        "crisis",
        "general",
    ),
    "event types": (
        "registration",
        "login",
        "device_change",
        "profile_change",
        "application",
        "limit_change",
        "disbursement",
        "repayment",
        "transfer",
        "withdrawal",
        "payment",
        "deposit",
        "contact",
        "consent_change",
    ),
    "hold statuses": ("held", "released", "cancelled"),
    "outreach": ("dissuasion_callback", "trusted_contact_call", "pending", "done"),
    "outreach outcomes": ("confirmed_scam", "insisted", "unreachable"),
    "deliveries": ("pending", "delivered", "failed", "release", "cancel"),
    "timeline": (
        "opened",
        "joined",
        "alert",
        "assigned",
        "note",
        "outreach",
        "transition",
        "release_proposed",
    ),
    "risk bands": ("low", "medium", "high", "critical"),
    "labels": ("legit", "fraud", "scam_victim"),
    "roles": ("analyst", "approver", "officer", "admin"),
    "model kinds": ("events",),
    "link types": ("device", "phone", "card", "address", "voice", "ip", "payee", "contact"),
    "payee name checks": ("match", "close_match", "no_match", "unavailable"),
    "list types": ("deny", "allow_list"),
    "list fields": ("customer", "device", "payee", "ip", "card"),
    "service channels": ("phone", "chat", "app", "email", "in_person", "social_media"),
    "complaint channels": (
        "app",
        "phone",
        "web",
        "branch",
        "email",
        "letter",
        "social_media",
        "regulator_referral",
        "cfpb_portal",
    ),
    "complaint states": (
        "received",
        "acknowledged",
        "investigating",
        "extended",
        "responded",
        "escalated_to_regulator",
        "closed",
    ),
    "privacy request kinds": ("access", "correct", "delete", "withdraw", "explain"),
    "privacy request states": ("identity_unverified", "pending", "refused", "complete"),
    "ring reasons": ("ACCOUNTS_OPENED_TOGETHER_SHARING_IDENTIFIERS", "CONFIRMED_FRAUD_IN_GROUP"),
}

# The alliance page's strings (issue #20): keys the catalogue already has keep their text.
from lendguard.console.alliance_i18n import ALLIANCE_EN, ALLIANCE_ENUMS, ALLIANCE_ZH  # noqa: E402

for _table, _extra in ((ZH, ALLIANCE_ZH), (EN, ALLIANCE_EN)):
    for _key, _text in _extra.items():
        _table.setdefault(_key, _text)
ENUMS.update(ALLIANCE_ENUMS)

# The protection report's page (issue #21), the same way.
from lendguard.console.report_i18n import REPORT_EN, REPORT_ZH  # noqa: E402

for _table, _extra in ((ZH, REPORT_ZH), (EN, REPORT_EN)):
    for _key, _text in _extra.items():
        _table.setdefault(_key, _text)


def translator(locale: str) -> Callable[[str], str]:
    """``t("Case queue")`` in the page's language. English keys are shown as they are, except
    values from code (``contacting_customer``), which have their own English in :data:`EN`."""
    if locale == "en":
        return lambda text: EN.get(text, text)
    return lambda text: ZH.get(text, text)


def reason_text(code: str, locale: str, fallback: str = "") -> str:
    """A reason code as an operator reads it: the sentence of
    :data:`lendguard.decisions.explain.REASON_TEXT` (the one customers are told), else the
    rule's own description, else the ring reasons of this catalogue."""
    from lendguard.decisions.explain import REASON_TEXT

    loc = "zh-CN" if locale == "zh-CN" else "en"
    sentence = REASON_TEXT.get(code, {}).get(loc)
    if sentence:
        return sentence
    if code in EN:
        return translator(locale)(code)
    return fallback or code


def actor_name(actor: str | None, locale: str) -> str:
    """Who did something, by name: ``user:zhang.san`` is the user's name, an API key is
    "API key “bootstrap-admin”" (its id is never shown), ``system`` is LendGuard itself."""
    t = translator(locale)
    if not actor:
        return "—"
    if actor == "system":
        return t("LendGuard (automatic)")
    kind, _, rest = actor.partition(":")
    if kind == "user" and rest:
        return rest
    if kind == "key" and rest:
        name = rest.rsplit(":", 1)[0] if ":" in rest else rest
        return t("API key “%s”") % name
    return actor


# The banner of working-day calendar years not entered yet (lendguard.kit.calendars).
ZH.update(
    {
        "The official holiday calendar has not been entered for:": (
            "以下地区的官方节假日安排尚未录入："
        ),
        "Working-day deadlines there are counted on a stricter basis, so they fall earlier than "
        "the official ones until the year is added.": (
            "在补录该年份之前，这些地区按工作日计算的期限采用更严格的算法，"
            "到期日会早于按官方日历计算的日期。"
        ),
        "Mainland China": "中国内地",
        "England and Wales": "英格兰和威尔士",
        "United States (federal)": "美国（联邦）",
    }
)


# Complaints: the clock's breach codes (the policy files' ``late_code``), the escalation
# model's reasons (lendguard.support.complaints.EscalationModel) and the scam typologies that
# complaint triage names (lendguard.support.cues.SCAM_TYPES), as sentences for the complaint
# handlers; and a crisis case's banner and hotlines (lendguard.support.crisis).
ZH.update(
    {
        "COMPLAINT_OVERDUE": "未在规定期限内作出处理决定并告知投诉人",
        "DISP_8W_BREACH": "未在 8 周内发出最终答复（英国 FCA 投诉处理规则）",
        "CFPB_RESPONSE_LATE": "未在 15 天内答复 CFPB 投诉平台",
        "CFPB_FINAL_LATE": "未在 60 天内作出最终答复（CFPB）",
        "REGULATOR_MENTION": "投诉人提到监管机构、媒体、律师或诉讼",
        "REGULATOR_CHANNEL": "投诉经监管机构转来",
        "REPEAT_COMPLAINT": "该客户近期已有投诉",
        "VULNERABILITY_WORDS": "投诉内容显示客户可能处于弱势（年老、患病、失业等）",
        "CLOCK_ELAPSED": "处理期限已过去大半",
        "OVERDUE": "已超过处理期限仍未答复",
        "EXTENDED": "处理期限已延长",
        "PRODUCT_RISK": "该产品的投诉易升级",
        "ISSUE_RISK": "该类问题的投诉易升级",
        "fake_customer_service": "冒充客服诈骗",
        "advance_fee_loan": "贷款前收费诈骗",
        "credit_repair": "征信修复诈骗",
        "rebate_task": "刷单返利诈骗",
        "elderly_investment": "针对老年人的“保本高收益”投资诈骗",
        "ring": "团伙欺诈",
        "other": "其他诈骗",
        "Escalation reasons": "升级原因",
        "Why it is overdue": "超时原因",
        "hotline": "心理援助热线",
        "emergency": "紧急求助电话",
        "CN": "中国内地",
        "UK": "英国",
        "US": "美国",
        "Crisis: the customer spoke of ending their life": "危机：客户表达了轻生念头",
        "Call the customer now and stay on the line. Follow the script below and give them a "
        "hotline; if they are in immediate danger, call the emergency number.": (
            "请立即致电客户并保持通话。按以下话术沟通，告知客户心理援助热线；"
            "如客户有即时危险，请拨打紧急求助电话。"
        ),
        "Hotlines and emergency numbers": "心理援助热线与紧急求助电话",
        "Number": "号码",
        "Hours": "服务时间",
        "Where": "地区",
        "Close: support given": "结案：已提供援助",
        "What support was given or which referral was made (required)": (
            "已提供的援助或转介情况（必填）"
        ),
        "password": "密码",
        "unknown": "未知",
        "No": "否",
    }
)
EN.update(
    {
        "COMPLAINT_OVERDUE": "No decision sent to the complainant within the time allowed",
        "DISP_8W_BREACH": "No final response within eight weeks (FCA complaint rules)",
        "CFPB_RESPONSE_LATE": "No response on the CFPB portal within 15 days",
        "CFPB_FINAL_LATE": "No final response within 60 days (CFPB)",
        "REGULATOR_MENTION": "Mentions a regulator, the media, a lawyer or a lawsuit",
        "REGULATOR_CHANNEL": "Came through a regulator",
        "REPEAT_COMPLAINT": "The customer complained recently",
        "VULNERABILITY_WORDS": "Suggests a vulnerable customer (age, illness, job loss, ...)",
        "CLOCK_ELAPSED": "Much of the time to answer is used",
        "OVERDUE": "Past its deadline without an answer",
        "EXTENDED": "The deadline was extended",
        "PRODUCT_RISK": "Complaints about this product often escalate",
        "ISSUE_RISK": "Complaints about this issue often escalate",
        "fake_customer_service": "Fake customer-service scam",
        "advance_fee_loan": "Advance-fee loan scam",
        "credit_repair": "Credit-repair scam",
        "rebate_task": "Task / rebate scam",
        "elderly_investment": "'Guaranteed return' investment sold to an older person",
        "ring": "Organised fraud ring",
        "other": "Other scam",
        "hotline": "Crisis hotline",
        "emergency": "Emergency number",
        "CN": "Mainland China",
        "UK": "United Kingdom",
        "US": "United States",
        "password": "Password",
        "unknown": "Unknown",
    }
)
ENUMS.update(
    {
        "complaint clock codes": (
            "COMPLAINT_OVERDUE",
            "DISP_8W_BREACH",
            "CFPB_RESPONSE_LATE",
            "CFPB_FINAL_LATE",
        ),
        "complaint escalation reasons": (
            "REGULATOR_MENTION",
            "REGULATOR_CHANNEL",
            "REPEAT_COMPLAINT",
            "VULNERABILITY_WORDS",
            "CLOCK_ELAPSED",
            "OVERDUE",
            "EXTENDED",
            "PRODUCT_RISK",
            "ISSUE_RISK",
        ),
        "complaint scam types": (
            "fake_customer_service",
            "advance_fee_loan",
            "credit_repair",
            "account_takeover",
            "rebate_task",
            "elderly_investment",
            "mule",
            "ring",
            "other",
        ),
        "hotline kinds": ("hotline", "emergency"),
        "jurisdictions": ("CN", "UK", "US"),
    }
)


# The customer page's interventions panel (issue #19): questions read out on a call, held
# payments with their deadlines, the money lock and kill switch; the values those carry from
# code (lock states and steps, unlock methods, how a hold ended, the follow-up's reasons).
ZH.update(
    {
        "Interventions": "干预措施",
        "Not done": "未完成",
        "Questions for the customer": "需客户回答的问题",
        "Answered": "已回答",
        "Follow-up decision": "后续决策",
        "Goes ahead by itself at": "届时自动放行",
        "What the customer is told": "告知客户的内容",
        "The face check happens in the customer's app.": "人脸核验只能在客户的 App 中完成。",
        "These questions include a face check, which only the customer's app can do: they "
        "cannot be answered here.": (
            "这些问题包含人脸核验，只能由客户在 App 中完成，无法在此代为回答。"
        ),
        "Read each question to the customer on the call and record their answer.": (
            "请在通话中逐一向客户读出问题，并记录客户的回答。"
        ),
        "Record the answers": "记录回答",
        "After the customer's answers": "客户回答问题后",
        "Waiting for the customer's answers.": "等待客户回答。",
        "Held payments": "暂缓的交易",
        "Decided": "决策时间",
        "Deadline": "最晚保留至",
        "Release instructions for the customer": "告知客户的放行方式",
        "Why the payment may go ahead (required)": "放行理由（必填）",
        "Why the payment must not go (required)": "取消理由（必填）",
        "Release": "放行",
        "Cancel the payment": "取消这笔交易",
        "Money lock": "资金锁",
        "Kill switch": "紧急锁定",
        "On: new devices are suspended": "已开启：新设备上的登录和操作已暂停",
        "Off": "未开启",
        "Locked at": "上锁时间",
        "Unlock takes effect": "解锁生效时间",
        "Reference": "凭证编号",
        "Verified by": "核验人",
        "The customer has never locked their money.": "该客户从未开启资金锁。",
        "Kill switch: also suspend sign-ins and actions on new devices": (
            "紧急锁定：同时暂停新设备上的登录和操作"
        ),
        "Note (optional)": "备注（可选）",
        "Lock the money": "锁定资金",
        "Turn on the kill switch": "开启紧急锁定",
        "Verification": "核验方式",
        "hours": "小时",
        "Reference (branch visit or video call)": "凭证编号（网点面谈或视频通话）",
        "Unlock": "解锁",
        "In person and by video unlock at once and need the visit or call reference and who "
        "verified the customer; a cooling-off unlocks later, and the lock holds until then.": (
            "网点面谈或视频核验后立即解锁，需填写面谈或通话的凭证编号及核验人；"
            "选择冷静期则稍后解锁，在此之前资金锁继续有效。"
        ),
        "The customer's answers describe a scam: the payment is stopped, the money held and a "
        "case opened.": "客户的回答表明这是诈骗：交易已拦截，资金已暂缓，并已创建案件。",
        "The answers cleared the doubts: the payment may go ahead with a lighter check.": (
            "回答消除了疑点：交易可以在较轻的提醒下继续。"
        ),
        "The answers changed nothing: the first decision stands.": "回答未改变判断：维持原决策。",
        "The face check did not confirm the customer: the first decision stands.": (
            "人脸核验未能确认是客户本人：维持原决策。"
        ),
        "The answers were recorded.": "已记录客户的回答。",
        "The payment was released.": "交易已放行。",
        "Release proposed: above the release limit a second person must approve it by "
        "releasing it too.": "已提出放行：金额超过放行限额，须由另一位同事再次放行才会生效。",
        "The payment was cancelled.": "交易已取消。",
        "The customer's money is locked.": "客户的资金已锁定。",
        "The customer's money is unlocked.": "客户的资金已解锁。",
        "The unlock waits out the cooling-off; the lock holds until then.": (
            "解锁将在冷静期结束后生效，在此之前资金锁继续有效。"
        ),
        "Lock revision": "资金锁版本",
        "Face check": "人脸核验",
        "Answers": "回答",
        "Face check (in the customer's app)": "人脸核验（在客户的 App 中完成）",
        "The lock changed since this page was loaded. It is shown below as it is now: check it "
        "and send the form again.": (
            "页面打开后资金锁已被他人更改。下方显示的是最新状态，请核对后重新提交。"
        ),
        "The customer's money is not locked: there is nothing to unlock.": (
            "客户的资金未锁定，无需解锁。"
        ),
        "A cooling-off unlock is already running.": "冷静期解锁已在进行中。",
        "This payment is no longer held: someone, the case or its deadline already ended the "
        "hold.": "这笔交易已不在暂缓中：已被他人、案件处理或到期自动结束。",
        "Other answers were already recorded for these questions.": "这些问题已记录了不同的回答。",
        "This cannot be done in the state it is in now.": "当前状态下无法执行此操作。",
        "You proposed this release yourself: a different person must approve it.": (
            "这笔放行是您本人提出的，须由另一位同事批准。"
        ),
        "Not found: it may belong to another customer or no longer exist.": (
            "未找到：它可能属于其他客户，或已不存在。"
        ),
        "Please check: %s": "请检查：%s",
        "Form": "表单",
        "The request could not be completed.": "请求未能完成。",
        # values from code
        "locked": "已锁定",
        "unlock_pending": "冷静期中（仍锁定）",
        "unlocked": "已解锁",
        "kill_switch_on": "开启紧急锁定",
        "relocked": "重新锁定（取消冷静期解锁）",
        "unlock_requested": "申请冷静期解锁",
        "video": "视频核验",
        "cooling_off": "冷静期后解锁",
        "agent": "客服代客户操作",
        "case_resolved": "随案件结案",
        "released_by_agent": "工作人员放行",
        "cancelled_by_agent": "工作人员取消",
        "deadline": "到期自动放行",
        "hold_released": "暂缓交易已放行",
        "hold_cancelled": "暂缓交易已取消",
        "hold_release_proposed": "提出放行（待他人批准）",
        "SCAM_TOLD_BY_CUSTOMER": "客户在回答问题时描述了诈骗情形",
        "COOLING_OFF": "人脸核验已通过，但因近期更换了设备、手机号或密码，交易需等待冷静期",
        "IDENTITY_NOT_VERIFIED": "人脸核验未能确认是客户本人",
    }
)
EN.update(
    {
        "locked": "Locked",
        "unlock_pending": "Cooling-off (still locked)",
        "unlocked": "Unlocked",
        "kill_switch_on": "Kill switch turned on",
        "relocked": "Locked again (cooling-off unlock cancelled)",
        "unlock_requested": "Cooling-off unlock requested",
        "video": "Video call",
        "cooling_off": "After a cooling-off",
        "agent": "Agent on the customer's behalf",
        "case_resolved": "With the case's resolution",
        "released_by_agent": "Released by staff",
        "cancelled_by_agent": "Cancelled by staff",
        "deadline": "Released at the deadline",
        "hold_released": "Held payment released",
        "hold_cancelled": "Held payment cancelled",
        "hold_release_proposed": "Release proposed (waiting for a second person)",
        "SCAM_TOLD_BY_CUSTOMER": "The customer's answers describe a scam",
        "COOLING_OFF": "Face check passed after a recent change of device, phone number or "
        "password: the payment waits out the cooling-off",
        "IDENTITY_NOT_VERIFIED": "The face check did not confirm the customer",
    }
)
ENUMS.update(
    {
        "lock states": ("locked", "unlock_pending", "unlocked"),
        "lock steps": ("locked", "kill_switch_on", "relocked", "unlock_requested", "unlocked"),
        "unlock methods": ("in_person", "video", "cooling_off"),
        "lock channels": ("app", "agent"),
        "hold end reasons": (
            "case_resolved",
            "released_by_agent",
            "cancelled_by_agent",
            "deadline",
        ),
        "hold timeline": ("hold_released", "hold_cancelled", "hold_release_proposed"),
        "follow-up reasons": ("SCAM_TOLD_BY_CUSTOMER", "COOLING_OFF", "IDENTITY_NOT_VERIFIED"),
    }
)


# Interventions' effectiveness (issue #19, item 7): the page's figures, their definitions (as
# lendguard.interventions.effectiveness counts them) and the period's refusals.
ZH.update(
    {
        "Interventions' effectiveness": "干预效果",
        "From": "起始日期",
        "To": "截止日期",
        "Show": "查看",
        "This period cannot be shown.": "无法显示这个时段。",
        "Interventions decided from %s to %s (both days included, in the time zone %s).": (
            "统计 %s 至 %s 作出的干预（含首尾两天，按 %s 时区）。"
        ),
        "Enter a date as year-month-day, e.g. 2025-03-01.": (
            "请按“年-月-日”填写日期，例如 2025-03-01。"
        ),
        "The first day must not be after the last day.": "起始日期不能晚于截止日期。",
        "The period can be at most 366 days.": "时段最长为 366 天。",
        "Shown": "已展示",
        "Abandoned": "交易未继续",
        "of those shown": "占已展示",
        "Confirmed scam later": "事后确认为诈骗",
        "Honest customers delayed": "被延误的正常客户",
        "median delay": "延误时长中位数",
        "Median delay": "延误时长中位数",
        "By intervention": "按干预方式",
        "By intervention and scam typology": "按干预方式和诈骗类型",
        "Intervention": "干预方式",
        "Scam typology": "诈骗类型",
        "Rate": "比例",
        "with questions": "客户已答问题",
        "without questions": "未经问答",
        "With questions": "客户已答问题",
        "No interventions in this period.": "该时段内没有干预。",
        "What the figures mean": "指标说明",
        "No reason recorded": "未记录原因",
        "Another reason": "其他原因",
        "under a minute": "不到 1 分钟",
        "%s min": "%s 分钟",
        "%s h": "%s 小时",
        "%s days": "%s 天",
        "Decisions that reminded, dissuaded, intercepted or blocked. The decision that follows "
        "a customer's answers is the outcome of the first, not counted again.": (
            "作出提醒、劝阻、拦截或阻断的决策。客户回答问题后作出的后续决策属于原干预的结果，"
            "不重复计算。"
        ),
        "The payment did not go ahead: the held payment was cancelled, or the customer's answers "
        "stopped it and it was not released afterwards.": (
            "交易没有继续：被暂缓的交易已取消，或客户的回答使交易被拦截且之后未被放行。"
        ),
        "The case was closed as fraud or as a scam victim, or the lender later reported the "
        "event as fraud.": "案件以欺诈或诈骗受害人结案，或贷款机构事后将该事件报告为欺诈。",
        "The held payment was released or the case closed as legitimate, and no later report "
        "says it was fraud. The delay runs from the decision to the end of the hold.": (
            "被暂缓的交易已放行或案件以正常结案，且事后没有欺诈报告。"
            "延误时长从作出决策起算，到暂缓结束为止。"
        ),
        "The customer answered the questions that came with the intervention (in the app or "
        "read out by an agent).": (
            "客户回答了干预时提出的问题（在 App 中作答，或由客服电话读出后记录）。"
        ),
        "The scam type of the case the intervention was filed under; without a case, the "
        "strongest reason for the intervention.": (
            "干预所属案件的诈骗类型；没有案件时，为触发该干预的最主要原因。"
        ),
        "A share of the interventions shown in the same row.": "占同一行已展示干预的比例。",
    }
)
