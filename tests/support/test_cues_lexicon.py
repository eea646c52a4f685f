"""The cue lexicon is data (``support/cues.yaml``): how it is read, and what a malformed file does.

What the patterns find is tested in ``test_assistant.py``; here the file format: fragments,
blocks over several lines, the ordered triples, and a refusal that names the place for each
way the file can be wrong (the assistant must not start on half a lexicon).
"""

from __future__ import annotations

from importlib import resources

import pytest

from lendguard.support.cues import (
    COMPLAINT_CUES,
    CRISIS_CUES,
    CUE_KINDS,
    SCAM_CUES,
    SCAM_TYPES,
    VULNERABILITY_CUES,
    LexiconError,
    find_cues,
    load_lexicon,
)


def _lexicon(cues: str, fragments: str = "  ME: '(?:me|her)'") -> str:
    """A lexicon file with ``cues`` (YAML lines under ``scam_victim``) and no cues of the other
    kinds, so each test states only what it is about."""
    return (
        f"fragments:\n{fragments}\ncues:\n  scam_victim:\n{cues}"
        "  crisis: []\n  vulnerability: []\n  complaint: []\n"
    )


def _cue(patterns: str, extra: str = "") -> str:
    return (
        "    - name: told_to_pay\n"
        "      weight: 0.5\n"
        "      typology: other\n"
        "      reason: {zh-CN: '有人让客户付款', en: 'told to pay'}\n"
        "      patterns:\n" + patterns + extra
    )


def test_the_shipped_lexicon_is_read_once_per_kind_in_file_order() -> None:
    shipped = resources.files("lendguard.support").joinpath("cues.yaml").read_text("utf-8")
    again = load_lexicon(shipped)
    assert [c.name for c in again["scam_victim"]] == [c.name for c in SCAM_CUES]
    assert again["crisis"] == CRISIS_CUES
    assert set(again) == set(CUE_KINDS)
    # 22 of a victim's account, 10 of the script; nothing derived from the research-only corpus
    assert len(SCAM_CUES) == 32
    assert [len(VULNERABILITY_CUES), len(CRISIS_CUES), len(COMPLAINT_CUES)] == [4, 1, 1]
    for kind, cues in again.items():
        assert {c.kind for c in cues} <= {kind}
    assert {c.typology for c in SCAM_CUES} - {None} <= set(SCAM_TYPES)
    # the fragments are spelled out: no {NAME} is left for the regex engine to read literally
    for cue in (*SCAM_CUES, *CRISIS_CUES, *VULNERABILITY_CUES, *COMPLAINT_CUES):
        for pattern in (*cue.patterns, *cue.unless):
            assert "{ME_ZH}" not in pattern.pattern
            assert "{THEY_ZH}" not in pattern.pattern


def test_fragments_blocks_and_ordered_triples_become_patterns() -> None:
    text = _lexicon(
        _cue(
            "        - 'told {ME} to pay'\n"
            "        - |-\n"
            "          (?:send|wire)\\s+\n"
            "          (?:the )?money\n"
            "        - ordered: [A, B, C]\n"
            "          gap: 5\n",
            "      unless:\n        - 'police'\n",
        ),
        fragments="  ME: '(?:me|her)'\n  A: 'a{ME}'\n  B: 'b'\n  C: 'c'",
    )
    (cue,) = load_lexicon(text)["scam_victim"]
    patterns = [p.pattern for p in cue.patterns]
    assert patterns[0] == "told (?:me|her) to pay"
    assert patterns[1] == "(?:send|wire)\\s+(?:the )?money"  # the line break is not part of it
    assert patterns[2:] == [
        "a(?:me|her).{0,5}b.{0,5}c",
        "a(?:me|her).{0,5}c.{0,5}b",
        "b.{0,5}a(?:me|her).{0,5}c",
        "b.{0,5}c.{0,5}a(?:me|her)",
        "c.{0,5}a(?:me|her).{0,5}b",
        "c.{0,5}b.{0,5}a(?:me|her)",
    ]
    assert cue.scripts[:2] == ("latin", "latin")
    assert [g.pattern for g in cue.unless] == ["police"]
    assert (cue.weight, cue.typology, cue.reason("zh-CN")) == (0.5, "other", "有人让客户付款")
    hits = find_cues("They told her to pay now", (cue,))
    assert [(h.cue.name, h.evidence) for h in hits] == [("told_to_pay", "told her to pay")]
    assert find_cues("the police told her to pay", (cue,)) == []


@pytest.mark.parametrize(
    ("patterns", "extra", "place"),
    [
        (
            "        - 'told {YOU} to pay'\n",
            "",
            "cues.scam_victim[0].patterns[0]: unknown fragment",
        ),
        ("        - 'Told me'\n", "", "upper-case letter"),
        ("        - '(?:unclosed'\n", "", "cues.scam_victim[0].patterns[0]"),
        ("        - ordered: [ME, ME]\n          gap: 3\n", "", "patterns[0]: expected {ordered"),
        ("        - ordered: [ME, ME, X]\n          gap: 3\n", "", "unknown fragments ['X']"),
        ("        - ordered: [ME, ME, ME]\n          gap: -1\n", "", "gap: expected a whole"),
        ("        - ''\n", "", "patterns[0]: expected a pattern"),
        ("        []\n", "", "a cue needs at least one pattern"),
        ("        - 'pay'\n", "      colour: red\n", "unknown fields ['colour']"),
    ],
)
def test_a_malformed_cue_is_refused_naming_the_place(patterns: str, extra: str, place: str) -> None:
    with pytest.raises(LexiconError, match="cues.yaml") as refused:
        load_lexicon(_lexicon(_cue(patterns, extra)))
    assert place in str(refused.value)


@pytest.mark.parametrize(
    ("change", "place"),
    [
        (("weight: 0.5", "weight: 1.5"), "weight: expected a number in (0, 1]"),
        (("weight: 0.5", "weight: true"), "weight: expected a number"),
        (("typology: other", "typology: lottery"), "typology: one of"),
        (("en: 'told to pay'", "fr: 'payer'"), "reason: expected zh-CN and en"),
    ],
)
def test_a_cue_with_a_wrong_field_is_refused(change: tuple[str, str], place: str) -> None:
    text = _lexicon(_cue("        - 'pay'\n")).replace(*change)
    with pytest.raises(LexiconError, match="cues.scam_victim") as refused:
        load_lexicon(text)
    assert place in str(refused.value)


def test_a_file_without_every_kind_or_with_a_name_twice_is_refused() -> None:
    one = _cue("        - 'pay'\n")
    with pytest.raises(LexiconError, match="named twice"):
        load_lexicon(_lexicon(one + one))
    missing_kind = _lexicon(one).replace("  complaint: []\n", "")
    with pytest.raises(LexiconError, match="expected the kinds"):
        load_lexicon(missing_kind)
    with pytest.raises(LexiconError, match="fragment names are UPPER_CASE"):
        load_lexicon(_lexicon(one, fragments="  me: 'me'"))
    with pytest.raises(LexiconError, match="expected 'fragments' and 'cues'"):
        load_lexicon("cues: {}\n")
    with pytest.raises(LexiconError, match="cues.yaml: not YAML"):
        load_lexicon("cues: [\n")
