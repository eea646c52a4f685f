"""Agent-assistant latency: ``Assistant.analyze`` on one message at a time, on one core.

    .venv/bin/python bench/assistant.py [--model DIR | --train] [--messages 3000] [--seed 7]
        [--out FILE]

What it does:

1. pins the process to one CPU core (``sched_setaffinity``) and one thread for BLAS, OpenMP and
   torch, so the figure is per core;
2. loads the assistant: ``--model DIR`` (a folder written by ``lendguard assistant train``),
   ``--train`` (trains the pure TF-IDF model on ``../shared/data/banking77/train.csv`` plus the
   shipped lending intents into ``var/assistant-bench/model`` first, or reuses it), or the
   built-in model when neither is given;
3. builds ``--messages`` messages: BANKING77 questions (when the file is there), the shipped
   lending intents, out-of-scope questions and the scam/normal paraphrase set, zh-CN and en;
4. warms up, then times each full ``assistant.analyze(text)`` (intent with the gate, scam and
   vulnerability cues, complaint, knowledge-base retrieval, the JSON-ready dict);
5. as the reference, under the same conditions, times the bare TF-IDF transform of the same
   message (the first step of the intent model).

Prints one JSON document: p50/p90/p99/max in milliseconds for both, and the goal (p99 ≤ 20 ms).
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402 (thread settings first)
import orjson  # noqa: E402 (thread settings first)

from lendguard.simulate.benchmark import machine_info  # noqa: E402 (thread settings first)
from lendguard.support import intents as intent_models  # noqa: E402 (thread settings first)
from lendguard.support.assistant import Assistant, get_assistant  # noqa: E402 (thread settings first)

BANKING77 = Path("../shared/data/banking77/train.csv")
BENCH_MODEL = Path("var/assistant-bench/model")
GOAL_P99_MS = 20.0


def _pin_one_core() -> int | None:
    try:
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[0]})
        return cores[0]
    except (AttributeError, OSError):  # not Linux
        return None


def _shipped(name: str) -> list[str]:
    with open(intent_models.shipped_path(name), encoding="utf-8", newline="") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


def messages(count: int, seed: int) -> list[str]:
    pool = (
        _shipped("intents_lending.csv")
        + _shipped("eval_out_of_scope.csv")
        + _shipped("scam_victim_paraphrases.csv")
        + _shipped("eval_scam_paraphrases_holdout.csv")
    )
    if BANKING77.exists():
        pool += [e.text for e in intent_models.read_examples(BANKING77)]
    rng = random.Random(seed)
    return [rng.choice(pool) for _ in range(count)]


def _percentiles(samples: list[float]) -> dict[str, float]:
    values = np.array(samples) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 3),
        "p90_ms": round(float(np.percentile(values, 90)), 3),
        "p99_ms": round(float(np.percentile(values, 99)), 3),
        "max_ms": round(float(values.max()), 3),
        "mean_ms": round(float(values.mean()), 3),
    }


def load_assistant(model: Path | None, train: bool) -> Assistant:
    if model is None and train:
        if not (BENCH_MODEL / intent_models.MANIFEST).exists():
            if not BANKING77.exists():
                raise SystemExit(f"{BANKING77} not found: cannot --train")
            trained, card = intent_models.train(intent_models.read_examples(BANKING77))
            intent_models.save(trained, card, BENCH_MODEL)
        model = BENCH_MODEL
    return get_assistant(model)


def run_assistant_bench(
    model: Path | None = None, train: bool = False, count: int = 3000, seed: int = 7
) -> dict[str, Any]:
    core = _pin_one_core()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    assistant = load_assistant(model, train)
    texts = messages(count, seed)
    for text in texts[:200]:  # warm-up: caches, lazy imports, branch predictors
        assistant.analyze(text)
    gc.collect()
    full: list[float] = []
    bare: list[float] = []
    features = assistant.intents.features
    clock = time.perf_counter
    for text in texts:
        started = clock()
        assistant.analyze(text).as_dict()
        full.append(clock() - started)
        started = clock()
        features.transform([text])
        bare.append(clock() - started)
    analyze = _percentiles(full)
    return {
        "machine": machine_info(),
        "pinned_core": core,
        "messages": len(texts),
        "models": assistant.models,
        "analyze": analyze,
        "reference_tfidf_transform": _percentiles(bare),
        "goal": {"p99_ms_at_most": GOAL_P99_MS, "met": analyze["p99_ms"] <= GOAL_P99_MS},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = run_assistant_bench(args.model, args.train, args.messages, args.seed)
    text = orjson.dumps(result, option=orjson.OPT_INDENT_2).decode()
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    sys.exit(0)


if __name__ == "__main__":
    main()
