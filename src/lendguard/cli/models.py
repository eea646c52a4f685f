"""Learned risk scores: train, evaluate, monitor and register a model (offline code)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from lendguard.cli.common import dumps, err, os_actor
from lendguard.cli.factory import services

app = typer.Typer(no_args_is_help=True, help="Learned risk scores.")


@app.command("train")
def model_train(
    out: Annotated[Path, typer.Option(help="Folder to write the model into")],
    events: Annotated[Path | None, typer.Option(help="Event history (JSONL/CSV/Parquet)")] = None,
    label_field: Annotated[str, typer.Option(help="Dotted path of the 0/1 label")] = (
        "attributes.is_fraud"
    ),
    labels: Annotated[Path | None, typer.Option(help="CSV event_id,label (later labels)")] = None,
    train_until: Annotated[str | None, typer.Option(help="Fit on events before (ISO)")] = None,
    eval_from: Annotated[str | None, typer.Option(help="Validate on events from (ISO)")] = None,
    reveal_delay_hours: Annotated[float, typer.Option(help="Hours until a label is known")] = 0.0,
    table: Annotated[Path | None, typer.Option(help="A table (CSV, zipped CSV, Parquet)")] = None,
    label: Annotated[str | None, typer.Option(help="Label column of --table")] = None,
    id_column: Annotated[str | None, typer.Option(help="Row id column (not a feature)")] = None,
    valid_size: Annotated[
        float | None, typer.Option(help="Validation share for --table (default 0.2)")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
    cv: Annotated[
        int | None,
        typer.Option(
            help="--table: seeded stratified K-fold cross-validation (K >= 2) in the card, "
            "then the final model on all rows"
        ),
    ] = None,
) -> None:
    """Train a calibrated LightGBM score on event history or on a table; print the card."""
    from lendguard.decisions.scoring.model import ModelError

    try:
        if (events is None) == (table is None):
            raise ModelError("give either --events or --table")
        if cv is not None and table is None:
            raise ModelError("--cv needs --table")
        if cv is not None and valid_size is not None:
            raise ModelError(
                "give either --cv or --valid-size: with --cv the held-out folds are the "
                "validation and the final model is fitted on all rows"
            )
        if events is not None:
            from lendguard.training.events import train_events

            card = train_events(
                events,
                out,
                label_field=label_field,
                labels_file=labels,
                train_until=train_until,
                eval_from=eval_from,
                reveal_delay_s=reveal_delay_hours * 3600,
                seed=seed,
            )
        else:
            if label is None:
                raise ModelError("--table needs --label COLUMN")
            from lendguard.training.table import train_table

            assert table is not None
            card = train_table(
                table,
                label,
                out,
                id_column=id_column,
                valid_size=0.2 if valid_size is None else valid_size,
                seed=seed,
                cv=cv,
            )
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if "cross_validation" in card:
        from lendguard.training.table import cross_validation_table

        err.print(cross_validation_table(card["cross_validation"]))
    typer.echo(dumps(card))


@app.command("evaluate")
def model_evaluate(
    model: Annotated[Path, typer.Option(help="Model folder")],
    events: Annotated[Path | None, typer.Option(help="Event history to score")] = None,
    label_field: Annotated[str, typer.Option(help="Dotted path of the 0/1 label")] = (
        "attributes.is_fraud"
    ),
    eval_from: Annotated[str | None, typer.Option(help="Score events from (ISO)")] = None,
    table: Annotated[Path | None, typer.Option(help="A table to score")] = None,
    label: Annotated[str | None, typer.Option(help="Label column of --table")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON")] = True,
) -> None:
    """ROC-AUC, AUPRC and recall at 0.1% and 1% false-positive rate, as one JSON object, with
    ``in_sample`` (and a note on stderr) when the rows scored include the model's training rows."""
    from lendguard.decisions.scoring.model import ModelError

    try:
        if (events is None) == (table is None):
            raise ModelError("give either --events or --table")
        if events is not None:
            from lendguard.training.events import evaluate_events

            result = evaluate_events(model, events, label_field, eval_from, progress=False)
        else:
            if label is None:
                raise ModelError("--table needs --label COLUMN")
            from lendguard.training.table import evaluate_table

            assert table is not None
            result = evaluate_table(model, table, label)
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    scored = events if events is not None else table
    assert scored is not None
    why = _in_sample(model, scored, eval_from)
    result = {**result, "in_sample": why is not None}
    if why is not None:
        result["in_sample_note"] = why
        typer.echo(f"note: these figures are in-sample: {why}", err=True)
    typer.echo(orjson.dumps(result).decode() if json_out else dumps(result))


def _in_sample(model: Path, scored: Path, eval_from: str | None) -> str | None:
    """Why figures of ``model`` on ``scored`` are in-sample (flattering: the model has seen
    those rows), or None. The card records the training file's SHA-256; an event model held
    out the events from its ``eval_from``, so scoring only those is out of sample."""
    import hashlib
    from datetime import UTC, datetime

    from lendguard.decisions.scoring.model import CARD_FILE

    try:
        card = orjson.loads((model / CARD_FILE).read_bytes())
        trained_on = card["source"]["sha256"]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return None  # a card without its source (older models): nothing to compare
    digest = hashlib.sha256()
    with scored.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != trained_on:
        return None
    held_out = (card.get("data_range") or {}).get("eval_from")
    if card.get("kind") != "events" or held_out is None:
        return (
            f"{scored.name} is the file the model was trained on (most of its rows fitted the "
            "model); the card's metrics are its held-out figures"
        )

    def instant(text: str) -> datetime:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    if eval_from is not None and instant(eval_from) >= instant(held_out):
        return None
    return (
        f"{scored.name} is the file the model was trained on, and events before {held_out} "
        f"fitted and calibrated it; score from --eval-from {held_out} (the held-out part) or "
        "on another file for figures it has not seen"
    )


@app.command("monitor")
def model_monitor(
    model: Annotated[Path, typer.Option(help="Model folder")],
    events: Annotated[Path, typer.Option(help="Recent traffic (JSONL/CSV/Parquet)")],
    threshold: Annotated[float, typer.Option(help="PSI above which a day alerts")] = 0.2,
) -> None:
    """Daily population stability (PSI) of the score and top features; exit 1 on an alert."""
    from lendguard.decisions.scoring.model import ModelError
    from lendguard.training.events import monitor_events

    try:
        report = monitor_events(model, events, threshold, progress=False)
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(dumps(report))
    if report["alerts"]:
        raise typer.Exit(1)


@app.command("register")
def model_register(directory: Path) -> None:
    """Store a trained model folder as a new, inactive version (activate it over the API, as
    someone other than the operating-system user who registered it)."""
    from lendguard.decisions.scoring.model import ModelError, ScoringModel
    from lendguard.errors import LendGuardError

    try:
        booster, calibration, card = ScoringModel.load(directory).parts()
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    actor = os_actor()
    with services() as built:
        try:
            # audited in the transaction that stores it (the CLI has no client address)
            registered = built.decisions.models.register(booster, calibration, card, actor)
            typer.echo(dumps(registered))
        except LendGuardError as exc:
            typer.echo(f"error: {exc.detail}: {[e.message for e in exc.errors]}", err=True)
            raise typer.Exit(2) from None
