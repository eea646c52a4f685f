"""The entity-link graph: rebuild it from history, evaluate rings and mules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console

from lendguard.cli.common import dumps, err

app = typer.Typer(no_args_is_help=True, help="Entity-link graph: rings and mules.")


def _graph_from(events: Path, skip_bad: bool) -> tuple[Any, list[Any]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from lendguard.events.readers import BadRowError
    from lendguard.graph.batch import rebuild

    with Progress(
        TextColumn("linking events"), BarColumn(), MofNCompleteColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task("link", total=None)
        try:
            return rebuild(
                events, on_progress=lambda n: bar.update(task, completed=n), skip_bad=skip_bad
            )
        except BadRowError as exc:
            typer.echo(f"{exc} (nothing was built; use --skip-bad to skip bad rows)", err=True)
            raise typer.Exit(1) from None
        except (OSError, ValueError) as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None


@app.command("rebuild")
def graph_rebuild(
    events: Annotated[Path, typer.Option(help="History (JSONL, CSV or Parquet)")],
    out: Annotated[Path, typer.Option(help="Folder for rings.json and mules.csv")] = Path(
        "var/graph"
    ),
    skip_bad: Annotated[bool, typer.Option(help="Skip malformed rows instead of stopping")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Build the link graph from history, find rings and mules, write them to OUT."""
    import csv
    import time

    from lendguard.graph.rings import detect

    started = time.perf_counter()
    index, bad = _graph_from(events, skip_bad)
    linked = time.perf_counter() - started
    found = detect(index)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rings.json").write_bytes(
        orjson.dumps([r.as_dict() for r in found.rings], option=orjson.OPT_INDENT_2)
    )
    with (out / "mules.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "peak_mule_score"])
        for customer, score in sorted(found.mules.items(), key=lambda kv: (-kv[1], kv[0])):
            writer.writerow([customer, score])
    summary = {
        "events": index.events,
        "customers": len(index.customer_entities),
        "entities": len(index.entities),
        "rings": len(found.rings),
        "ring_members": len(found.ring_members),
        "mules": len(found.mules),
        "communities": found.communities,
        "skipped_rows": [str(b) for b in bad],
        "link_seconds": round(linked, 2),
        "detect_seconds": round(time.perf_counter() - started - linked, 2),
        "out": str(out),
    }
    if json_out:
        typer.echo(dumps(summary))
    else:
        Console().print(summary)


@app.command("evaluate")
def graph_evaluate(
    events: Annotated[Path, typer.Option(help="History (JSONL, CSV or Parquet)")],
    accounts: Annotated[Path, typer.Option(help="accounts.csv with role and ring_id")],
    skip_bad: Annotated[bool, typer.Option(help="Skip malformed rows instead of stopping")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the figures as JSON")] = False,
) -> None:
    """Ring-member and mule precision and recall per customer against the simulator's truth."""
    from lendguard.graph.batch import evaluate
    from lendguard.graph.rings import detect

    index, _ = _graph_from(events, skip_bad)
    try:
        figures = evaluate(detect(index), accounts)
    except (OSError, ValueError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    if json_out:
        typer.echo(dumps(figures))
    else:
        Console().print(figures)
