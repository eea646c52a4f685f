"""PII masking throughput on short texts, one process, one thread.

    .venv/bin/python bench/pii_masking.py [--texts 100000] [--seed 7] [--repeats 3]
        [--presidio-texts 20000] [--out FILE]

What it does:

1. builds ``--texts`` short texts (seeded): 70% clean chat and complaint lines in Chinese and
   English (many with harmless digits: amounts, days, times, dates, order counts), 30% with one
   or two items among a resident ID (18- or 15-digit), a mobile number (plain, ``+86``, with
   spaces or hyphens), a Luhn-valid bank card (UnionPay 16-19 digits, contiguous or grouped), an
   e-mail address and an IP address;
2. checks the detections (every PII text has a finding; how many clean texts were flagged);
3. times ``mask_text`` over all texts ``--repeats`` times after a warm-up and reports the best
   and median run in texts/s (wall clock and CPU time of this process: the figure per core),
   then ``scan`` alone and the ``hash`` operator;
4. if ``presidio_analyzer`` is importable, builds its pattern-only engine (the ``no_op`` NLP
   engine, no model) with recognizers for the same types (CN resident ID with MOD 11-2, CN
   mobile, bank card with Luhn, e-mail, IP) and times ``analyze`` (plus ``anonymize`` when
   ``presidio_anonymizer`` is there) on the first ``--presidio-texts`` texts, with ours on the
   same texts in the same run; otherwise it reports "not installed".

Prints one JSON document; the goal is at least 20,000 texts/s per core for ``mask_text``.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

from lendguard.privacy.pii import (
    PiiMasker,
    luhn_valid,
    mask_text,
    resident_id_check_char,
    scan,
)
from lendguard.simulate.benchmark import machine_info

GOAL_TEXTS_PER_S = 20_000
REGIONS = ["110105", "310104", "440305", "440524", "340524", "370101", "510107", "620102"]
CLEAN = [
    "您好，请问我的借款什么时候到账？",
    "我已经还了{amount}元，为什么还显示逾期",
    "客服你好，APP一直打不开，登录不了",
    "能不能延期{days}天还款？最近手头有点紧",
    "昨天{time}有人打电话说是你们公司的，要我转账，是真的吗",
    "利息怎么算的？借{amount}元分{days}期",
    "请不要再给我单位打电话了，谢谢",
    "我要投诉催收人员态度太差",
    "订单{days}天后到期，提前还款有手续费吗",
    "{date}的那笔扣款失败了，请帮我看一下",
    "Hi, I paid {amount} yuan yesterday but it still shows overdue",
    "Please stop calling me at work, it is very embarrassing",
    "How is the APR calculated for a {days}-month loan?",
    "The app says my application was rejected, can you tell me why?",
    "Someone called me at {time} asking me to move money to a safe account",
    "I want to close my account and delete my data",
    "好的，收到",
    "谢谢！",
]
WITH_PII = [
    "我的身份证号是{id}，请帮我查一下",
    "手机{mobile}，有问题请联系我",
    "请把钱打到卡号{card}，谢谢",
    "你们的催收打我{mobile}一天十几次，我要投诉",
    "邮箱{email}，请把合同发给我",
    "登录异常，IP是{ip}，不是我本人",
    "Please call me on {mobile} after 6pm",
    "My card {card} was charged twice",
    "姓名张三，身份证{id}，手机{mobile}",
    "退款请退到{card}，联系电话{mobile}",
    "ID {id}, email {email}",
    "客户{mobile}反映卡{card}被盗刷",
]


def _resident_id(rng: random.Random) -> str:
    born = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))
    if rng.random() < 0.1:  # the 15-digit legacy form
        return f"{rng.choice(REGIONS)}{born:%y%m%d}{rng.randrange(1000):03d}"
    first17 = f"{rng.choice(REGIONS)}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + resident_id_check_char(first17)


def _mobile(rng: random.Random) -> str:
    head = f"1{rng.choice('3456789')}{rng.randrange(10)}"
    a, b = f"{rng.randrange(10_000):04d}", f"{rng.randrange(10_000):04d}"
    prefix = rng.choice(["", "", "", "+86 ", "+86", "0086"])
    sep = rng.choice(["", "", "", " ", "-"])
    return f"{prefix}{head}{sep}{a}{sep}{b}"


def _card(rng: random.Random) -> str:
    length = rng.choice([16, 16, 17, 19])
    partial = "62" + "".join(str(rng.randrange(10)) for _ in range(length - 3))
    digits = next(partial + d for d in "0123456789" if luhn_valid(partial + d))
    if rng.random() < 0.3:
        return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))
    return digits


def _fill(template: str, rng: random.Random) -> str:
    values = {
        "amount": str(rng.choice([200, 500, 1_000, 3_000, 12_000])),
        "days": str(rng.choice([3, 7, 12, 30])),
        "time": f"{rng.randrange(8, 22)}:{rng.randrange(60):02d}",
        "date": f"2026-0{rng.randrange(1, 10)}-{rng.randrange(10, 29)}",
        "id": _resident_id(rng),
        "mobile": _mobile(rng),
        "card": _card(rng),
        "email": f"user{rng.randrange(1000)}@example.com",
        "ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
    }
    return template.format(**values)


def make_texts(n: int, seed: int) -> tuple[list[str], list[bool]]:
    """``n`` texts and, for each, whether it holds personal information."""
    rng = random.Random(seed)
    texts, has_pii = [], []
    for _ in range(n):
        pii = rng.random() < 0.3
        texts.append(_fill(rng.choice(WITH_PII if pii else CLEAN), rng))
        has_pii.append(pii)
    return texts, has_pii


def _time(fn: Callable[[str], object], texts: list[str], repeats: int) -> dict[str, Any]:
    for text in texts[:2_000]:  # warm-up
        fn(text)
    walls, cpus = [], []
    for _ in range(repeats):
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        for text in texts:
            fn(text)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    n = len(texts)
    return {
        "texts": n,
        "repeats": repeats,
        "texts_per_s_best": round(n / min(walls)),
        "texts_per_s_median": round(n / statistics.median(walls)),
        "texts_per_cpu_s_median": round(n / statistics.median(cpus)),
        "us_per_text_median": round(statistics.median(walls) / n * 1e6, 2),
    }


def _presidio(texts: list[str], repeats: int) -> dict[str, Any]:
    try:
        from presidio_analyzer import (
            AnalyzerEngine,
            Pattern,
            PatternRecognizer,
            RecognizerRegistry,
        )
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_analyzer.predefined_recognizers import EmailRecognizer, IpRecognizer
    except ImportError:
        return {"status": "not installed"}
    from importlib.metadata import version

    class CnIdRecognizer(PatternRecognizer):  # type: ignore[misc]
        def validate_result(self, pattern_text: str) -> bool:
            value = pattern_text.upper()
            return resident_id_check_char(value[:17]) == value[17]

    class CardRecognizer(PatternRecognizer):  # type: ignore[misc]
        def validate_result(self, pattern_text: str) -> bool:
            return luhn_valid("".join(c for c in pattern_text if c.isdigit()))

    d = r"(?<![0-9A-Za-z])"
    e = r"(?![0-9A-Za-z])"
    recognizers = [
        CnIdRecognizer(
            supported_entity="CN_RESIDENT_ID",
            supported_language="zh",
            patterns=[
                Pattern(
                    "id18",
                    d + r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
                    r"\d{3}[\dXx]" + e,
                    0.5,
                )
            ],
        ),
        PatternRecognizer(
            supported_entity="CN_MOBILE",
            supported_language="zh",
            patterns=[
                Pattern(
                    "mobile",
                    d + r"(?:(?:\+|00)?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}" + e,
                    0.6,
                )
            ],
        ),
        CardRecognizer(
            supported_entity="BANK_CARD",
            supported_language="zh",
            patterns=[
                Pattern(
                    "card",
                    d + r"(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,4})?)" + e,
                    0.5,
                )
            ],
        ),
        EmailRecognizer(supported_language="zh"),
        IpRecognizer(supported_language="zh"),
    ]
    registry = RecognizerRegistry(supported_languages=["zh"])
    for recognizer in recognizers:
        registry.add_recognizer(recognizer)
    started = time.perf_counter()
    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "no_op",
            "models": [{"lang_code": "zh", "model_name": "no_op"}],
        }
    )
    engine = AnalyzerEngine(
        nlp_engine=provider.create_engine(), registry=registry, supported_languages=["zh"]
    )
    build_s = time.perf_counter() - started

    def analyze(text: str) -> object:
        return engine.analyze(text, language="zh")

    result: dict[str, Any] = {
        "status": "installed",
        "version": version("presidio-analyzer"),
        "engine_build_s": round(build_s, 3),
        "texts_with_findings": sum(1 for t in texts if analyze(t)),
        "analyze": _time(analyze, texts, repeats),
    }
    try:
        from presidio_anonymizer import AnonymizerEngine
    except ImportError:
        result["anonymize"] = "presidio_anonymizer not installed"
        return result
    anonymizer = AnonymizerEngine()

    def analyze_and_mask(text: str) -> object:
        found = engine.analyze(text, language="zh")
        return anonymizer.anonymize(text=text, analyzer_results=found).text if found else text

    result["analyze_and_anonymize"] = _time(analyze_and_mask, texts, repeats)
    return result


def run_pii_masking(
    n_texts: int = 100_000, seed: int = 7, repeats: int = 3, presidio_texts: int = 20_000
) -> dict[str, Any]:
    texts, has_pii = make_texts(n_texts, seed)
    found = [bool(scan(t)) for t in texts]
    missed = sum(1 for f, p in zip(found, has_pii, strict=True) if p and not f)
    flagged = sum(1 for f, p in zip(found, has_pii, strict=True) if f and not p)
    masker = PiiMasker("bench-pii-key")
    mask = _time(mask_text, texts, repeats)
    subset = texts[:presidio_texts]
    return {
        "machine": machine_info(),
        "workload": {
            "texts": n_texts,
            "seed": seed,
            "with_pii": sum(has_pii),
            "mean_chars": round(sum(len(t) for t in texts) / n_texts, 1),
        },
        "detection": {"pii_texts_missed": missed, "clean_texts_flagged": flagged},
        "mask": mask,
        "scan": _time(scan, texts, repeats),
        "hash": _time(lambda t: masker.apply(t, "hash"), texts, repeats),
        "same_texts_as_presidio": {
            "texts": len(subset),
            "texts_with_findings": sum(found[: len(subset)]),
            "mask": _time(mask_text, subset, repeats),
            "scan": _time(scan, subset, repeats),
        },
        "presidio": _presidio(subset, repeats),
        "goal": {
            "target_texts_per_s": GOAL_TEXTS_PER_S,
            "measured_texts_per_s": mask["texts_per_s_median"],
            "met": mask["texts_per_s_median"] >= GOAL_TEXTS_PER_S,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--presidio-texts", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    result = run_pii_masking(args.texts, args.seed, args.repeats, args.presidio_texts)
    text = orjson.dumps(result, option=orjson.OPT_INDENT_2).decode()
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0 if result["goal"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
