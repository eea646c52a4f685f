"""``lendguard bench``: the decision benchmark (``lendguard.simulate.benchmark``)."""

from __future__ import annotations

from typing import Annotated

import typer

from lendguard.cli.common import dumps


def bench(
    events: Annotated[int, typer.Option(help="Events in the workload")] = 20_000,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    http: Annotated[bool, typer.Option("--http/--no-http", help="Include the HTTP runs")] = True,
) -> None:
    """Measure engine-only, in-process and HTTP throughput and latency."""
    from lendguard.simulate.benchmark import run_benchmarks

    result = run_benchmarks(n_events=events, include_http=http, progress=not json_out)
    typer.echo(dumps(result) if json_out else dumps(result))
