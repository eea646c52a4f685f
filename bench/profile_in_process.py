"""Profile the in-process decision path (``DecisionService.decide`` on SQLite) with cProfile.

    .venv/bin/python bench/profile_in_process.py [--events 20000] [--top 30] [--engine-only]
                                                 [--warm 200]

Prints the top functions by own time and by cumulative time, and the time per area (SQL and
SQLAlchemy, pydantic, features, rules, hashing and JSON, ...), so the hot path can be optimised.
Only the steady state is profiled: everything is imported and built (rule set, stores, the
service and its database) and the first ``--warm`` events are decided before the profiler starts,
so module loading and first-call set-up stay out of the figures (the "imports" area shows what is
left of them: ~0).
``--out FILE`` also writes the raw profile (open it with ``python -m pstats FILE`` or snakeviz).
Profiling slows Python code down several times: use the shares, not the absolute figures.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from lendguard.db import make_engine, upgrade
from lendguard.decisions.engine import evaluate
from lendguard.decisions.features.compute import apply_event, open_context
from lendguard.decisions.policy import ListsView
from lendguard.decisions.rules.loader import parse_ruleset
from lendguard.decisions.service import DecisionService, default_ruleset_text
from lendguard.decisions.state import MemoryStateStore
from lendguard.events.schemas import Event
from lendguard.graph.index import LinkIndex
from lendguard.logging import configure_logging
from lendguard.simulate.benchmark import build_workload

AREAS = [
    ("<frozen importlib", "imports (module loading)"),
    ("importlib/", "imports (module loading)"),
    ("lendguard/decisions/features", "features (window aggregates, profile, state)"),
    ("lendguard/decisions/rules", "rule expressions and messages"),
    ("lendguard/decisions/engine", "engine (evaluate, reasons)"),
    ("lendguard/decisions/policy", "policy and guardrails"),
    ("lendguard/decisions/repository", "repository (SQL statements)"),
    ("lendguard/decisions/state", "state store"),
    ("lendguard/decisions/service", "service (decide itself)"),
    ("lendguard/models", "column types (JSON, UTC datetimes)"),
    ("lendguard/", "other lendguard"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("pydantic", "pydantic (model_dump)"),
    ("sqlite3", "sqlite3 driver"),
    ("orjson", "orjson"),
    ("json/", "stdlib json"),
    ("hashlib", "hashlib"),
]


def _area(filename: str, name: str) -> str:
    for needle, label in AREAS:
        if needle in filename or needle in name:
            return label
    if filename == "~":
        if any(k in name for k in ("sqlite3", "execute", "commit", "cursor")):
            return "sqlite3 driver"
        if "orjson" in name or "dumps" in name or "loads" in name:
            return "orjson"
        if "sha256" in name or "hexdigest" in name:
            return "hashlib"
        return "builtins"
    if "/site-packages/" in filename:
        return "other (" + filename.rsplit("/site-packages/", 1)[1].split("/", 1)[0] + ")"
    return "other (" + Path(filename).name + ")"


def _profile_engine(events: list[Event], warm: int, profile: cProfile.Profile) -> None:
    """The engine-only loop of ``bench_engine_only``, set up and warmed outside the profiler."""
    ruleset = parse_ruleset(default_ruleset_text(), file="default.yaml")
    store = MemoryStateStore(engine=None)
    graph = LinkIndex()
    lists = ListsView()

    def decide(i: int, event: Event) -> None:
        ctx = open_context(event, store.load, graph)
        evaluate(ctx, ruleset, lists)
        apply_event(event, ctx.states, ctx)
        store.save(ctx.states.by_key, i + 1)

    for i, event in enumerate(events[:warm]):
        decide(i, event)
    # As bench_engine_only does (_quiet_gc): the pre-built workload is frozen out of the
    # collector, so full collections scanning it are not charged to whichever engine function
    # happened to allocate when they ran.
    gc.collect()
    gc.freeze()
    try:
        profile.enable()
        for i, event in enumerate(events[warm:], start=warm):
            decide(i, event)
        profile.disable()
    finally:
        gc.unfreeze()


def _profile_service(events: list[Event], warm: int, profile: cProfile.Profile) -> None:
    """``DecisionService.decide`` on a fresh SQLite file, started and warmed before profiling."""
    with tempfile.TemporaryDirectory(prefix="lendguard-profile-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'profile.db'}"
        upgrade(url)
        engine = make_engine(url)
        service = DecisionService(engine, MemoryStateStore(engine), link_index=LinkIndex)
        service.start()
        try:
            for event in events[:warm]:
                service.decide(event)
            profile.enable()
            for event in events[warm:]:
                service.decide(event)
            profile.disable()
        finally:
            service.close()
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--engine-only", action="store_true", help="profile the engine loop")
    parser.add_argument(
        "--warm", type=int, default=200, help="events decided before the profiler starts"
    )
    parser.add_argument("--out", type=Path, help="write the raw profile here")
    args = parser.parse_args()

    configure_logging("WARNING")
    workload = build_workload(args.events, args.seed)
    events = workload.events()
    warm = max(0, min(args.warm, len(events) - 1))
    profile = cProfile.Profile()
    started = time.perf_counter()
    if args.engine_only:
        _profile_engine(events, warm, profile)
    else:
        _profile_service(events, warm, profile)
    elapsed = time.perf_counter() - started
    profiled = len(events) - warm
    what = "engine loop" if args.engine_only else "DecisionService.decide (SQLite)"
    print(
        f"profiled {what}: {profiled} events after {warm} warm-up events, "
        f"{elapsed:.1f} s in all (with profiler overhead)\n"
    )

    stats = pstats.Stats(profile)
    if args.out:
        stats.dump_stats(str(args.out))
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, tt, _, _) in raw.values())
    by_area: dict[str, float] = defaultdict(float)
    for (filename, _line, name), (_cc, _nc, tt, _ct, _callers) in raw.items():
        by_area[_area(filename, name)] += tt
    print(f"{'own time by area':<52}{'share':>8}{'µs/event':>10}")
    for label, tt in sorted(by_area.items(), key=lambda kv: -kv[1]):
        print(f"{label:<52}{tt / total:>8.1%}{tt / profiled * 1e6:>10.1f}")
    imports = by_area.get("imports (module loading)", 0.0)
    print(
        f"\nmodule loading inside the profile: {imports / total:.1%} (imports happen before it)\n"
    )
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
