"""Does the window-state checkpoint stall a decision? (issue #18: in-process max ≤ 10 ms)

    .venv/bin/python bench/checkpoint_stall.py --base /tmp/base-checkpoint [--rounds 3]

Runs :meth:`DecisionService.decide` in process, one caller, over the benchmark workload
(``build_workload``, 20,000 events) on a fresh SQLite database with memory state and the
default ``checkpoint_every`` (a checkpoint every 5,000 events), recording every latency. Each
run is a child process, so the code under test is whatever ``PYTHONPATH`` points at: this
tree (``head``) and, with ``--base``, another checkout (a git worktree of the commit before the
change), alternated round by round on the same machine so noise hits both alike. Prints max,
p99.9, p99, p50 and throughput per run, how long the decider was held by each checkpoint
start (the stall this bench is about, timed on its own), the collector's collections per
generation with the longest of each (a full collection over the window state is the other
stall), the median per variant, and whether both variants took the same decisions (actions
counted per kind).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HEAD_SRC = Path(__file__).resolve().parent.parent / "src"
FIGURES = ("max_us", "p999_us", "p99_us", "p50_us", "events_per_s")


def run_once(events: int) -> dict[str, Any]:
    """One measured run in this process (the child side)."""
    from lendguard.decisions import state
    from lendguard.logging import configure_logging
    from lendguard.simulate.benchmark import bench_in_process, build_workload

    configure_logging("WARNING")
    workload = build_workload(events).events()
    # The decision whose commit starts each checkpoint, timed on its own: the OS scheduler on
    # a busy VM adds its own outliers to ``max``, never to every one of these.
    at_checkpoint: list[float] = []
    original = state.MemoryStateStore.maybe_checkpoint

    def timed(store: state.MemoryStateStore) -> None:
        due = (
            store.engine is not None and store.seq - store.checkpoint_seq >= store.checkpoint_every
        )
        started = time.perf_counter()
        original(store)
        if due:
            at_checkpoint.append(round((time.perf_counter() - started) * 1e6, 1))

    state.MemoryStateStore.maybe_checkpoint = timed  # type: ignore[method-assign,assignment]
    # Every collection of the cyclic garbage collector, timed: a full one over the window
    # state is the other stall this bench looks for.
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    began = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append((time.perf_counter() - began[0]) * 1e6)

    gc.callbacks.append(on_gc)
    try:
        with tempfile.TemporaryDirectory(prefix="lendguard-ckpt-") as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            out = bench_in_process(workload, url)
    finally:
        gc.callbacks.remove(on_gc)
    result = {key: out[key] for key in (*FIGURES, "actions", "slowest", "close_s")}
    result["checkpoint_us"] = at_checkpoint
    # (The two full collections of the bench's own set-up and tear-down are included.)
    result["gc_max_us"] = {gen: round(max(p, default=0.0), 1) for gen, p in pauses.items()}
    result["gc_count"] = {gen: len(p) for gen, p in pauses.items()}
    return result


def run_child(src: Path, events: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(
        [sys.executable, __file__, "--child", "--events", str(events)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, help="checkout to compare with (its src/ is used)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_once(args.events)))
        return
    variants = {"head": HEAD_SRC}
    if args.base is not None:
        variants = {"base": args.base / "src", "head": HEAD_SRC}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for round_no in range(1, args.rounds + 1):
        for name, src in variants.items():
            out = run_child(src, args.events)
            results[name].append(out)
            slowest = ", ".join(
                f"#{s['index']} {s['us'] / 1000:.1f} ms" for s in out["slowest"][:3]
            )
            stalls = ", ".join(f"{us / 1000:.1f}" for us in out["checkpoint_us"])
            gc_line = ", ".join(
                f"gen {gen}: {out['gc_count'][gen]}, {out['gc_max_us'][gen] / 1000:.1f}"
                for gen in sorted(out["gc_count"])
            )
            print(
                f"round {round_no} {name:4}: max {out['max_us'] / 1000:7.1f} ms  "
                f"p99.9 {out['p999_us'] / 1000:6.2f} ms  p99 {out['p99_us'] / 1000:5.2f} ms  "
                f"p50 {out['p50_us'] / 1000:5.2f} ms  {out['events_per_s']:7.1f} ev/s  "
                f"close {out['close_s']:.3f} s\n    checkpoint starts (ms): {stalls}; "
                f"slowest events: {slowest}\n    collections (count, longest ms) by "
                f"generation: {gc_line}",
                flush=True,
            )
    print("\nmedian over rounds:")
    for name, runs in results.items():
        medians = {key: statistics.median(r[key] for r in runs) for key in FIGURES}
        worst_start = max(us for r in runs for us in r["checkpoint_us"]) / 1000
        print(
            f"  {name:4}: worst checkpoint start {worst_start:.2f} ms, "
            f"max {medians['max_us'] / 1000:.1f} ms, "
            f"p99.9 {medians['p999_us'] / 1000:.2f} ms, p99 {medians['p99_us'] / 1000:.2f} ms, "
            f"p50 {medians['p50_us'] / 1000:.2f} ms, {medians['events_per_s']:.1f} events/s"
        )
    actions = {name: runs[0]["actions"] for name, runs in results.items()}
    same = len({json.dumps(a, sort_keys=True) for a in actions.values()}) == 1
    print(f"\nsame actions in every variant: {same} {actions}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
