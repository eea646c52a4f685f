"""Outcome labels: export them as the input of ``lendguard model train --labels``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lendguard.cli.common import err, os_actor
from lendguard.cli.factory import migrated_engine

app = typer.Typer(no_args_is_help=True, help="Outcome labels for model training.")


@app.command("export")
def labels_export(
    out: Annotated[Path, typer.Option(help="CSV file to write: event_id,label")],
) -> None:
    """Write every known outcome label (resolved cases, POST /v1/labels) as event_id,label —
    the input of `lendguard model train --labels`. The latest label of an event wins."""
    import csv

    from lendguard.auth import audit
    from lendguard.decisions.labels import Labels

    engine = migrated_engine()
    latest = Labels.latest_per_event(engine)
    # a privileged read: recorded before the data leaves (no entry, no file)
    audit.record_read(
        engine, os_actor(), "labels_export", "labels", None, {"rows": len(latest), "out": str(out)}
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["event_id", "label"])
        writer.writerows(sorted(latest.items()))
    err.print(f"{len(latest)} labels written to {out}")
