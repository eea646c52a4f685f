"""The protection report rendered: HTML (one self-contained document), PDF (WeasyPrint) and JSON.

The HTML carries everything inline: its CSS, its charts (SVG drawn here with
:mod:`lendguard.kit.charts`), no script and no address to fetch. The PDF is that same document
printed by WeasyPrint on A4 (the print rules in ``templates/print.css``: page numbers, and the
lender and the period at the top of every page), with a CJK font. The console's report page
embeds :func:`render_body` (classes only, no inline style: the console's CSP forbids them).

Every figure shows its definition (``report.definitions[key]``) and the query period; the
estimated losses are labelled as estimated wherever they appear.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from lendguard.kit.charts import horizontal_bars, stacked_bars
from lendguard.reporting.schemas import Definition, ProtectionReport

LOCALES = ("zh-CN", "en")
ACTIONS = ("remind", "dissuade", "intercept", "block")
"""The actions that are interventions, mildest first (``allow`` is counted, never drawn)."""

# Headings and words of the report, per locale: (zh-CN, en).
TEXT: dict[str, tuple[str, str]] = {
    "Lender": ("机构", "Lender"),
    "Period": ("统计期间", "Period"),
    "Generated": ("生成时间", "Generated"),
    "days": ("天", "days"),
    "Contents": ("目录", "Contents"),
    "Summary": ("概览", "Summary"),
    "Interventions per day (average)": ("日均干预次数", "Interventions per day (average)"),
    "Decisions": ("决策总数", "Decisions"),
    "Interventions (remind or more)": ("干预次数（提醒及以上）", "Interventions (remind or more)"),
    "Frauds blocked": ("拦截的欺诈", "Frauds blocked"),
    "Confirmed frauds and scams": ("确认的欺诈与诈骗", "Confirmed frauds and scams"),
    "Customers protected": ("受保护的客户", "Customers protected"),
    "Losses avoided (observed)": ("避免的损失（实际发生）", "Losses avoided (observed)"),
    "Losses avoided (estimated)": ("避免的损失（估算）", "Losses avoided (estimated)"),
    "Estimated": ("估算", "Estimated"),
    "Observed": ("实际发生", "Observed"),
    "Held payments cancelled": ("暂缓后取消的付款", "Held payments cancelled"),
    "Scams confirmed": ("确认的诈骗", "Scams confirmed"),
    "Dissuaded transfers": ("被劝阻的转账", "Dissuaded transfers"),
    "Assumed share of dissuasions that saved the money": (
        "假定劝阻成功挽回资金的比例",
        "Assumed share of dissuasions that saved the money",
    ),
    "Interventions per day by action": (
        "每日干预（按处置方式）",
        "Interventions per day by action",
    ),
    "By action": ("按处置方式", "By action"),
    "Action": ("处置方式", "Action"),
    "By scam typology": ("按诈骗类型", "By scam typology"),
    "Typology": ("诈骗类型", "Typology"),
    "Total": ("合计", "Total"),
    "Honest customers inconvenienced": ("受到打扰的正常客户", "Honest customers inconvenienced"),
    "All honest customers": ("全部正常客户", "All honest customers"),
    "Group": ("客户群体", "Group"),
    "Honest customers": ("正常客户数", "Honest customers"),
    "Reminded or more": ("被提醒及以上", "Reminded or more"),
    "Intercepted or more": ("被拦截及以上", "Intercepted or more"),
    "Rate": ("比例", "Rate"),
    "Median delay of held money": ("暂缓资金放行时间中位数", "Median delay of held money"),
    "By age band": ("按年龄段", "By age band"),
    "By tenure": ("按成为客户的时长", "By tenure"),
    "Students, elderly and vulnerable customers": (
        "学生、老年及弱势客户",
        "Students, elderly and vulnerable customers",
    ),
    "Complaints handled on time": ("投诉处理时效", "Complaints handled on time"),
    "Jurisdiction": ("辖区", "Jurisdiction"),
    "Received": ("收到", "Received"),
    "Resolved": ("已处理", "Resolved"),
    "On time": ("按时", "On time"),
    "Late": ("超时", "Late"),
    "Open past the deadline": ("逾期未结", "Open past the deadline"),
    "On-time rate": ("按时率", "On-time rate"),
    "Escalated": ("升级", "Escalated"),
    "Escalation rate": ("升级率", "Escalation rate"),
    "All jurisdictions": ("全部辖区", "All jurisdictions"),
    "Rescue ladder": ("救助阶梯", "Rescue ladder"),
    "Customers helped": ("获得救助的客户", "Customers helped"),
    "Steps taken": ("采取的救助步骤", "Steps taken"),
    "Outcomes": ("救助结果", "Outcomes"),
    "Step": ("步骤", "Step"),
    "Outcome": ("结果", "Outcome"),
    "Count": ("数量", "Count"),
    "Consent granted and withdrawn": ("同意的授予与撤回", "Consent granted and withdrawn"),
    "Purpose and channel": ("用途与渠道", "Purpose and channel"),
    "Granted": ("授予", "Granted"),
    "Withdrawn": ("撤回", "Withdrawn"),
    "Data-subject requests": ("个人信息权利请求", "Data-subject requests"),
    "Request": ("请求类型", "Request"),
    "Opened": ("提出", "Opened"),
    "Closed": ("办结", "Closed"),
    "Closed on time": ("按时办结", "Closed on time"),
    "Closed late": ("超时办结", "Closed late"),
    "All requests": ("全部请求", "All requests"),
    "Education reach": ("反诈与金融知识教育触达", "Education reach"),
    "Customers reached": ("触达的客户", "Customers reached"),
    "Customers who opened": ("打开内容的客户", "Customers who opened"),
    "Customers who completed": ("学完内容的客户", "Customers who completed"),
    "Completion rate": ("完成率", "Completion rate"),
    "Items delivered": ("送达次数", "Items delivered"),
    "Openings": ("打开次数", "Openings"),
    "Completions": ("完成次数", "Completions"),
    "By channel": ("按渠道", "By channel"),
    "By topic": ("按主题", "By topic"),
    "Channel": ("渠道", "Channel"),
    "Age band": ("年龄段", "Age band"),
    "Topic": ("主题", "Topic"),
    "Reached": ("触达", "Reached"),
    "Completed": ("完成", "Completed"),
    "Quiz": ("知识测验", "Quiz"),
    "Answers": ("作答次数", "Answers"),
    "Customers who answered": ("作答的客户", "Customers who answered"),
    "Passed": ("通过", "Passed"),
    "Pass rate": ("通过率", "Pass rate"),
    "Were reached customers scammed less later?": (
        "接受教育的客户后来受骗更少吗？",
        "Were reached customers scammed less later?",
    ),
    "Customers who completed an item": (
        "学完至少一项内容的客户",
        "Customers who completed an item",
    ),
    "Customers with an intervention who were never reached": (
        "受过干预但从未被触达的客户",
        "Customers with an intervention who were never reached",
    ),
    "Customers": ("客户数", "Customers"),
    "Scammed later": ("后来受骗", "Scammed later"),
    "Follow-up: %s days after the first delivery or intervention.": (
        "跟踪期：首次送达或首次干预后 %s 天。",
        "Follow-up: %s days after the first delivery or intervention.",
    ),
    "Caveat": ("注意", "Caveat"),
    "Definitions": ("指标定义", "Definitions"),
    "Basis": ("依据", "Basis"),
    "Unit": ("单位", "Unit"),
    "Definition": ("定义", "Definition"),
    "No data in this period.": ("本期间没有数据。", "No data in this period."),
    "Every figure counts what happened in the period, in the time zone named above.": (
        "所有数字均统计上述时区内统计期间发生的情况。",
        "Every figure counts what happened in the period, in the time zone named above.",
    ),
    "Estimated figures are not observed outcomes: they are marked as estimated.": (
        "估算数字不是实际发生的结果，均已标注“估算”。",
        "Estimated figures are not observed outcomes: they are marked as estimated.",
    ),
    "decisions per day": ("每日决策", "decisions per day"),
    "interventions by scam typology": ("按诈骗类型的干预", "interventions by scam typology"),
    "rescue steps": ("救助步骤", "rescue steps"),
    "customers reached by channel": ("按渠道的触达客户", "customers reached by channel"),
    "Page %s of %s": ("第 %s 页，共 %s 页", "Page %s of %s"),
}

# Values that come from code, as people read them: (zh-CN, en).
VALUES: dict[str, tuple[str, str]] = {
    "allow": ("放行", "Allowed"),
    "remind": ("提醒", "Reminded"),
    "dissuade": ("劝阻", "Dissuaded"),
    "intercept": ("拦截", "Intercepted"),
    "block": ("阻断", "Blocked"),
    # channels (education, consent)
    "app": ("App 内", "In the app"),
    "sms": ("短信", "Text message"),
    "push": ("推送通知", "Push notification"),
    "email": ("电子邮件", "Email"),
    "call": ("电话", "Phone call"),
    "in_person": ("当面", "In person"),
    "agent": ("客服人员", "Agent"),
    # age bands (lendguard.decisions.segments.AGE_BANDS)
    "<22": ("22 岁以下", "Under 22"),
    "22-34": ("22–34 岁", "22 to 34"),
    "35-59": ("35–59 岁", "35 to 59"),
    "60+": ("60 岁及以上", "60 and over"),
    "unknown": ("未知", "Unknown"),
    # jurisdictions of the complaint clocks
    "CN": ("中国内地", "Mainland China"),
    "UK": ("英国", "United Kingdom"),
    "US": ("美国", "United States"),
    # education topics: the scam typologies and the other subjects
    "fake_customer_service": ("冒充客服诈骗", "Fake customer service"),
    "advance_fee_loan": ("贷款先交费诈骗", "Advance-fee loans"),
    "credit_repair": ("征信修复诈骗", "Credit repair scams"),
    "account_takeover": ("账户被盗用", "Account takeover"),
    "rebate_task": ("刷单返利诈骗", "Task and rebate scams"),
    "elderly_investment": ("针对老年人的投资诈骗", "Investment scams against the elderly"),
    "mule": ("出借账户", "Lending one's account to criminals"),
    "ring": ("团伙欺诈", "Organised fraud groups"),
    "other": ("其他", "Other"),
    "over_borrowing": ("过度借贷", "Over-borrowing"),
    "privacy_rights": ("个人信息权利", "Privacy rights"),
    # definition units and bases
    "count": ("计数", "count"),
    "rate": ("比率", "rate"),
    "cny": ("元（人民币）", "yuan (CNY)"),
    "hours": ("小时", "hours"),
    "days": ("天", "days"),
    "observed": ("实际发生", "observed"),
    "estimated": ("估算", "estimated"),
}

_TEMPLATES = resources.files("lendguard.reporting") / "templates"


def _locale(locale: str) -> str:
    if locale not in LOCALES:
        raise ValueError(f"locale must be one of {', '.join(LOCALES)}")
    return locale


def text(key: str, locale: str) -> str:
    """A heading or word of the report in ``locale`` (the key itself when it has none)."""
    pair = TEXT.get(key)
    if pair is None:
        return key
    return pair[0] if locale == "zh-CN" else pair[1]


def value_name(code: str, locale: str) -> str:
    """A value from code (an action, a channel, an age band …) as people read it."""
    pair = VALUES.get(code) or VALUES.get(code.upper())
    if pair is None:
        return code.replace("_", " ")
    return pair[0] if locale == "zh-CN" else pair[1]


def local(label: dict[str, str], locale: str, fallback: str = "") -> str:
    """A :data:`~lendguard.education.schemas.LocalText` in ``locale`` (else English, else the
    other locale, else ``fallback``)."""
    return label.get(locale) or label.get("en") or next(iter(label.values()), "") or fallback


def count_text(value: int | float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def rate_text(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def cny_text(value: float, locale: str) -> str:
    return f"¥{value:,.2f}" if locale == "zh-CN" else f"CNY {value:,.2f}"


def hours_text(value: float | None, locale: str) -> str:
    if value is None:
        return "—"
    return f"{value:,.1f} 小时" if locale == "zh-CN" else f"{value:,.1f} h"


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(_TEMPLATES)),
        autoescape=select_autoescape(("html",), default_for_string=True, default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


@cache
def _css(name: str) -> str:
    return (_TEMPLATES / name).read_text(encoding="utf-8")


# The charts' look as SVG presentation attributes, so the chart reads the same wherever it is
# drawn: a browser with the report's CSS, the console (classes in console.css win there) and
# WeasyPrint, which applies no page CSS inside an inline SVG.
_PRESENTATION = (
    ('class="tick"', 'class="tick" font-size="11" fill="#6b7280"'),
    ('class="tick legend"', 'class="tick legend" font-size="11" fill="#1f2430"'),
    ('class="grid"', 'class="grid" stroke="#e5e7eb"'),
    ('class="empty"', 'class="empty" font-size="13" fill="#6b7280"'),
)


def _chart(svg: str) -> Markup:
    for plain, drawn in _PRESENTATION:
        svg = svg.replace(plain, drawn)
    return Markup(svg)  # noqa: S704 - drawn by lendguard.kit.charts, which escapes every text


def _context(report: ProtectionReport, locale: str) -> dict[str, Any]:
    """What the templates print: the report, its words in ``locale`` and its charts."""
    t: Callable[[str], str] = lambda key: text(key, locale)  # noqa: E731
    v: Callable[[str], str] = lambda code: value_name(code, locale)  # noqa: E731
    period = report.period
    period_text = (
        f"{period.from_date.isoformat()} – {period.to_date.isoformat()} "
        f"({period.zone}, {period.days} {t('days')})"
    )

    def definition(key: str) -> Definition | None:
        return report.definitions.get(key)

    days = [d.day.isoformat() for d in report.interventions.per_day]
    series = {a: [d.counts.get(a, 0) for d in report.interventions.per_day] for a in ACTIONS}
    per_day_chart = stacked_bars(
        days,
        series,
        legend={a: v(a) for a in ACTIONS},
        label=t("decisions per day"),
        empty=t("No data in this period."),
    )
    typology_chart = horizontal_bars(
        [
            (local(row.label, locale, row.typology), row.total)
            for row in report.interventions.by_typology
        ],
        label=t("interventions by scam typology"),
    )
    rescue_chart = horizontal_bars(
        [(local(row.label, locale, row.key), row.count) for row in report.rescue.steps],
        label=t("rescue steps"),
        colour="#2f5d8a",
    )
    reach_chart = horizontal_bars(
        [(v(row.key), row.reached) for row in report.education.by_channel],
        label=t("customers reached by channel"),
        colour="#137333",
    )
    used = {
        report.interventions.definition,
        report.frauds.definition,
        report.losses.definition_observed,
        report.losses.definition_estimated,
        report.inconvenience.definition,
        report.complaints.definition,
        report.rescue.definition,
        report.consent.definition,
        report.requests.definition,
    }
    # education's reach has no definition field: its definitions are the ones no other
    # section names (the reach, the quiz, the later scams)
    education_keys = [k for k in report.definitions if k not in used]
    return {
        "r": report,
        "locale": locale,
        "t": t,
        "v": v,
        "local": lambda label, fallback="": local(label, locale, fallback),
        "count": count_text,
        "rate": rate_text,
        "cny": lambda value: cny_text(value, locale),
        "hours": lambda value: hours_text(value, locale),
        "definition": definition,
        "education_keys": education_keys,
        "period_text": period_text,
        "title": local(report.title, locale, "LendGuard"),
        "actions": ACTIONS,
        "per_day_chart": _chart(per_day_chart),
        "typology_chart": _chart(typology_chart),
        "rescue_chart": _chart(rescue_chart),
        "reach_chart": _chart(reach_chart),
    }


def render_body(report: ProtectionReport, locale: str) -> Markup:
    """The report's sections as an HTML fragment (classes only, no inline style and no script):
    the body of :func:`render_html` and of the console's report page."""
    locale = _locale(locale)
    html = _environment().get_template("_body.html").render(**_context(report, locale))
    return Markup(html)


def render_html(report: ProtectionReport, locale: str) -> str:
    """The whole report as one self-contained HTML document in ``locale`` (zh-CN or en): inline
    CSS (screen and print), inline SVG charts, no script, nothing to fetch."""
    locale = _locale(locale)
    context = _context(report, locale)
    page_label = text("Page %s of %s", locale).replace('"', "")
    before, _, after = page_label.partition("%s")
    middle, _, end = after.partition("%s")
    # The page counter's words are ours (never the report's data) and carry no quote.
    page_content = f'"{before}" counter(page) "{middle}" counter(pages) "{end}"'
    css = _css("report.css") + "\n" + _css("print.css").replace("PAGE_COUNTER", page_content)
    return (
        _environment()
        .get_template("report.html")
        .render(**context, css=Markup(css), body=render_body(report, locale))
    )


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The PDF fetches nothing: the document is self-contained, and a URL in it is refused."""
    raise ValueError(f"the report fetches nothing ({url[:40]})")


def render_pdf(report: ProtectionReport, locale: str) -> bytes:
    """The report printed by WeasyPrint on A4 pages: page numbers, the lender and the period on
    every page, CJK text in WenQuanYi Micro Hei (or the next installed font of the list)."""
    import weasyprint

    document = weasyprint.HTML(string=render_html(report, locale), url_fetcher=_refuse_fetch)
    pdf = document.write_pdf()
    assert pdf is not None
    return bytes(pdf)


def render_json(report: ProtectionReport) -> bytes:
    """The report as the machine-readable JSON document (:class:`ProtectionReport`)."""
    return report.model_dump_json(indent=2).encode("utf-8") + b"\n"
