"""Profile the in-process decision path (``DecisionService.decide`` on SQLite) with cProfile.

    .venv/bin/python bench/profile_in_process.py [--events 20000] [--top 30] [--engine-only]

Prints the top functions by own time and by cumulative time, and the time per area (SQL and
SQLAlchemy, pydantic, features, rules, hashing and JSON, ...), so the hot path can be optimised.
``--out FILE`` also writes the raw profile (open it with ``python -m pstats FILE`` or snakeviz).
Profiling slows Python code down several times: use the shares, not the absolute figures.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from lendguard.logging import configure_logging
from lendguard.simulate.benchmark import bench_engine_only, build_workload

AREAS = [
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
    return "other (" + filename.rsplit("/site-packages/", 1)[-1].split("/", 1)[0] + ")"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--engine-only", action="store_true", help="profile the engine loop")
    parser.add_argument("--out", type=Path, help="write the raw profile here")
    args = parser.parse_args()

    configure_logging("WARNING")
    workload = build_workload(args.events, args.seed)
    events = workload.events()
    profile = cProfile.Profile()
    started = time.perf_counter()
    if args.engine_only:
        profile.enable()
        bench_engine_only(events)
        profile.disable()
    else:
        from lendguard.db import make_engine, upgrade
        from lendguard.decisions.service import DecisionService
        from lendguard.decisions.state import MemoryStateStore
        from lendguard.graph.index import LinkIndex

        with tempfile.TemporaryDirectory(prefix="lendguard-profile-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'profile.db'}"
            upgrade(url)
            engine = make_engine(url)
            service = DecisionService(engine, MemoryStateStore(engine), link_index=LinkIndex)
            service.start()
            profile.enable()
            for event in events:
                service.decide(event)
            profile.disable()
            service.close()
            engine.dispose()
    elapsed = time.perf_counter() - started
    what = "engine loop" if args.engine_only else "DecisionService.decide (SQLite)"
    print(f"profiled {what}: {len(events)} events in {elapsed:.1f} s (with profiler overhead)\n")

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
        print(f"{label:<52}{tt / total:>8.1%}{tt / len(events) * 1e6:>10.1f}")
    print()
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
