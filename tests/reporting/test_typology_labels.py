"""The report names every typology in the reader's language: a case's scam type by its name, a
reason code by what customers are told for it, anything else "another reason" — never a code."""

from __future__ import annotations

import re

from lendguard.decisions.explain import REASON_TEXT
from lendguard.reporting.service import typology_label

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_reason_code_the_engine_explains_has_a_chinese_and_an_english_name() -> None:
    for code in REASON_TEXT:
        label = typology_label(code)
        assert CJK.search(label["zh-CN"]), (code, label)
        assert label["en"], code
        assert code not in (label["en"], label["zh-CN"]), (code, label)


def test_scam_types_and_unknown_codes() -> None:
    assert typology_label("remote_control") == {
        "zh-CN": "远程控制 / 屏幕共享诈骗",
        "en": "Remote-control / screen-sharing scam",
    }
    assert typology_label("general")["zh-CN"] == "高风险交易"
    assert typology_label("NOT_A_REASON_ANYONE_WROTE") == {
        "zh-CN": "其他原因",
        "en": "Another reason",
    }
