"""The console is complete in zh-CN and English (issue #15): every catalogue key a template
uses has a zh-CN entry, every value that comes from code (case states and types, scam types,
event types, actions, statuses, timeline entries) has a zh-CN and an English name, templates
never print such a value without the translator, and no character on a page lacks a font."""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from lendguard.auth.service import Role
from lendguard.cases.flow import CaseState
from lendguard.console import routes
from lendguard.console.i18n import EN, ENUMS, ZH, actor_name, reason_text, translator
from lendguard.console.labels import evidence_value, feature_label
from lendguard.decisions.features.compute import FEATURES
from lendguard.decisions.rules.loader import load_ruleset_file
from lendguard.events.schemas import EventType
from lendguard.privacy import requests as privacy_requests
from lendguard.support import complaints, crisis, cues
from lendguard.support.complaints import ComplaintState

CONSOLE = Path(str(resources.files("lendguard.console")))
TEMPLATES = sorted((CONSOLE / "templates").glob("*.html"))
SNAKE = re.compile(r"^[a-z]+(?:_[a-z]+)+$")
# t("...") and tc("...") with a literal key.
LITERAL_KEY = re.compile(r"""\b(tc?)\(\s*(["'])((?:(?!\2).)+)\2\s*\)""")
# Attributes whose values come from code enums; shown to people only through t().
CODE_VALUES = (
    "state",
    "case_type",
    "scam_type",
    "event_type",
    "type",
    "action",
    "status",
    "hold_status",
    "kind",
    "instruction",
    "list_type",
    "outcome",
    "label",
    "code",
    "codes",
)
PRINTED = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")


def _scripts() -> dict[str, dict[str, object]]:
    path = Path(str(resources.files("lendguard.cases"))) / "scripts" / "call_scripts.yaml"
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    scripts: dict[str, dict[str, object]] = loaded.get("scripts", loaded)
    return scripts


def _source(function: object) -> str:
    import inspect

    return inspect.getsource(function)  # type: ignore[arg-type]


def _clock_codes() -> set[str]:
    """The breach codes every jurisdiction's complaint clock can name (its response code and
    the late code of each extension), from the shipped policy files."""
    from datetime import UTC, datetime

    found: set[str] = set()
    for jurisdiction in ("CN", "UK", "US"):
        rules = complaints.clock_rules(jurisdiction, datetime(2026, 1, 5, tzinfo=UTC))
        found.add(rules.response_code)
        found.update(step.late_code for step in rules.extensions)
    return found


def _escalation_reasons() -> set[str]:
    """The reason codes the escalation model adds (``add("REGULATOR_MENTION", ...)``)."""
    return set(re.findall(r'add\(\s*"([A-Z_]+)"', _source(complaints.EscalationModel.score)))


def test_every_key_a_template_uses_is_in_the_zh_cn_catalogue() -> None:
    missing = []
    for template in TEMPLATES:
        for helper, _, key in LITERAL_KEY.findall(template.read_text(encoding="utf-8")):
            known = key in ZH or (helper == "tc" and key in routes._COMPLAINTS_ZH)
            if not known:
                missing.append(f"{template.name}: {key}")
    assert missing == []
    assert len(TEMPLATES) >= 16


def test_a_key_that_is_a_code_name_has_english_too() -> None:
    # English keys are shown as they are: one that is a code name must have its own English.
    missing = []
    for template in TEMPLATES:
        for _, _, key in LITERAL_KEY.findall(template.read_text(encoding="utf-8")):
            if SNAKE.match(key) and key not in EN:
                missing.append(f"{template.name}: {key}")
    assert missing == []


def test_every_value_from_code_has_a_zh_cn_and_an_english_name() -> None:
    missing = []
    for kind, values in ENUMS.items():
        for value in values:
            zh, en = ZH.get(value), EN.get(value)
            if not zh or zh == value:
                missing.append(f"zh-CN {kind}: {value}")
            if not en or SNAKE.match(en) or en == value and "_" in value:
                missing.append(f"en {kind}: {value}")
    assert missing == []


def test_the_catalogue_knows_every_value_the_code_has() -> None:
    # A state, type or status added to the code without a console name fails here.
    scripts = _scripts()
    code = {
        "case states": {s.value for s in CaseState},
        "actions": set(routes.ACTIONS),
        "case types": {str(s["case_type"]) for s in scripts.values()} | {"model_drift"},
        "scam types": set(scripts),
        "event types": {e.value for e in EventType},
        "complaint states": {s.value for s in ComplaintState},
        "privacy request kinds": set(privacy_requests.KINDS),
        "privacy request states": set(privacy_requests.OPEN),
        "roles": {r.value for r in Role},
        "complaint clock codes": _clock_codes(),
        "complaint escalation reasons": _escalation_reasons(),
        "complaint scam types": set(cues.SCAM_TYPES),
        "jurisdictions": set(crisis.JURISDICTIONS),
        "hotline kinds": set(re.findall(r'\("[a-z_]+", "([a-z]+)"\)', _source(crisis.hotlines))),
    }
    for kind, values in code.items():
        assert values <= set(ENUMS[kind]), f"{kind}: {sorted(values - set(ENUMS[kind]))}"


def test_templates_print_values_from_code_only_through_the_translator() -> None:
    raw = []
    for template in TEMPLATES:
        text = template.read_text(encoding="utf-8")
        for match in PRINTED.finditer(text):
            expression = match.group(1)
            before = text[: match.start()]
            inside_tag = before.rfind("<") > before.rfind(">")
            if inside_tag:
                continue  # an attribute (a CSS class, a form value), not text on the page
            # c.state, c.clock.codes | join(", "), c.escalation.reasons[0].code
            attribute = re.fullmatch(
                r"[a-z_]+(?:\.[a-z_]+|\[\d+\])*\.([a-z_]+)(?:\s*\|.*)?", expression
            )
            if attribute and attribute.group(1) in CODE_VALUES:
                raw.append(f"{template.name}: {{{{ {expression} }}}}")
    assert raw == []


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_code_values_never_reach_the_page_as_code(locale: str) -> None:
    t = translator(locale)
    for values in ENUMS.values():
        for value in values:
            assert not SNAKE.match(t(value)), (locale, value)


def test_reasons_read_as_the_explanation_sentences() -> None:
    from lendguard.decisions.explain import REASON_TEXT

    code = "SCREEN_SHARING" if "SCREEN_SHARING" in REASON_TEXT else next(iter(REASON_TEXT))
    assert reason_text(code, "zh-CN") == REASON_TEXT[code]["zh-CN"]
    assert reason_text(code, "en") == REASON_TEXT[code]["en"]
    assert reason_text("CUSTOM_RULE_X", "en", "The rule's own description") == (
        "The rule's own description"
    )


def test_people_are_named_and_key_ids_never_shown() -> None:
    assert actor_name("key:bootstrap-admin:key_01a2b3c4", "en") == "API key “bootstrap-admin”"
    assert actor_name("key:bootstrap-admin:key_01a2b3c4", "zh-CN") == "API 密钥“bootstrap-admin”"
    assert actor_name("user:张三", "zh-CN") == "张三"
    assert actor_name("system", "zh-CN") == "LendGuard（系统自动）"
    assert "key_01a2" not in actor_name("key:ops:key_01a2b3c4", "en")


def _shown_characters() -> dict[str, str]:
    """Every non-ASCII character a page can show (templates, catalogue, charts, routes) that is
    not a CJK ideograph or CJK punctuation (the CJK font covers those), with where it is."""
    sources = [
        *TEMPLATES,
        *(CONSOLE / f for f in ("i18n.py", "labels.py", "routes.py")),
        CONSOLE.parent / "kit" / "charts.py",
    ]
    found: dict[str, str] = {}
    for source in sources:
        for char in source.read_text(encoding="utf-8"):
            if ord(char) < 128 or char in found:
                continue
            name = unicodedata.name(char, "")
            if name.startswith(("CJK", "FULLWIDTH", "IDEOGRAPHIC")):
                continue
            found[char] = source.name
    return found


def test_nothing_on_a_page_is_an_emoji_or_outside_the_basic_plane() -> None:
    # The 👵 beside elderly customers' ids had no font on the analysts' machines (a box).
    wide = {c: where for c, where in _shown_characters().items() if ord(c) > 0xFFFF}
    pictographs = {
        c: where
        for c, where in _shown_characters().items()
        if 0x2600 <= ord(c) <= 0x27BF and c not in "★✓"
    }
    assert wide == {}
    assert pictographs == {}


def test_every_symbol_on_a_page_has_an_installed_font() -> None:
    if shutil.which("fc-list") is None:
        pytest.skip("fontconfig's fc-list is not installed: glyph coverage not checked")
    families = subprocess.run(
        ["fc-list", ":", "family"], capture_output=True, text=True, check=True
    ).stdout
    if "WenQuanYi" not in families:
        pytest.skip("fonts-wqy-microhei is not installed (make browser installs it)")
    uncovered = {}
    for char, where in _shown_characters().items():
        fonts = subprocess.run(
            ["fc-list", f":charset={ord(char):x}", "family"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if not fonts.strip():
            uncovered[f"U+{ord(char):04X} {unicodedata.name(char, '?')}"] = where
    assert uncovered == {}


def test_templates_have_nothing_the_csp_blocks() -> None:
    # The console's CSP (style-src 'self'; script-src 'self') blocks inline styles, inline
    # scripts, event-handler attributes and javascript: links; the queue's risk column was
    # empty because of one such style attribute.
    blocked = re.compile(r"""\sstyle=|<script|\son[a-z]+\s*=|javascript:""", re.I)
    found = [
        f"{template.name}: {match.group(0).strip()}"
        for template in TEMPLATES
        for match in blocked.finditer(template.read_text(encoding="utf-8"))
    ]
    assert found == []
    from lendguard.kit.charts import horizontal_bars, stacked_bars

    svg = stacked_bars(["2026-03-01", "2026-03-02"], {"allow": [2, 0], "block": [1, 4]})
    svg += horizontal_bars([("a reason", 3)])
    assert blocked.search(svg) is None


def _evidence_names() -> set[str]:
    """Every name that can stand beside a reason: the feature registry, the shipped rule set's
    parameters, the score a second-pass rule reads and the list a list entry names."""
    default = Path(str(resources.files("lendguard.decisions.rules"))) / "default.yaml"
    names = set(FEATURES) | set(load_ruleset_file(default).params) | {"score", "list"}
    for rule in load_ruleset_file(default).rules:
        names |= set(rule.condition.names)
    return names


def test_every_feature_has_a_zh_cn_and_an_english_label() -> None:
    # A feature added to the registry without a label fails here (its name would show).
    cjk = re.compile(r"[\u4e00-\u9fff]")
    missing = []
    for name in sorted(_evidence_names()):
        zh, en = feature_label(name, "zh-CN"), feature_label(name, "en")
        if not zh or not cjk.search(zh):
            missing.append(f"zh-CN: {name}")
        if not en or "_" in en:
            missing.append(f"en: {name}")
    assert missing == []
    assert len(_evidence_names()) > 200
    assert feature_label("screen_share_active", "zh-CN") == "正在屏幕共享"
    assert feature_label("customer_outflow_sum_24h", "en") == (
        "customer outflow total in the last 24 hours"
    )
    assert feature_label("a_feature_nobody_named", "en") is None


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_evidence_values_read_as_words(locale: str) -> None:
    t = translator(locale)
    assert evidence_value(True, t) == ("是" if locale == "zh-CN" else "Yes")
    assert evidence_value(False, t) == ("否" if locale == "zh-CN" else "No")
    assert evidence_value("transfer", t) == ("转账" if locale == "zh-CN" else "Transfer")
    assert evidence_value(None, t) == "—"
    assert evidence_value(12000, t) == "12,000"
    assert evidence_value(0.8123456, t) == "0.8123"


def test_complaint_codes_read_as_sentences() -> None:
    # The clock's breach codes and the escalation reasons were shown as codes
    # (COMPLAINT_OVERDUE, REGULATOR_MENTION); each now has a sentence in both languages.
    codes = _clock_codes() | _escalation_reasons()
    assert {"COMPLAINT_OVERDUE", "DISP_8W_BREACH", "CFPB_FINAL_LATE", "OVERDUE"} <= codes
    for locale in LOCALES_SHOWN:
        t = translator(locale)
        for code in codes:
            sentence = t(code)
            assert sentence != code, (locale, code)
            assert not re.search(r"[A-Z]+_[A-Z]", sentence), (locale, code)
            assert " " in sentence or re.search(r"[\u4e00-\u9fff]{4}", sentence), (locale, code)


LOCALES_SHOWN = ("zh-CN", "en")


# Text on a page made of code names: snake_case (contacting_customer) or upper-case codes
# (COMPLAINT_OVERDUE, REGULATOR_MENTION).
CODE_WORD = re.compile(r"\b(?:[a-z]+(?:_[a-z]+)+|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b")


def page_text(html: str) -> str:
    """What a person reads in the page's main part: tags and attributes left out."""
    main = html.split("<main", 1)[-1].split("</main>", 1)[0]
    return re.sub(r"<[^>]+>", " ", main.split(">", 1)[-1])


@pytest.mark.usefixtures("pinned_clock")
def test_the_complaints_page_says_why_in_sentences_and_names_the_scam(case_app: Any) -> None:
    from fixtures import sign_in

    def intake(**body: Any) -> None:
        response = case_app.client.post("/v1/complaints", json=body, headers=case_app.admin)
        assert response.status_code == 201, response.text

    # received in January, undecided on 2 March (the pinned day): past every clock
    intake(
        customer_id="cust-cn",
        channel="app",
        jurisdiction="CN",
        received_at="2026-01-05T09:00:00+08:00",
        narrative="你们平台的人说放款前要先交3000元解冻费，我交了钱贷款还是没到账，我要向银保监投诉",
    )
    intake(
        customer_id="cust-us",
        channel="cfpb_portal",
        jurisdiction="US",
        received_at="2026-01-05T09:00:00-05:00",
        narrative="Your agent said I had to pay a verification fee before the loan could be "
        "released. I paid and never got the loan.",
    )
    officer = sign_in(case_app.app, case_app.services, "admin")
    expected = {
        "zh-CN": [
            ZH["COMPLAINT_OVERDUE"],
            ZH["CFPB_RESPONSE_LATE"],
            ZH["REGULATOR_MENTION"],
            ZH["REGULATOR_CHANNEL"],
            ZH["advance_fee_loan"],
        ],
        "en": [
            EN["COMPLAINT_OVERDUE"],
            EN["CFPB_RESPONSE_LATE"],
            EN["REGULATOR_MENTION"],
            EN["REGULATOR_CHANNEL"],
            EN["advance_fee_loan"],
        ],
    }
    for locale, sentences in expected.items():
        response = officer.get(f"/console/complaints?lang={locale}")
        assert response.status_code == 200
        text = page_text(response.text)
        for sentence in sentences:
            assert sentence in text, (locale, sentence)
        assert CODE_WORD.findall(text) == [], locale
    # the cue's own reason, in the page's language
    assert "放款前" in page_text(officer.get("/console/complaints?lang=zh-CN").text)
