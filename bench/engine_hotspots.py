"""Engine-only speed against an earlier commit, decisions checked identical, and a profile.

Why a separate script: ``make bench`` measures every path at once and takes minutes; engine work
needs a quick, repeatable answer to "is this faster than before, and does it still decide the
same?". On a shared, noisy VM only a comparison inside one run means anything, so the script runs
the base (``--base``: the ``src`` folder of a git worktree at the earlier commit) and the working
tree in alternating child processes on the same events.

    git worktree add /tmp/base <commit>
    .venv/bin/python bench/engine_hotspots.py compare --base /tmp/base/src --rounds 3
    .venv/bin/python bench/engine_hotspots.py check --base /tmp/base/src
    .venv/bin/python bench/engine_hotspots.py profile --top 30

``check`` decides every event engine-only on both trees and compares action, score, reasons
(with the feature values they quote), measures, messages and guardrails per event, plus every
entity's final window (times, kinds, amounts, counterparts, event ids, known counterparts and
truncation; ``stats`` without keys only the newer tree writes).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgpack

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_EVENTS = 20_000


def _setup(n_events: int) -> tuple[Any, ...]:
    from lendguard.decisions.engine import evaluate
    from lendguard.decisions.features.compute import apply_event, open_context
    from lendguard.decisions.policy import ListsView
    from lendguard.decisions.rules.loader import parse_ruleset
    from lendguard.decisions.service import default_ruleset_text
    from lendguard.simulate.benchmark import build_workload

    events = build_workload(n_events).events()
    ruleset = parse_ruleset(default_ruleset_text(), file="default.yaml")
    return events, ruleset, ListsView(), evaluate, open_context, apply_event


def _decide_all(n_events: int, keep: bool) -> dict[str, Any]:
    """The loop of ``bench_engine_only``: features, rules, policy, state and graph updates."""
    import gc

    from lendguard.decisions.state import MemoryStateStore
    from lendguard.graph.index import LinkIndex

    events, ruleset, lists, evaluate, open_context, apply_event = _setup(n_events)
    store = MemoryStateStore(engine=None)
    graph = LinkIndex()
    decisions: list[tuple[Any, ...]] = []
    gc.collect()
    gc.freeze()
    started = time.process_time()
    for i, event in enumerate(events):
        ctx = open_context(event, store.load, graph)
        result = evaluate(ctx, ruleset, lists)
        apply_event(event, ctx.states, ctx)
        store.save(ctx.states.by_key, i + 1)
        if keep:
            decisions.append(
                (
                    result.action.value,
                    result.score,
                    [r.as_dict() for r in result.reasons],
                    [m.value for m in result.measures],
                    result.messages,
                    result.guardrails,
                )
            )
    cpu_s = time.process_time() - started
    gc.unfreeze()
    out: dict[str, Any] = {"events": len(events), "cpu_s": cpu_s, "per_s": len(events) / cpu_s}
    if keep:
        out["decisions"] = decisions
        out["states"] = {key: _window_digest(state) for key, state in store.states.items()}
    return out


# Keys of ``EntityState.stats`` that caches of the newer tree add (derived, not window content).
_DERIVED_STATS = ("last_at",)


def _window_digest(state: Any) -> str:
    stats = {k: v for k, v in state.stats.items() if k not in _DERIVED_STATS}
    blob = msgpack.packb(
        [
            state.ts,
            state.kind,
            state.amount,
            state.other,
            state.event_ids,
            state.known,
            stats,
            state.truncated,
        ],
        use_bin_type=True,
    )
    return hashlib.sha256(blob).hexdigest()


def _child(src: str, mode: str, n_events: int) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=src)
    done = subprocess.run(
        [sys.executable, __file__, "_child", mode, str(n_events)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def compare(base: str, head: str, rounds: int, n_events: int) -> None:
    rates: dict[str, list[float]] = {"base": [], "head": []}
    for n in range(rounds):
        order = (("base", base), ("head", head)) if n % 2 == 0 else (("head", head), ("base", base))
        for name, src in order:
            rates[name].append(_child(src, "time", n_events)["per_s"])
    for name, values in rates.items():
        print(f"{name}: " + ", ".join(f"{v:,.0f}/s" for v in values))
    ratios = [h / b for h, b in zip(rates["head"], rates["base"], strict=True)]
    best = max(rates["head"]) / max(rates["base"])
    print("head/base per round: " + ", ".join(f"{r:.3f}" for r in ratios))
    print(f"head/base best-of: {best:.3f}")


def check(base: str, head: str, n_events: int) -> int:
    old = _child(base, "decide", n_events)
    new = _child(head, "decide", n_events)
    differ = [
        i for i, (a, b) in enumerate(zip(old["decisions"], new["decisions"], strict=True)) if a != b
    ]
    state_diff = sorted(
        k
        for k in set(old["states"]) | set(new["states"])
        if old["states"].get(k) != new["states"].get(k)
    )
    print(
        f"events: {old['events']}; decisions differing: {len(differ)}; "
        f"states differing: {len(state_diff)}"
    )
    for i in differ[:10]:
        print(f"  event {i}: base {old['decisions'][i]} head {new['decisions'][i]}")
    for key in state_diff[:10]:
        print(f"  state {key}")
    return 1 if differ or state_diff else 0


def profile(n_events: int, top: int) -> None:
    """cProfile of the decide loop only: imports, workload and rule parsing happen before."""
    import gc

    from lendguard.decisions.state import MemoryStateStore
    from lendguard.graph.index import LinkIndex

    events, ruleset, lists, evaluate, open_context, apply_event = _setup(n_events)
    store = MemoryStateStore(engine=None)
    graph = LinkIndex()
    gc.collect()
    gc.freeze()
    profiler = cProfile.Profile()
    profiler.enable()
    for i, event in enumerate(events):
        ctx = open_context(event, store.load, graph)
        evaluate(ctx, ruleset, lists)
        apply_event(event, ctx.states, ctx)
        store.save(ctx.states.by_key, i + 1)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("compare", "check", "profile"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--events", type=int, default=DEFAULT_EVENTS)
        if name != "profile":
            cmd.add_argument("--base", required=True, help="src folder of the earlier commit")
            cmd.add_argument(
                "--head",
                default=str(ROOT / "src"),
                help="src folder under test (default: this tree's; another folder keeps edits "
                "others have in progress out of the figure)",
            )
        if name == "compare":
            cmd.add_argument("--rounds", type=int, default=3)
        if name == "profile":
            cmd.add_argument("--top", type=int, default=30)
    child = sub.add_parser("_child")
    child.add_argument("mode", choices=("time", "decide"))
    child.add_argument("events", type=int)
    args = parser.parse_args()
    if args.command == "_child":
        print(json.dumps(_decide_all(args.events, keep=args.mode == "decide")))
        return 0
    if args.command == "compare":
        compare(args.base, args.head, args.rounds, args.events)
        return 0
    if args.command == "check":
        return check(args.base, args.head, args.events)
    profile(args.events, args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
