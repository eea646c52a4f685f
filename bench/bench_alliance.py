"""The alliance's PSI against openmined.psi, and the lookup's latency, in one run.

    .venv/bin/python bench/bench_alliance.py [--sizes 100000,1000000] [--quick] [--overlap 0.1]
        [--no-openmined] [--lookup-entries 100000] [--lookup-queries 2000] [--seed 7] [--out FILE]

What it does:

1. For each size n: two sets of n canonical mobile numbers (``+861…``) with a known overlap
   (``--overlap``, default 10 %, shuffled with ``--seed``). Both sides run in this one process,
   as in the privacy reference's measurement of openmined.psi.
2. ``openmined.psi`` 2.0.6 (P-256 ECDH-PSI in C++): server and client with
   ``reveal_intersection=True``, setup with ``DataStructure.RAW`` (the server's blinded set
   sent as is: no Bloom filter or GCS false positives), request, response, intersection. Every
   protobuf is serialised and parsed back, as it would travel.
3. LendGuard (ristretto255 through libsodium, :mod:`lendguard.alliance.psi`):
   ``RequesterSession`` → ``respond`` (mode ``intersection``) → ``finish``; every list packed to
   bytes and unpacked again, as it would travel.
4. Both results are checked against the plain intersection (``correct``).
5. Lookup: a ``LookupIndex`` of ``--lookup-entries`` entries (its build time reported), then
   ``--lookup-queries`` lookups end to end in process (``lookup_query`` + ``lookup_answer`` +
   ``bucket_tags`` + ``is_hit``), half of them on the list, each timed: p50/p90/p99/max.

Wall-clock seconds, process CPU seconds (both sides: both libraries use every core: libsodium in
threads, openmined in its own), and the bytes that would travel. Prints a table and the JSON and
writes the JSON to ``var/bench/alliance.json``. ``--quick`` is 10,000 × 10,000 and 2,000 lookup
entries. The goal: LendGuard's PSI at least as fast as openmined's at every size.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson
from rich.console import Console
from rich.table import Table

from lendguard.alliance import group, psi
from lendguard.simulate.benchmark import machine_info

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "var" / "bench" / "alliance.json"
DEFAULT_SIZES = (100_000, 1_000_000)
QUICK_SIZE = 10_000
KIND = "mobile"
T = TypeVar("T")


def make_sets(n: int, overlap: float, seed: int) -> tuple[list[str], list[str], set[int]]:
    """A's and B's canonical mobile numbers (distinct within each), and the positions in A of
    the items that B also holds."""
    rng = random.Random(seed)
    shared = int(n * overlap)
    numbers = rng.sample(range(10**10), 2 * n - shared)
    as_text = [f"+861{number:010d}" for number in numbers]
    a = as_text[:n]
    b = as_text[n - shared : 2 * n - shared]
    rng.shuffle(a)
    rng.shuffle(b)
    in_b = set(b)
    truth = {i for i, value in enumerate(a) if value in in_b}
    assert len(truth) == shared
    return a, b, truth


def _timed(phases: dict[str, float], name: str, call: Callable[[], T]) -> T:
    start = time.perf_counter()
    out = call()
    phases[name] = round(time.perf_counter() - start, 3)
    return out


def run_openmined(a: list[str], b: list[str]) -> dict[str, Any]:
    try:
        import private_set_intersection.python as openmined
    except ImportError:
        return {"status": "not installed (pip install openmined.psi)"}

    phases: dict[str, float] = {}
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    client = openmined.client.CreateWithNewKey(True)
    server = openmined.server.CreateWithNewKey(True)
    setup = _timed(
        phases,
        "server_setup",
        lambda: server.CreateSetupMessage(
            1e-9, len(a), b, openmined.DataStructure.RAW
        ).SerializeToString(),
    )
    request = _timed(phases, "client_request", lambda: client.CreateRequest(a).SerializeToString())

    def answer() -> bytes:
        parsed = openmined.Request()
        parsed.ParseFromString(request)
        return bytes(server.ProcessRequest(parsed).SerializeToString())

    response = _timed(phases, "server_response", answer)

    def intersect() -> list[int]:
        setup_msg, response_msg = openmined.ServerSetup(), openmined.Response()
        setup_msg.ParseFromString(setup)
        response_msg.ParseFromString(response)
        return list(client.GetIntersection(setup_msg, response_msg))

    matched = _timed(phases, "client_intersection", intersect)
    return {
        "status": "installed",
        "version": getattr(openmined, "__version__", None),
        "seconds": round(time.perf_counter() - wall, 3),
        "cpu_seconds": round(time.process_time() - cpu, 3),
        "phases_s": phases,
        "bytes": {"setup": len(setup), "request": len(request), "response": len(response)},
        "matched": matched,
    }


def run_lendguard(a: list[str], b: list[str]) -> dict[str, Any]:
    phases: dict[str, float] = {}
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    session = psi.RequesterSession(KIND, a)
    request = _timed(phases, "requester_blind", lambda: group.pack(session.blinded()))

    def answer() -> tuple[bytes, bytes]:
        reply = psi.respond(KIND, b, group.unpack(request), "intersection")
        return group.pack(reply.double_blinded), group.pack(reply.own_blinded)

    double, own = _timed(phases, "responder", answer)
    result = _timed(
        phases,
        "requester_finish",
        lambda: session.finish(group.unpack(double), group.unpack(own), "intersection"),
    )
    return {
        "status": "installed",
        "seconds": round(time.perf_counter() - wall, 3),
        "cpu_seconds": round(time.process_time() - cpu, 3),
        "phases_s": phases,
        "bytes": {"request": len(request), "response": len(double) + len(own)},
        "matched": result.matched_indices or [],
    }


def run_size(n: int, overlap: float, seed: int, with_openmined: bool) -> dict[str, Any]:
    a, b, truth = make_sets(n, overlap, seed)
    out: dict[str, Any] = {"n": n, "overlap": len(truth)}
    runs = {"lendguard": run_lendguard(a, b)}
    if with_openmined:
        runs["openmined"] = run_openmined(a, b)
    for name, run in runs.items():
        matched = run.pop("matched", None)
        if matched is not None:
            run["correct"] = set(matched) == truth and len(matched) == len(truth)
        out[name] = run
    om = runs.get("openmined", {})
    if om.get("seconds"):
        out["openmined_to_lendguard"] = round(om["seconds"] / runs["lendguard"]["seconds"], 2)
    return out


def run_lookup(entries: int, queries: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed + 1)
    numbers = rng.sample(range(10**10), entries + queries // 2)
    listed = [f"+861{number:010d}" for number in numbers[:entries]]
    absent = [f"+861{number:010d}" for number in numbers[entries:]]
    asked = rng.sample(listed, queries - len(absent)) + absent
    expected = [True] * (queries - len(absent)) + [False] * len(absent)
    order = list(range(queries))
    rng.shuffle(order)
    k = group.scalar_from_seed(bytes(rng.getrandbits(8) for _ in range(64)))
    start = time.perf_counter()
    index = psi.LookupIndex.build(KIND, listed, k)
    build_s = time.perf_counter() - start
    latencies: list[float] = []
    wrong = 0
    for i in order:
        started = time.perf_counter()
        query = psi.lookup_query(KIND, asked[i])
        evaluated = psi.lookup_answer(k, query.blinded)
        hit = query.is_hit(evaluated, index.bucket_tags(query.bucket))
        latencies.append((time.perf_counter() - started) * 1e6)
        wrong += hit != expected[i]
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1)

    sizes = [len(tags) for tags in index.buckets.values()]
    return {
        "entries": entries,
        "queries": queries,
        "hits_expected": sum(expected),
        "correct": wrong == 0,
        "index_build_s": round(build_s, 3),
        "mean_bucket_size": round(sum(sizes) / 65536, 2),
        "max_bucket_size": max(sizes, default=0),
        "p50_us": pct(0.50),
        "p90_us": pct(0.90),
        "p99_us": pct(0.99),
        "max_us": round(latencies[-1], 1),
    }


def run_alliance(
    sizes: tuple[int, ...] = (100_000,),
    overlap: float = 0.1,
    seed: int = 7,
    with_openmined: bool = True,
    lookup_entries: int = 100_000,
    lookup_queries: int = 2_000,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """The ``alliance`` block (also called by bench/run_all.py)."""
    machine = machine_info()  # before the runs: its load average is the one at start
    psi_runs = []
    for n in sizes:
        log(f"alliance PSI {n:,} × {n:,} (LendGuard{', openmined.psi' if with_openmined else ''})")
        psi_runs.append(run_size(n, overlap, seed, with_openmined))
    log(f"alliance lookup: {lookup_queries:,} queries against {lookup_entries:,} entries")
    lookup = run_lookup(lookup_entries, lookup_queries, seed)
    measured = [r for r in psi_runs if "openmined_to_lendguard" in r]
    return {
        "machine": machine,
        "workload": {"kind": KIND, "overlap_fraction": overlap, "seed": seed},
        "psi": psi_runs,
        "lookup": lookup,
        "goal": {
            "target": "LendGuard PSI at least as fast as openmined.psi at every size",
            "met": bool(measured)
            and all(r["openmined_to_lendguard"] >= 1.0 for r in measured)
            and all(r["lendguard"].get("correct") for r in psi_runs),
        },
    }


def table(result: dict[str, Any]) -> Table:
    machine = result["machine"]
    out = Table(
        title=f"Alliance PSI, both sides in one process, {machine['cpu_model']} "
        f"× {machine['usable_cores']} usable cores"
    )
    for name in ("n × n", "library", "wall s", "CPU s", "MB sent", "correct", "× faster"):
        out.add_column(name, justify="right" if name not in ("library",) else "left")
    for run in result["psi"]:
        for lib in ("lendguard", "openmined"):
            figures = run.get(lib)
            if not figures:
                continue
            if figures.get("status") != "installed":
                out.add_row(f"{run['n']:,}", lib, figures.get("status", ""), "", "", "", "")
                continue
            sent = sum(figures["bytes"].values()) / 1e6
            ratio = run.get("openmined_to_lendguard") if lib == "lendguard" else None
            out.add_row(
                f"{run['n']:,}",
                lib,
                f"{figures['seconds']:,.2f}",
                f"{figures['cpu_seconds']:,.2f}",
                f"{sent:,.1f}",
                "yes" if figures.get("correct") else "[red]NO[/red]",
                f"{ratio:.2f}" if ratio else "",
            )
    return out


def lookup_line(lookup: dict[str, Any]) -> str:
    return (
        f"lookup, {lookup['entries']:,} entries (built in {lookup['index_build_s']} s), "
        f"{lookup['queries']:,} queries in process: p50 {lookup['p50_us']} µs, "
        f"p99 {lookup['p99_us']} µs, max {lookup['max_us']} µs, "
        f"correct: {'yes' if lookup['correct'] else 'NO'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--sizes",
        default=",".join(str(n) for n in DEFAULT_SIZES),
        help="comma-separated set sizes (each side), e.g. 100000,1000000",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_SIZE:,} × {QUICK_SIZE:,} only"
    )
    parser.add_argument("--overlap", type=float, default=0.1, help="shared fraction of each set")
    parser.add_argument("--no-openmined", dest="openmined", action="store_false")
    parser.add_argument("--lookup-entries", type=int, default=100_000)
    parser.add_argument("--lookup-queries", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON")
    args = parser.parse_args(argv)
    sizes = (QUICK_SIZE,) if args.quick else tuple(int(s) for s in args.sizes.split(",") if s)
    entries = 2_000 if args.quick else args.lookup_entries
    stderr = Console(stderr=True)
    result = run_alliance(
        sizes=sizes,
        overlap=args.overlap,
        seed=args.seed,
        with_openmined=args.openmined,
        lookup_entries=entries,
        lookup_queries=args.lookup_queries,
        log=stderr.print,
    )
    text = orjson.dumps(result, option=orjson.OPT_INDENT_2).decode()
    console = Console() if sys.stdout.isatty() else Console(width=120)
    console.print(table(result))
    console.print(lookup_line(result["lookup"]))
    console.print(
        f"goal ({result['goal']['target']}): {'met' if result['goal']['met'] else 'NOT met'}"
    )
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0 if result["goal"]["met"] or not args.openmined else 1


if __name__ == "__main__":
    raise SystemExit(main())
