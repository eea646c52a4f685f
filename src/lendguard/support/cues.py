"""Early-warning cues in what a customer tells an agent: scam victim, vulnerability, complaint.

Two layers, combined in :class:`ScamDetector`:

- a lexicon (this module, always on, shipped): regular expressions in zh-CN and en for each cue
  the issue names — a "customer service" or "police" caller, a "safe account", cancelling a
  campus-loan account, credit repair, fees before disbursement, screen sharing or a meeting app,
  borrowing to "clear a limit" — plus a few supporting ones (being told to move money, keep it
  secret, read out a code). Each cue has a weight; the rule score is a noisy-OR of the cues
  found, so one weak cue ("customer service said my repayment date is the 15th") never flags on
  its own, while two together ("customer service" + "safe account") do;
- an optional character n-gram model (:class:`ScamTextModel`) trained by
  ``lendguard assistant train --scam-texts DIR`` on labelled Chinese texts; its probability is
  combined with the rule score (the larger wins). It is never shipped: the only labelled corpus
  at hand is research-only.

A scam cue never declines anything by itself: it feeds the decision engine, which slows the
next payment to a new payee down and routes it to a human (rule ``scam-cue-new-payee``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# The simulator's scam typologies (lendguard.simulate.generator.TYPOLOGIES) plus "other".
SCAM_TYPES = (
    "fake_customer_service",
    "advance_fee_loan",
    "credit_repair",
    "account_takeover",
    "rebate_task",
    "elderly_investment",
    "mule",
    "ring",
    "other",
)
SCAM_THRESHOLD = 0.5


@dataclass(frozen=True)
class Cue:
    name: str
    kind: str  # scam_victim | vulnerability | complaint
    weight: float  # scam cues: contribution to the noisy-OR score; others: 1.0
    typology: str | None
    reason_zh: str
    reason_en: str
    patterns: tuple[re.Pattern[str], ...] = field(default_factory=tuple)

    def reason(self, locale: str) -> str:
        return self.reason_zh if locale == "zh-CN" else self.reason_en


def _cue(
    name: str,
    kind: str,
    weight: float,
    typology: str | None,
    reasons: tuple[str, str],
    *patterns: str,
) -> Cue:
    compiled = tuple(re.compile(p, re.IGNORECASE) for p in patterns)
    return Cue(name, kind, weight, typology, reasons[0], reasons[1], compiled)


# Someone other than the customer: the caller, "they", a "staff member".
_THEY_ZH = r"(?:客服|他们?|她们?|对方|工作人员|专员|经理|那个人|来电的人|打电话的人|警察|警官|民警)"
_TOLD_ZH = r"(?:说|让|叫|要求|要我|告诉|通知|提醒|指导|教)"
_MOVE_ZH = (
    r"(?:转账|转钱|转款|转到|转入|转给|转过去|转出去|转出|转走|打钱|打款|打到|汇款|汇到|存到|存入"
    r"|充值到|充到"
    r"|(?:转|打|汇)(?:了)?(?:[0-9]+|[一二两三四五六七八九十百千万]+(?:元|块|万|千)))"
)
_TOLD_EN = (
    r"(?:told|asked|instructed|wanted|wants|made|got|advised"
    r"|said (?:i|we) (?:should|must|had to|need(?:ed)? to))"
)

SCAM_CUES: tuple[Cue, ...] = (
    _cue(
        "customer_service_caller",
        "scam_victim",
        0.35,
        "fake_customer_service",
        (
            "自称客服的人联系客户并提出要求",
            "someone calling as 'customer service' contacted the customer",
        ),
        r"(?:自称|冒充|假装|说是|说他是|说她是).{0,12}客服",
        r"客服.{0,6}(?:打电话|来电|打来|联系|加我|加了我|让我|要我|叫我|要求|说我|告诉我|通知我|指导我)",
        r"(?:京东|支付宝|淘宝|微信|抖音|快手|拼多多|美团|银行|平台|金条|白条|借呗|花呗|网贷).{0,4}(?:的)?客服.{0,12}(?:说|让|要|叫|告诉)",
        r"(?:someone|somebody|a (?:man|woman|guy|lady|person)|caller|they|he|she)\s+"
        r"(?:\w+\s+){0,4}(?:from|claiming to be (?:from )?|pretending to be (?:from )?|"
        r"saying (?:they|he|she) (?:was|were) (?:from )?)"
        r"(?:\w+\s+){0,3}(?:customer service|customer support|support team|your (?:bank|company|"
        r"app)|the bank|the platform)",
        r"(?:customer service|customer support|the support team|"
        r"a support agent)\s+(?:\w+\s+){0,2}(?:called|rang|phoned|messaged|texted|told|asked|said|"
        r"contacted|wanted|instructed)",
    ),
    _cue(
        "police_caller",
        "scam_victim",
        0.55,
        "other",
        (
            "自称公检法的人联系客户（公检法不会电话办案或要求转账）",
            "a caller claiming to be police",
        ),
        r"(?:自称|冒充|假装|说是).{0,8}(?:公安|警察|警官|民警|检察|法院|公检法|刑警|网警|银保监|金融监管|证监会|央行|人民银行|反诈中心)",
        r"(?:公安|警察|警官|民警|检察院|检察官|法院|公检法|刑警|派出所|网警|银保监会?|金融监管局?|证监会|反诈中心).{0,12}(?:打电话|来电|打来|联系|说|"
        r"让|要求|叫|通知|告诉|的人|的)",
        r"涉嫌.{0,6}(?:洗钱|诈骗|犯罪|违法|案件)|通缉令|逮捕令|拘捕令|资金(?:清查|核查|审查)|配合.{0,6}(?:调查|办案)",
        r"(?:police|policeman|officer|detective|prosecutor|court|investigator|interpol|fbi|"
        r"regulator|central bank|tax office|customs)\s+"
        r"(?:\w+\s+){0,4}(?:called|rang|phoned|told|asked|said|contacted|instructed|wanted)",
        r"(?:claiming|pretending|said (?:he|she|they) (?:was|"
        r"were)) (?:to be )?(?:from )?(?:the )?(?:police|a police officer|a police detective|"
        r"a detective|an officer|the court|the regulator|the central bank|the tax office)",
        r"(?:bank'?s?|the) (?:fraud|security) (?:team|department)\s+(?:\w+\s+){0,6}(?:move|"
        r"transfer|send)",
        r"money laundering|arrest warrant|under investigation|involved in (?:a )?(?:crime|"
        r"fraud case)",
    ),
    _cue(
        "safe_account",
        "scam_victim",
        0.9,
        None,
        (
            "有人要求把钱转到“安全账户”（正规机构没有安全账户）",
            "asked to move money to a 'safe account'",
        ),
        r"安全(?:账|帐)户|(?:监管|清查|核查|保护|备用|验资)(?:账|帐)户|资金.{0,4}(?:转移|转出).{0,4}(?:保护|安全)",
        r"(?:safe|safety|secure|protected|holding|verification)\s+account",
        r"(?:move|transfer|send) (?:\w+\s+){0,3}money (?:\w+\s+){0,3}(?:to keep it safe|"
        r"for (?:safe ?keeping|protection))",
    ),
    _cue(
        "campus_loan_cancellation",
        "scam_victim",
        0.8,
        "fake_customer_service",
        (
            "“注销校园贷账户”或“不注销影响征信”的说法（典型冒充客服诈骗）",
            "told to cancel a campus/student-loan account",
        ),
        r"校园贷|学生贷|大学生贷款",
        rf"{_THEY_ZH}.{{0,12}}{_TOLD_ZH}.{{0,15}}(?:注销|关闭|清除|取消).{{0,8}}(?:账户|帐户|账号|贷款|额度|会员|服务)",
        r"(?:不|没有?)(?:注销|关闭|取消).{0,10}(?:影响|上|进|黑).{0,3}征信",
        r"(?:campus|student|college|university)[- ]loan (?:account|record)",
        rf"{_TOLD_EN} (?:me|us) to (?:cancel|close|delete|deactivate)",
        r"(?:cancel|close|delete|deactivate) (?:\w+\s+){0,4}(?:or|"
        r"otherwise) (?:\w+\s+){0,4}credit (?:score|record|report|rating)",
    ),
    _cue(
        "credit_repair",
        "scam_victim",
        0.7,
        "credit_repair",
        (
            "有人提出付费“修复/洗白征信”（征信不能花钱修改）",
            "an offer to 'repair' a credit record for money",
        ),
        r"(?:修复|消除|洗白|删除|修改|清除|美化|铲除|抹掉|处理)(?:个人)?(?:不良)?(?:征信|信用记录|逾期记录)",
        r"征信.{0,6}(?:修复|洗白|消除|铲单|删除|美化|能改|可以改|包过)",
        r"(?:征信|逾期|不良)(?:上的|里的)?(?:逾期)?(?:记录)?.{0,4}(?:消掉|删掉|去掉|抹掉|洗掉|改掉|消除|清除|洗白)",
        rf"{_THEY_ZH}.{{0,10}}(?:说|否则|不然).{{0,10}}(?:影响|上|进).{{0,3}}征信",
        r"(?:fix|repair|clean(?: up)?|remove|erase|wipe|delete|"
        r"improve)\s+(?:\w+\s+){0,3}credit (?:record|report|score|history|file|rating)",
        r"credit repair|clean up (?:\w+\s+){0,2}credit",
    ),
    _cue(
        "fee_before_disbursement",
        "scam_victim",
        0.8,
        "advance_fee_loan",
        (
            "放款前要求先交费（保证金、解冻费、验资费等都是诈骗）",
            "asked to pay a fee before a loan is paid out",
        ),
        r"(?:放款|到账|下款|贷款|解冻|提现|审批|出款)(?:之)?前.{0,10}(?:交|付|缴|转|充)",
        r"(?:保证金|解冻费|验资费|工本费|刷流水|会员费|激活费|押金|包装费|公证费|认证费|服务费|手续费|保险费|利息).{0,16}(?:才能|才可以|才会|然后|再|"
        r"就能|就可以).{0,8}(?:放款|到账|下款|解冻|提现|出款|贷款)",
        r"(?:办|申请|下|借|放).{0,4}(?:贷款|款|借款).{0,20}(?:先交|先付|先缴|先转|先充|交钱|付钱)",
        r"解冻费|验资费|解冻金|刷流水",
        r"(?:先|需要|要求|让我)(?:交|付|缴|转|充)(?:一笔|一些|点)?.{0,10}(?:保证金|解冻费|验资|手续费|工本费|押金|会员费|费用|服务费|钱)",
        r"(?:before|until) (?:they|the lender|the company|it) (?:\w+\s+){0,2}(?:sends?|releases?|"
        r"pays? out|transfers?) (?:\w+\s+){0,2}(?:money|loan|funds)",
        r"insurance fee",
        r"(?:先|需要|要求|让我)(?:交|付|缴|转|充)(?:一笔|一些|点)?.{0,4}(?:保证金|解冻费|验资|手续费|工本费|押金|会员费|费用|钱)",
        r"(?:卡号|银行卡|账号|信息).{0,3}(?:填|写|输)错.{0,12}(?:冻结|解冻|交|付)",
        r"刷(?:银行)?流水",
        r"(?:pay|paid|deposit|transfer|send)\s+(?:\w+\s+){0,4}(?:fee|deposit|charge|insurance|"
        r"tax)\s+(?:\w+\s+){0,5}"
        r"(?:before|to (?:get|release|unlock|receive)|so (?:that )?(?:they|it|the loan) (?:can|"
        r"will))",
        r"(?:unfreez\w* fee|verification fee|processing fee|upfront fee|advance fee|release fee|"
        r"activation fee)",
        r"(?:fee|deposit) (?:first|upfront|in advance) (?:\w+\s+){0,4}(?:loan|money|funds|release)",
        r"(?:before|until) (?:the )?(?:loan|money|funds) (?:is |are )?(?:released|paid out|"
        r"disbursed|sent)",
    ),
    _cue(
        "screen_sharing",
        "scam_victim",
        0.8,
        None,
        (
            "有人要求共享屏幕或下载会议软件（会泄露验证码和账户）",
            "asked to share the screen or install a meeting app",
        ),
        r"屏幕共享|共享屏幕|屏幕分享|分享屏幕|共享(?:一下)?(?:手机)?屏幕|投屏给",
        r"(?:下载|安装|打开|进入|加入|登录|用).{0,8}(?:会议|腾讯会议|zoom|钉钉|亿联|飞书|瞩目|会议号|会议室|会议app|视频会议)",
        r"远程(?:控制|协助|操控|操作)|向日葵|todesk|anydesk|teamviewer",
        r"(?:在|进|进入)(?:腾讯|视频)?会议(?:里|中|室|上)",
        r"(?:下载|安装).{0,12}(?:软件|app|应用|程序).{0,12}(?:开视频|视频|共享|会议|远程|操作|指导|教)",
        r"(?:一步步|一步一步|手把手)(?:地)?(?:教|指导|带)",
        r"see (?:my|the) (?:phone |computer )?screen",
        r"screen[- ]?shar\w*|share (?:\w+\s+){0,2}screen",
        r"(?:download|install|join|open|use)\s+(?:\w+\s+){0,3}(?:zoom|teams|meeting app|"
        r"video (?:call|meeting) app|skype|webex|anydesk|teamviewer|remote (?:access|desktop|"
        r"control))",
        r"remote (?:access|control|desktop)|anydesk|teamviewer",
    ),
    _cue(
        "borrow_to_clear_limit",
        "scam_victim",
        0.8,
        "fake_customer_service",
        (
            "有人让客户借款“清空/注销额度”（借出的钱会被骗走）",
            "told to borrow in order to 'clear a limit'",
        ),
        r"(?:清空|清零|消除|注销|降低|清掉|刷掉|冲掉|结清|关掉|关闭)(?:掉)?.{0,6}额度",
        r"额度.{0,8}(?:清空|清零|清除|消除|注销|刷掉|提出来|借出来|套出来|取出来)",
        r"(?:把|将).{0,6}额度.{0,10}(?:借|提|贷|套|取)出来",
        r"(?:借|贷|取)出来.{0,12}(?:转|打|汇|存)(?:到|给|入)",
        r"(?:limit|credit line)\s+(?:\w+\s+){0,3}(?:reset|cleared|zeroed|cancelled|closed|wiped)",
        r"(?:钱|资金|贷款|欠款|账户|额度).{0,8}(?:清零|清空)",
        r"(?:clear|zero|reset|empty|cancel|use up|wipe|close)\s+(?:\w+\s+){0,3}(?:limit|"
        r"credit line|credit limit|available credit)",
        r"borrow\w*\s+(?:\w+\s+){0,8}(?:to|and|so (?:that )?(?:i|they) can)\s+(?:clear|cancel|"
        r"close|reset)",
    ),
    _cue(
        "told_to_move_money",
        "scam_victim",
        0.5,
        None,
        ("有人指示客户转账给陌生账户", "someone instructed the customer to move money"),
        rf"{_THEY_ZH}.{{0,12}}{_TOLD_ZH}.{{0,12}}{_MOVE_ZH}",
        rf"(?:让|叫|要求|要)我.{{0,10}}{_MOVE_ZH}",
        rf"{_MOVE_ZH}.{{0,10}}(?:到|给|入).{{0,6}}(?:指定|他们?的|她的|对方的?|陌生|新的?)(?:的)?(?:账户|帐户|账号|卡|银行卡)",
        rf"{_TOLD_EN} (?:me|us) to (?:transfer|send|move|wire|pay|deposit)",
        r"(?:send|transfer|move|wire|give|pay) (?:it|the money|them|everything|"
        r"the loan) (?:\w+\s+){0,2}to (?:them|him|her|their|his)",
        r"(?:transfer|move|send|wire)\s+(?:all\s+)?(?:my|the|our)?\s*(?:money|savings|funds|"
        r"balance)\s+(?:\w+\s+){0,2}(?:to|into)\s+(?:a|an|their|his|her|another|new|this)",
    ),
    _cue(
        "asked_for_code",
        "scam_victim",
        0.6,
        "account_takeover",
        ("有人索要验证码（验证码不能告诉任何人）", "asked to read out a verification code"),
        r"(?:告诉|提供|发给|报给|念给|说出|给了?)(?:他|她|对方|他们|客服)?.{0,4}验证码",
        r"验证码.{0,8}(?:告诉|给|发|报)(?:了)?(?:他|她|对方|他们|客服)",
        r"read (?:out )?(?:\w+\s+){0,3}code|code (?:that )?(?:was |they |I )?(?:just )?(?:texted|"
        r"sent|got)",
        r"(?:give|gave|share|shared|read|send|sent|tell|told)\s+(?:\w+\s+){0,3}(?:verification|"
        r"one[- ]time|otp|security|sms|login)\s+(?:code|password|pin)",
    ),
    _cue(
        "coached_borrowing",
        "scam_victim",
        0.6,
        "fake_customer_service",
        (
            "有人指导客户借款或按其指示操作",
            "someone coached the customer to borrow or follow steps",
        ),
        rf"{_THEY_ZH}?.{{0,6}}(?:教|指导|让|要|叫|带)(?:我|着我).{{0,8}}(?:借钱|借款|贷款|申请贷款|借出来|提现)",
        r"按(?:他|她|对方|他们|客服)(?:说|教|讲)的(?:操作|做|办)",
        r"(?:told|asked|instructed|coached|walked|talked|guided|got) (?:me|us) (?:through |"
        r"into )?(?:to )?(?:take out|taking out|apply(?:ing)? for|borrow\w*|"
        r"get(?:ting)?) (?:\w+\s+){0,3}loan",
    ),
    _cue(
        "gift_cards",
        "scam_victim",
        0.6,
        "other",
        ("有人要求购买礼品卡、充值卡并发送卡密", "asked to buy gift cards and send the codes"),
        r"(?:购物卡|礼品卡|充值卡|游戏卡|点卡|苹果卡).{0,12}(?:卡号|卡密|发给|拍照)",
        r"gift ?cards?|itunes cards?|steam cards?",
    ),
    _cue(
        "secrecy",
        "scam_victim",
        0.5,
        None,
        ("被要求保密、不要挂电话或不要告诉银行家人", "told to keep it secret or stay on the line"),
        r"不要告诉(?:任何人|家人|别人|银行|你们|工作人员)|不能告诉|要保密|保密协议|不要挂(?:电话)?|别挂|不能挂",
        r"(?:don'?t|do not|not to|never) (?:tell|inform) (?:anyone|anybody|the bank|you|my family|"
        r"family)|keep (?:it|this) (?:a )?secret|stay on the (?:line|phone)|not to hang up",
    ),
    _cue(
        "refund_or_compensation",
        "scam_victim",
        0.45,
        "fake_customer_service",
        (
            "“退款/理赔/取消会员扣费”的来电（冒充客服）",
            "an unexpected 'refund' or 'compensation' call",
        ),
        r"(?:退款|理赔|赔偿|退费|取消.{0,4}(?:会员|代理|扣费|自动续费|百万保障)).{0,12}(?:客服|操作|指导|会议|屏幕|链接|二维码)",
        r"(?:快递|包裹|商品).{0,10}(?:丢|损坏|问题).{0,15}(?:理赔|赔偿|退款)",
        r"(?:百万保障|会员扣费|自动扣费|代理商|代理资格|会员服务).{0,20}(?:取消|关闭|关掉)",
        r"(?:不|没有?)(?:取消|关闭|关掉).{0,12}(?:扣|收费|扣费|扣钱)|(?:会员|代理|保障|直播).{0,10}(?:扣费|扣钱|收费)",
        r"(?:refund|compensation|reimbursement)\s+(?:\w+\s+){0,6}(?:call|caller|link|app|screen|"
        r"qr code)",
    ),
    _cue(
        "task_rebate",
        "scam_victim",
        0.55,
        "rebate_task",
        ("刷单返利或“做任务先垫付”的说法", "a paid 'task' job that asks for money first"),
        r"刷单|做任务.{0,8}(?:返|佣金|垫付)|(?:任务|刷单|垫付).{0,6}返利|返利.{0,6}(?:任务|垫付|佣金)|垫付.{0,6}(?:任务|返)|"
        r"点赞.{0,6}(?:赚|佣金)",
        r"(?:task|rebate|commission|rating|review|click|liking)\s+(?:\w+\s+){0,4}(?:job|scheme|"
        r"platform|group)",
        r"(?:deposit|pay|top up)\s+(?:\w+\s+){0,4}to (?:unlock|withdraw|release|get) (?:my |"
        r"the )?(?:earnings|commission|profits?|wages|money)",
        r"(?:充值|垫付|交钱).{0,10}(?:才能|才可以)?.{0,6}(?:提现|解锁|拿回)(?:佣金|收益|工资)?",
    ),
    _cue(
        "investment_pitch",
        "scam_victim",
        0.45,
        "elderly_investment",
        ("高收益投资、“内部消息”或虚拟币的说法", "a high-return or 'insider' investment pitch"),
        r"(?:高收益|稳赚|保本高息|内部消息|带单|荐股|投资群|导师带|虚拟币|数字货币|usdt|泰达币|养老项目|原始股|保证收益|稳赚不赔|炒股群|老师带)",
        r"(?:guaranteed|high) (?:returns?|profit)|crypto (?:investment|platform)|investment group|"
        r"trading (?:group|mentor|teacher)|"
        r"insider tip",
    ),
    _cue(
        "impersonated_acquaintance",
        "scam_victim",
        0.45,
        "other",
        (
            "自称领导、亲友的人要求转账或垫付",
            "someone posing as a boss, friend or relative asking for money",
        ),
        r"(?:领导|老板|上司|朋友|同学|儿子|女儿|孙子|孙女|亲戚|老师|班主任|老同学).{0,15}(?:借钱|转账|汇款|打钱|垫付|先转|帮忙转)",
        r"(?:换了|新的?)(?:手机)?(?:号码|号|微信|qq).{0,20}(?:借钱|转账|打钱|汇款)",
        r"(?:boss|manager|friend|son|daughter|grandson|granddaughter|nephew|niece|"
        r"relative)\s+(?:\w+\s+){0,6}(?:asked|needs|needed|wants)\s+(?:\w+\s+){0,4}(?:money|"
        r"transfer|to borrow|to send)",
        r"new (?:phone )?number\s+(?:\w+\s+){0,8}(?:money|transfer|send)",
    ),
)

VULNERABILITY_CUES: tuple[Cue, ...] = (
    _cue(
        "bereavement",
        "vulnerability",
        1.0,
        None,
        ("客户提到亲人去世", "the customer mentions a bereavement"),
        r"去世|过世|离世|病逝|逝世|丧事|葬礼|丧偶|办后事|走了.{0,3}(?:没多久|以后|之后)",
        r"(?:父亲|母亲|爸爸|妈妈|爸|妈|丈夫|妻子|老公|老婆|孩子|儿子|女儿|爷爷|奶奶)(?:他|她)?(?:突然)?(?:没了|走了|去了)",
        r"passed away|\bdied\b|death of|bereave\w*|funeral|widow\w*|lost my (?:husband|wife|"
        r"mother|father|mum|mom|dad|son|daughter|partner|child|baby)",
    ),
    _cue(
        "illness",
        "vulnerability",
        1.0,
        None,
        ("客户提到疾病或住院", "the customer mentions illness"),
        r"生病|生了(?:一场)?(?:大|重)?病|住院|做手术|动手术|开刀|癌|肿瘤|重病|病重|化疗|确诊|抑郁|焦虑症|残疾|瘫痪|中风|脑梗|看病|治病|病倒",
        r"\b(?:ill|illness|sick|hospital\w*|surgery|operation|cancer|chemo\w*|diagnos\w*|"
        r"depress\w*|anxiety|disab\w*|stroke|in treatment)\b",
    ),
    _cue(
        "job_loss",
        "vulnerability",
        1.0,
        None,
        ("客户提到失业或收入中断", "the customer mentions losing their job or income"),
        r"失业|下岗|被裁|裁员|丢了工作|工作丢了|没有工作|没工作|找不到工作|工作没了|公司倒闭|停工|停薪|降薪|被辞退|被开除|收入(?:减少|没了|中断|断了|锐减)|"
        r"没有收入|没收入",
        r"lost (?:my|his|her) (?:job|work|income)|laid off|redundan\w*|unemployed|out of work|"
        r"\bfired\b|no income|income (?:dropped|stopped|fell)|pay cut|furlough\w*",
    ),
    _cue(
        "cannot_pay",
        "vulnerability",
        1.0,
        None,
        ("客户表示无力还款", "the customer says they cannot pay"),
        r"还不上|还不起|还不了|无力(?:还款|偿还|支付)|没钱还|没有钱还|拿不出钱|还款(?:困难|压力(?:很|太)?大)|付不起|交不起|周转不开|资金困难|以贷养贷|"
        r"拆东墙补西墙|(?:逾期|欠款)了?.{0,6}(?:没钱|还不)",
        r"can'?t (?:afford|pay|make (?:my|the|this) (?:payment|repayment|instalment))|"
        r"cannot (?:afford|pay|repay)|unable to (?:pay|repay|make (?:my|the) (?:payment|"
        r"repayment))|struggling (?:to (?:pay|repay|keep up)|with (?:debt|payments|repayments))|"
        r"behind (?:on|with) (?:my )?(?:payments|repayments)|in arrears|borrow\w* to repay|"
        r"(?:debt|money) (?:problems|trouble)",
    ),
)

COMPLAINT_CUES: tuple[Cue, ...] = (
    _cue(
        "complaint",
        "complaint",
        1.0,
        None,
        ("客户表达投诉或不满", "the customer wants to complain"),
        r"投诉|举报|不满|差评|太(?:过分|离谱)|要求(?:赔偿|道歉|解释)|银保监|金融监管|监管局|12378|12315|消协|曝光你们|欺骗消费者|暴力催收|骚扰|"
        r"乱收费|霸王条款|起诉你们|找律师",
        r"complain\w*|unacceptable|disgusted|ombudsman|regulator|report you|escalate|harass\w*|"
        r"\bsue\b|lawyer|terrible service|rip[- ]?off|appalling|outrageous",
    ),
)


@dataclass(frozen=True)
class CueHit:
    cue: Cue
    evidence: str

    def as_dict(self, locale: str) -> dict[str, Any]:
        return {
            "kind": self.cue.kind,
            "cue": self.cue.name,
            "reason": self.cue.reason(locale),
            "evidence": self.evidence,
        }


def find_cues(text: str, cues: tuple[Cue, ...]) -> list[CueHit]:
    """Each cue found in ``text`` once, with the first span that matched (for the agent)."""
    hits = []
    for cue in cues:
        for pattern in cue.patterns:
            found = pattern.search(text)
            if found is not None:
                hits.append(CueHit(cue, found.group(0)[:80]))
                break
    return hits


def rule_score(hits: list[CueHit]) -> float:
    """Noisy-OR of the scam cues' weights: 1 - prod(1 - w)."""
    remaining = 1.0
    for hit in hits:
        remaining *= 1.0 - hit.cue.weight
    return round(1.0 - remaining, 4)


def rule_typology(hits: list[CueHit]) -> str | None:
    """The typology with the most weight among the cues that name one."""
    votes: dict[str, float] = {}
    for hit in hits:
        if hit.cue.typology is not None:
            votes[hit.cue.typology] = votes.get(hit.cue.typology, 0.0) + hit.cue.weight
    if not votes:
        return None
    return max(sorted(votes), key=lambda t: votes[t])


def has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def detect_locale(text: str) -> str:
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    return "zh-CN" if cjk >= max(1, len(text.strip()) // 10) else "en"


# -- the optional learned layer -----------------------------------------------------------------

VICTIM_LABEL = "victim"

# Labels of the Chinese telecom-fraud corpus (Telecom_Fraud_Texts_5) as the simulator's typologies.
CORPUS_TYPOLOGY = {
    "0": None,
    "冒充公检法及政府机关类": "other",
    "贷款、代办信用卡类": "advance_fee_loan",
    "冒充客服服务": "fake_customer_service",
    "冒充领导、熟人类": "other",
    # the customer's own account of a scam (shipped paraphrases): the lexicon names the type
    VICTIM_LABEL: None,
}


class ScamTextModel:
    """Character n-gram TF-IDF + logistic regression: P(scam) and a typology.

    Trained on (text, label) pairs where label "0" is normal and anything else a scam class
    (the Chinese telecom-fraud corpus: scripts as the fraudster writes them), plus
    ``extra_normal`` (ordinary customer messages) and ``extra_scam`` (customers describing a
    scam to an agent, class ``victim``). Applied to every text when it has seen non-Chinese
    examples, else only to texts with Chinese characters.
    """

    def __init__(self, C: float = 16.0) -> None:  # noqa: N803 (sklearn's name)
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.vectorizer = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=(1, 4),
            lowercase=True,
            sublinear_tf=True,
            min_df=2,
            max_features=300_000,
        )
        self.classifier = LogisticRegression(C=C, max_iter=3000)
        self.classes: list[str] = []
        self.multilingual = False

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        extra_normal: Sequence[str] = (),
        extra_scam: Sequence[str] = (),
    ) -> ScamTextModel:
        """``extra_normal``: ordinary customer messages added to the normal class. The corpus'
        normal texts are marketing SMS, so without them anything conversational ("客服你好，
        我想…") looks like a scam script (style leakage)."""
        all_texts = [*texts, *extra_normal, *extra_scam]
        all_labels = [*labels, *(["0"] * len(extra_normal)), *([VICTIM_LABEL] * len(extra_scam))]
        matrix = self.vectorizer.fit_transform(all_texts)
        self.classifier.fit(matrix, all_labels)
        self.classes = [str(c) for c in self.classifier.classes_]
        self.multilingual = any(not has_cjk(t) for t in extra_scam)
        return self

    def applies_to(self, text: str) -> bool:
        return bool(getattr(self, "multilingual", False)) or has_cjk(text)

    def predict(self, text: str) -> tuple[float, str | None]:
        """(probability of a scam, the likeliest scam class mapped to a typology)."""
        proba = self.classifier.predict_proba(self.vectorizer.transform([text]))[0]
        normal = self.classes.index("0") if "0" in self.classes else -1
        p_scam = 1.0 - float(proba[normal]) if normal >= 0 else float(max(proba))
        best, best_p = None, -1.0
        for i, label in enumerate(self.classes):
            if i != normal and proba[i] > best_p:
                best, best_p = label, float(proba[i])
        typology = CORPUS_TYPOLOGY.get(best, "other") if best is not None else None
        return round(p_scam, 4), typology


@dataclass
class ScamResult:
    cue: bool
    score: float
    rule_score: float
    model_score: float | None
    type: str
    hits: list[CueHit]


class ScamDetector:
    """The lexicon, plus the learned model when one is loaded: score = max(rules, model)."""

    def __init__(self, model: ScamTextModel | None = None) -> None:
        self.model = model

    @property
    def source(self) -> str:
        return "lexicon+char-ngram-model" if self.model is not None else "lexicon"

    def analyze(self, text: str) -> ScamResult:
        hits = find_cues(text, SCAM_CUES)
        score_rules = rule_score(hits)
        model_score: float | None = None
        model_type: str | None = None
        if self.model is not None and self.model.applies_to(text):
            model_score, model_type = self.model.predict(text)
        flagged_by_model = model_score is not None and model_score >= SCAM_THRESHOLD
        score = max(score_rules, model_score or 0.0)
        typology = rule_typology(hits) or (model_type if flagged_by_model else None) or "other"
        return ScamResult(
            score >= SCAM_THRESHOLD, round(score, 4), score_rules, model_score, typology, hits
        )


def cross_validate_scam(
    texts: list[str],
    labels: list[str],
    folds: int = 5,
    seed: int = 1,
    extra_normal: Sequence[str] = (),
    extra_scam: Sequence[str] = (),
) -> dict[str, Any]:
    """Stratified k-fold figures for the lexicon alone, the model alone and both combined:
    recall on each scam class and overall, and the share of normal ("0") texts flagged."""
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    rules = ScamDetector()
    rule_flags = [rules.analyze(t).cue for t in texts]
    model_flags = [False] * len(texts)
    both_flags = [False] * len(texts)
    types: list[str] = [""] * len(texts)
    for train_idx, test_idx in splitter.split(texts, labels):
        model = ScamTextModel().fit(
            [texts[i] for i in train_idx], [labels[i] for i in train_idx], extra_normal, extra_scam
        )
        detector = ScamDetector(model)
        for i in test_idx:
            result = detector.analyze(texts[i])
            both_flags[i] = result.cue
            model_flags[i] = (result.model_score or 0.0) >= SCAM_THRESHOLD
            types[i] = result.type

    def figures(flags: list[bool]) -> dict[str, Any]:
        normal = [f for f, y in zip(flags, labels, strict=True) if y == "0"]
        scam = [f for f, y in zip(flags, labels, strict=True) if y != "0"]
        per_class = {}
        for label in sorted(set(labels) - {"0"}):
            chosen = [f for f, y in zip(flags, labels, strict=True) if y == label]
            per_class[label] = round(sum(chosen) / len(chosen), 4)
        return {
            "recall": round(sum(scam) / max(1, len(scam)), 4),
            "normal_flagged": round(sum(normal) / max(1, len(normal)), 4),
            "recall_by_class": per_class,
        }

    typed = {}
    for label in sorted(set(labels) - {"0"}):
        expected = CORPUS_TYPOLOGY.get(label, "other")
        chosen = [t for t, y, f in zip(types, labels, both_flags, strict=True) if y == label and f]
        typed[label] = {
            "expected_type": expected,
            "type_agreement": round(sum(t == expected for t in chosen) / max(1, len(chosen)), 4),
        }
    return {
        "folds": folds,
        "seed": seed,
        "rows": len(texts),
        "normal": labels.count("0"),
        "extra_normal_in_training": len(extra_normal),
        "extra_scam_in_training": len(extra_scam),
        "lexicon": figures(rule_flags),
        "model": figures(model_flags),
        "combined": figures(both_flags),
        "scam_type": typed,
    }
