"""Run every benchmark block (``make bench``), print a table and the JSON, keep the JSON.

    .venv/bin/python bench/run_all.py [--events 20000] [--no-http] [--concurrency 8]
                                      [--client raw|httpx] [--seed 7] [--out FILE] [--quiet]
                                      [--no-console-queue] [--no-pii] [--no-graph-scale]
                                      [--no-graph-features] [--no-contact-guard]
                                      [--no-stream] [--stream-events 20000] [--no-alliance]
                                      [--no-alliance-http]
                                      [--base 9324ffa | --no-base] [--base-rounds 3]

The figures come from :func:`lendguard.simulate.benchmark.run_benchmarks`, the same function behind
``lendguard bench --json``; the JSON is written to ``bench/results/latest.json`` unless ``--out``
says otherwise. After them, ``bench/console_queue.py`` times the console's case queue with 10,000
open cases; its result is kept under ``console_queue`` (``--no-console-queue`` skips it).
``bench/pii_masking.py`` times PII masking of 100,000 short texts, kept under ``pii_masking``
(``--no-pii`` skips it). ``bench/graph_scale.py`` builds and partitions the entity-link graph of
1,000,000 customers and 5,000,000 links with igraph and networkx, kept under ``graph_scale``
(``--no-graph-scale`` skips it). ``bench/graph_features.py`` times the graph features and how soon
an event's links reach the next decision on the embedded default (``--no-graph-features``).
``bench/stream_throughput.py`` runs the scale-out path (NATS JetStream, 1 and 2 ``lendguard
worker`` processes, shared state in PostgreSQL) against the single-process path on the same
events, kept under ``stream_throughput``; it needs ``LENDGUARD_BENCH_DATABASE_URL`` and a
``nats-server`` (else it records why it was skipped; ``--no-stream`` skips it).
``bench/bench_alliance.py`` runs the alliance's ECDH-PSI against openmined.psi at 100,000 ×
100,000 and the lookup's latency against 100,000 listed entries, kept under ``alliance``
(``--no-alliance`` skips it; the script alone also runs 1,000,000 × 1,000,000).
``bench/bench_alliance_http.py`` times 200 lookups of 1 and of 4 identifiers against 2 members
served over HTTP (300 listed numbers each), kept under ``alliance_http`` (``--no-alliance-http``).

Issue #18's goals come next: each a ratio or bound measured in this same run, with its target,
the measured figure and whether it is met (``goals`` in the JSON). The in-process throughput
goal is judged on ``in_process_async`` (8 callers on one loop, group commit: a server process
minus HTTP); the single caller's ratio (``in_process``) is a row without a target, and the
in-process max latency goal is the single caller's over the run's events. The engine's ×2 is
judged against the engine-only block at ``--base REV`` (default ``9324ffa``, the commit before
issue #17), checked out as a git worktree for the run and timed alternately with this checkout
(``--no-base`` skips it, and the goal says why). Window-state memory is printed against its
documented bound.

Then the variants (``variants``): PostgreSQL in process / SQLite in process, ``lendguard serve
--workers 2`` on shared PostgreSQL state / one HTTP worker on the default, 1 and 2 stream workers
/ the single process, and Redis (not applicable since issue #17), each a same-run ratio or the
reason it was not measured. Every run also checks that engine only, in-process, replay, HTTP and,
when they run, HTTP ``--workers 2`` and the stream workers decide every event alike (action,
score, reason codes: ``identical_decisions``). The absolute targets of earlier issues stay
(``absolute_goals``). See docs/benchmarks.md for what each block measures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson
from bench_alliance import lookup_line as alliance_lookup_line
from bench_alliance import run_alliance
from bench_alliance_http import run_alliance_http
from bench_alliance_http import summary_line as alliance_http_line
from console_queue import run_console_queue
from contact_guard import run_contact_guard
from graph_features import cost as graph_cost
from graph_features import freshness as graph_freshness
from graph_scale import run_graph_scale
from pii_masking import run_pii_masking
from rich.console import Console
from rich.table import Table
from stream_throughput import DEFAULT_EVENTS as STREAM_DEFAULT_EVENTS
from stream_throughput import run_stream_throughput
from stream_throughput import summary_lines as stream_summary_lines

from lendguard.simulate.benchmark import (
    DEFAULT_BASE_REV,
    DEFAULT_BASE_ROUNDS,
    DEFAULT_CONCURRENCY,
    DEFAULT_EVENTS,
    DEFAULT_SEED,
    add_identical_paths,
    issue_18_goals,
    run_benchmarks,
    variants,
)

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "latest.json"
BLOCKS = [
    "engine_only",
    "in_process",
    "in_process_async",
    "in_process_postgres",
    "bare_http",
    "http",
    "http_workers_2",
]


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def table(result: dict[str, Any]) -> Table:
    machine = result["machine"]
    workload = result["workload"]
    out = Table(
        title=(
            f"LendGuard benchmark, {workload['events']:,} events, {machine['cpu_model']} "
            f"× {machine['cores']} cores, Python {machine['python']}"
        )
    )
    out.add_column("block")
    for name in ("events/s", "p50 µs", "p90 µs", "p99 µs", "max µs", "CPU µs/req srv+cli"):
        out.add_column(name, justify="right")
    out.add_column("notes")
    for block in BLOCKS:
        figures = result.get(block)
        if not figures:
            continue
        notes = []
        cpu = ""
        if "client_cpu_us_per_request" in figures:
            server = _fmt(figures.get("server_cpu_us_per_request"))
            cpu = f"{server} + {_fmt(figures['client_cpu_us_per_request'])}"
        if "concurrency" in figures:
            notes.append(f"{figures['concurrency']} in flight")
        if figures.get("errors"):
            notes.append(f"[red]{figures['errors']} errors[/red]")
        if figures.get("stopped_early"):
            notes.append("[yellow]stopped at the time limit[/yellow]")
        if "backend" in figures:
            notes.append(figures["backend"])
        out.add_row(
            block,
            _fmt(figures.get("events_per_s")),
            _fmt(figures.get("p50_us")),
            _fmt(figures.get("p90_us")),
            _fmt(figures.get("p99_us")),
            _fmt(figures.get("max_us")),
            cpu,
            ", ".join(notes),
        )
    return out


def _goal_figure(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "ratio":
        return f"{value:.3f}"
    if unit == "×":
        return f"{value:.1f}×"
    if unit == "ms":
        return f"{value:,.2f} ms"
    if unit == "bytes":
        return f"{value:,.0f} B"
    return f"{value:,.0f}"


def issue_goals_table(result: dict[str, Any]) -> Table:
    """Issue #18's goals: target, measured and met, all from this run's figures."""
    out = Table(title="Issue #18 goals (same-run figures)")
    out.add_column("goal")
    out.add_column("target", justify="right")
    out.add_column("measured", justify="right")
    out.add_column("met")
    out.add_column("notes")
    for goal in result.get("goals", {}).values():
        target = goal.get("target")
        shown_target = (
            "measured, no target"
            if target is None
            else f"{'≥' if goal['comparison'] == '>=' else '≤'} "
            + _goal_figure(target, goal["unit"])
        )
        met = goal.get("met")
        shown_met = {True: "[green]yes[/green]", False: "[red]no[/red]", None: "–"}[met]
        out.add_row(
            goal["label"],
            shown_target,
            _goal_figure(goal.get("measured"), goal["unit"]),
            shown_met,
            goal.get("note", ""),
        )
    return out


def variants_table(result: dict[str, Any]) -> Table:
    """Issue #18's variants: each one's throughput against the embedded default it replaces,
    measured in the same run, or why it was not measured."""
    out = Table(title="Variants / embedded default (same-run throughput ratios)")
    out.add_column("variant")
    out.add_column("events/s", justify="right")
    out.add_column("against")
    out.add_column("events/s", justify="right")
    out.add_column("ratio", justify="right")
    out.add_column("notes")
    for row in result.get("variants", {}).values():
        out.add_row(
            row["label"],
            _fmt(row.get("events_per_s")),
            row["reference"],
            _fmt(row.get("reference_events_per_s")),
            "–" if row.get("ratio") is None else f"{row['ratio']:.3f}",
            row.get("skipped") or row.get("note") or "",
        )
    return out


def identical_line(identical: dict[str, Any]) -> str:
    """The identical-decisions check in one line: differing (and missing) events per path, and
    for the multi-process paths how many of the differing ones were decided out of their
    customer's order."""
    parts = []
    for name, figures in identical["paths"].items():
        part = f"{name} {figures['differing']} differing of {figures['compared']:,}"
        if figures["missing"]:
            part += f" ({figures['missing']} not decided)"
        if "differing_out_of_customer_order" in figures:
            part += (
                f" [{figures['differing_out_of_customer_order']} of them out of customer order; "
                f"{figures['decided_out_of_customer_order']} events decided out of order]"
            )
        parts.append(part)
    return (
        f"identical decisions (action, score, reason codes) vs {identical['reference']}: "
        + ", ".join(parts)
    )


def merge_stream(result: dict[str, Any]) -> None:
    """Fold the stream runs into the identical-decisions check, then recompute the goals and
    the variants (run_benchmarks computed them before the stream block ran)."""
    stream = result.get("stream_throughput") or {}
    paths = {}
    for run in stream.get("stream", []):
        identical = run.get("identical_to_engine_only")
        if identical:
            count = run["workers"]
            paths[f"stream_{count}_worker{'s' if count > 1 else ''}"] = identical
    if paths and result.get("identical_decisions"):
        add_identical_paths(result["identical_decisions"], paths)
    result["goals"] = issue_18_goals(result)
    result["variants"] = variants(result)


def goals_table(result: dict[str, Any]) -> Table:
    out = Table(title="Absolute targets (earlier issues)")
    out.add_column("goal")
    out.add_column("target", justify="right")
    out.add_column("measured", justify="right")
    out.add_column("met")
    labels = {
        "engine_only_events_per_s": ("engine_only events/s", "≥ {:,.0f}"),
        "in_process_events_per_s": ("in_process events/s", "≥ {:,.0f}"),
        "in_process_p99_us": ("in_process p99 µs", "≤ {:,.0f}"),
        "http_to_bare_ratio": ("http / bare_http throughput", "≥ {:.2f}"),
    }
    for key, goal in result.get("absolute_goals", {}).items():
        label, target = labels.get(key, (key, "{}"))
        measured = goal["measured"]
        shown = f"{measured:.3f}" if key == "http_to_bare_ratio" else f"{measured:,.0f}"
        out.add_row(
            label,
            target.format(goal["target"]),
            shown,
            "[green]yes[/green]" if goal["met"] else "[red]no[/red]",
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the LendGuard benchmarks.")
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--no-http", dest="http", action="store_false", help="skip HTTP runs")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--console-queue",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time the console's case queue with 10,000 open cases (bench/console_queue.py)",
    )
    parser.add_argument(
        "--contact-guard",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time 10,000 in-process contact checks (bench/contact_guard.py)",
    )
    parser.add_argument(
        "--pii",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time PII masking of 100,000 short texts (bench/pii_masking.py)",
    )
    parser.add_argument(
        "--graph-scale",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also build and partition a 1M-customer, 5M-link graph with igraph and networkx "
        "(bench/graph_scale.py)",
    )
    parser.add_argument(
        "--graph-features",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time graph features and their freshness on the embedded default "
        "(bench/graph_features.py)",
    )
    parser.add_argument(
        "--stream",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the scale-out path: NATS JetStream, 1 and 2 workers, shared PostgreSQL "
        "state (bench/stream_throughput.py; needs LENDGUARD_BENCH_DATABASE_URL and nats-server)",
    )
    parser.add_argument(
        "--alliance",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the alliance's PSI against openmined.psi at 100,000 × 100,000 and its "
        "lookup's latency (bench/bench_alliance.py)",
    )
    parser.add_argument(
        "--alliance-http",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time 200 lookups of 1 and of 4 identifiers against 2 members served over "
        "HTTP (bench/bench_alliance_http.py)",
    )
    parser.add_argument(
        "--stream-events",
        type=int,
        default=STREAM_DEFAULT_EVENTS,
        help="events in the stream benchmark's burst",
    )
    parser.add_argument(
        "--base",
        default=DEFAULT_BASE_REV,
        help="the commit whose engine-only block issue #18's ×2 is judged against "
        "(a git worktree for the run)",
    )
    parser.add_argument(
        "--no-base", dest="base", action="store_const", const=None, help="skip the base commit"
    )
    parser.add_argument(
        "--base-rounds",
        type=int,
        default=DEFAULT_BASE_ROUNDS,
        help="alternated engine-only runs per side (base and this checkout)",
    )
    args = parser.parse_args(argv)

    stderr = Console(stderr=True)
    result = run_benchmarks(
        n_events=args.events,
        include_http=args.http,
        progress=not args.quiet,
        seed=args.seed,
        concurrency=args.concurrency,
        client=args.client,
        console=stderr,
        base_rev=args.base,
        base_rounds=args.base_rounds,
    )
    if args.console_queue:
        if not args.quiet:
            stderr.print("console_queue: 10,000 open cases, 50 requests per URL")
        result["console_queue"] = run_console_queue(
            log=(lambda _: None) if args.quiet else stderr.print
        )
    if args.contact_guard:
        if not args.quiet:
            stderr.print("contact_guard: 10,000 checks over 1,000 debtors")
        result["contact_guard"] = run_contact_guard()
    if args.pii:
        if not args.quiet:
            stderr.print("pii_masking: 100,000 short texts, one process")
        result["pii_masking"] = run_pii_masking()
    if args.graph_scale:
        result["graph_scale"] = run_graph_scale(
            log=(lambda _: None) if args.quiet else stderr.print
        )
    if args.graph_features:
        if not args.quiet:
            stderr.print("graph_features: 5,000 customers' month, then 40 gang sign-ups")
        result["graph_features"] = {
            "freshness": graph_freshness(5_000, 40, stderr),
            "cost": graph_cost(5_000, stderr),
        }
    if args.stream:
        if not args.quiet:
            stderr.print("stream_throughput: NATS JetStream and lendguard worker processes")
        result["stream_throughput"] = run_stream_throughput(
            events=args.stream_events, log=(lambda _: None) if args.quiet else stderr.print
        )
    if args.alliance:
        result["alliance"] = run_alliance(
            sizes=(100_000,), log=(lambda _: None) if args.quiet else stderr.print
        )
    if args.alliance_http:
        result["alliance_http"] = run_alliance_http(
            members=2,
            entries=300,
            lookups=200,
            psi_size=300,
            log=(lambda _: None) if args.quiet else stderr.print,
        )
    merge_stream(result)
    text = orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    console = Console() if sys.stdout.isatty() else Console(width=120)
    console.print(table(result))
    if result.get("http_to_bare_ratio") is not None:
        console.print(f"http / bare_http throughput: {result['http_to_bare_ratio']:.3f}")
    console.print(goals_table(result))
    identical = result.get("identical_decisions")
    if identical:
        console.print(identical_line(identical))
    console.print(issue_goals_table(result))
    console.print(variants_table(result))
    queue = result.get("console_queue")
    if queue:
        goal = queue["goal"]
        console.print(
            f"console queue page 1 p99 with {goal['open_cases']:,} open cases: "
            f"{goal['measured_p99_ms']:.1f} ms (target ≤ {goal['target_ms']:.0f} ms, "
            f"{'met' if goal['met'] else 'not met'})"
        )
    guard = result.get("contact_guard")
    if guard:
        for backend in ("sqlite", "postgres"):
            block = guard.get(backend)
            if block:
                p99 = block.get("check", block).get("p99_us")
                console.print(f"contact check p99 ({backend}): {p99} µs (target < 2,000 µs)")
    pii = result.get("pii_masking")
    if pii:
        presidio = pii["presidio"]
        compared = (
            f"presidio pattern-only {presidio['analyze']['texts_per_s_median']:,} texts/s"
            if presidio.get("status") == "installed"
            else f"presidio {presidio.get('status')}"
        )
        console.print(
            f"PII masking: {pii['goal']['measured_texts_per_s']:,} texts/s per core "
            f"(target ≥ {pii['goal']['target_texts_per_s']:,}, "
            f"{'met' if pii['goal']['met'] else 'not met'}); {compared}"
        )
    graph = result.get("graph_scale")
    if graph:
        goal = graph["goal"]
        versus = graph.get("networkx_to_igraph")
        console.print(
            f"entity-link graph, {goal['customers']:,} customers and {goal['links']:,} links: "
            f"built and partitioned in {goal['measured_first_s']:.1f} s "
            f"(target ≤ {goal['target_s']:.0f} s, {'met' if goal['met'] else 'not met'})"
            + (f"; networkx {versus['first']:.1f}× slower" if versus else "")
        )
    stream = result.get("stream_throughput")
    if stream:
        for line in stream_summary_lines(stream):
            console.print(line)
    alliance = result.get("alliance")
    if alliance:
        for run in alliance["psi"]:
            ours, theirs = run["lendguard"], run.get("openmined", {})
            versus = (
                f", openmined.psi {theirs['seconds']:.1f} s (×{run['openmined_to_lendguard']})"
                if theirs.get("seconds")
                else ""
            )
            console.print(
                f"alliance PSI {run['n']:,} × {run['n']:,}: {ours['seconds']:.1f} s{versus}, "
                f"correct: {'yes' if ours.get('correct') else 'NO'}"
            )
        console.print(alliance_lookup_line(alliance["lookup"]))
    if result.get("alliance_http"):
        console.print(alliance_http_line(result["alliance_http"]))
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    stderr.print(f"written to {args.out}")
    failed = [b for b in ("bare_http", "http") if result.get(b, {}).get("errors")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
