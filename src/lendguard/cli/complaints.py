"""Complaints: the taxonomy classifier's train, evaluate and classify."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lendguard.cli.common import dumps

app = typer.Typer(
    no_args_is_help=True, help="Complaints: the taxonomy classifier (train, evaluate, classify)."
)


@app.command("train")
def complaints_train(
    data: Annotated[Path, typer.Option(help="CFPB complaints CSV (standard 18-column export)")],
    out: Annotated[Path, typer.Option(help="Model folder to write")],
    test_size: Annotated[float, typer.Option(help="Held-out share")] = 0.2,
    seed: Annotated[int, typer.Option(help="Random seed of the split and the model")] = 0,
    limit: Annotated[int | None, typer.Option(help="Use only the first N usable rows")] = None,
) -> None:
    """TF-IDF + linear model for product and issue on the narratives; prints the card with the
    held-out accuracy and macro-F1."""
    from lendguard.support.taxonomy import TaxonomyError, train

    try:
        card = train(data, out, test_size=test_size, seed=seed, limit=limit)
    except TaxonomyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    card.pop("held_out_ids", None)
    typer.echo(dumps(card))


@app.command("evaluate")
def complaints_evaluate(
    model: Annotated[Path, typer.Option(help="Model folder")],
    data: Annotated[Path, typer.Option(help="The CSV it was trained from")],
    all_rows: Annotated[
        bool, typer.Option("--all", help="Score every usable row, not only the held-out ones")
    ] = False,
) -> None:
    """Accuracy and macro-F1 of product and issue on the model's held-out rows, next to the
    rule-based fallback's."""
    from lendguard.support.taxonomy import TaxonomyError, evaluate

    try:
        result = evaluate(model, data, all_rows=all_rows)
    except TaxonomyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(dumps(result))


@app.command("classify")
def complaints_classify(
    text: Annotated[str, typer.Argument(help="A complaint narrative")],
    model: Annotated[Path | None, typer.Option(help="Model folder (default: configured)")] = None,
) -> None:
    """Product and issue of one narrative (the model, or the rules without one)."""
    from lendguard.support.taxonomy import ComplaintClassifier, load_taxonomy

    classifier = ComplaintClassifier.configured(load_taxonomy(), model)
    typer.echo(dumps(classifier.classify(text).as_dict()))
