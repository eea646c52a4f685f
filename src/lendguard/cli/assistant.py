"""The agent assistant: train and evaluate its models, analyse a file of messages."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from lendguard.cli.common import dumps, err
from lendguard.config import get_settings

app = typer.Typer(
    no_args_is_help=True,
    help="Agent assistant: intents, knowledge-base answers, scam and vulnerability cues.",
)


@app.command("train")
def assistant_train(
    intents: Annotated[Path, typer.Option(help="UTF-8 CSV with columns text, category")],
    out: Annotated[Path, typer.Option(help="Folder to write the trained models to")],
    embeddings: Annotated[
        str,
        typer.Option(
            help="none (pure TF-IDF, default), frozen or finetune (all-MiniLM-L6-v2 on the "
            "CPU; needs the [assistant-embeddings] extra)"
        ),
    ] = "none",
    epochs: Annotated[int, typer.Option(help="Fine-tuning epochs (--embeddings finetune)")] = 3,
    lending: Annotated[
        bool, typer.Option(help="Add the shipped lending intents (zh-CN and en)")
    ] = True,
    coverage: Annotated[
        float, typer.Option(help="Share of in-scope questions the gate keeps answering")
    ] = 0.95,
    scam_texts: Annotated[
        Path | None,
        typer.Option(
            help="Also train the scam-text model: a folder of label0X-last.csv files "
            "(content,label; label 0 normal) or one CSV with text,label"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the calibration split")] = 1,
) -> None:
    """Train the intent model (with an out-of-scope class and a margin gate) into --out."""
    from lendguard.support import intents as intent_models
    from lendguard.support.assistant import save_scam_model, scam_corpus, scam_training_extras
    from lendguard.support.cues import ScamTextModel

    if embeddings not in ("none", "frozen", "finetune"):
        err.print("[red]--embeddings must be none, frozen or finetune[/red]")
        raise typer.Exit(2)
    try:
        examples = intent_models.read_examples(intents)
    except (OSError, ValueError) as exc:
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from None

    def progress(epoch: int, step: int, steps: int, loss: float) -> None:
        err.print(f"fine-tuning: epoch {epoch + 1}/{epochs}, step {step}/{steps}, loss {loss:.3f}")

    try:
        model, card = intent_models.train(
            examples,
            include_lending=lending,
            embeddings=embeddings,
            epochs=epochs,
            coverage_target=coverage,
            seed=seed,
            progress=progress,
        )
    except intent_models.EmbeddingsUnavailable as exc:
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from None
    if scam_texts is not None:
        texts, labels = scam_corpus(scam_texts)
        extra_normal, extra_scam = scam_training_extras()
        save_scam_model(ScamTextModel().fit(texts, labels, extra_normal, extra_scam), out)
        card["scam_model"] = {
            "rows": len(texts),
            "extra_normal": len(extra_normal),
            "extra_scam": len(extra_scam),
        }
    intent_models.save(model, card, out)
    typer.echo(dumps(card))


@app.command("evaluate")
def assistant_evaluate(
    model: Annotated[Path, typer.Option(help="A folder written by `assistant train`")],
    intents: Annotated[Path, typer.Option(help="UTF-8 CSV with columns text, category")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the figures as JSON")] = False,
) -> None:
    """Top-1 accuracy over the file's labels (abstention off), macro F1, and the gate's coverage
    and answered precision (abstention on)."""
    from lendguard.support import intents as intent_models

    try:
        loaded = intent_models.load(model, threads=None)
        examples = intent_models.read_examples(intents)
        figures = intent_models.evaluate(loaded, examples)
    except (OSError, ValueError) as exc:
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from None
    if json_out:
        typer.echo(dumps(figures))
        return
    for key, value in figures.items():
        typer.echo(f"{key}: {value}")


@app.command("analyze")
def assistant_analyze(
    texts: Annotated[Path, typer.Option(help="UTF-8 CSV with the messages")],
    column: Annotated[str, typer.Option(help="The column holding the text")],
    out: Annotated[Path, typer.Option(help="JSON Lines output, one line per row, in order")],
    model: Annotated[
        Path | None,
        typer.Option(help="Trained folder (default: LENDGUARD_ASSISTANT_MODEL_DIR, else built-in)"),
    ] = None,
) -> None:
    """Write intent, scam_cue, scam_score, scam_type and vulnerability for every row."""
    from lendguard.support.assistant import get_assistant, load_texts

    try:
        rows = load_texts(texts, column)
    except (OSError, ValueError) as exc:
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from None
    folder = model if model is not None else get_settings().assistant_model_dir
    assistant = get_assistant(folder)
    out.parent.mkdir(parents=True, exist_ok=True)
    flagged = 0
    with open(out, "wb") as handle:
        for start in range(0, len(rows), 256):
            chunk = rows[start : start + 256]
            for text, analysis in zip(
                chunk, assistant.analyze_many([t or " " for t in chunk]), strict=True
            ):
                line = analysis.row() if text.strip() else _empty_row()
                flagged += bool(line["scam_cue"])
                handle.write(orjson.dumps(line) + b"\n")
    err.print(f"{len(rows)} rows → {out} ({flagged} with a scam cue; models: {assistant.models})")


def _empty_row() -> dict[str, Any]:
    return {
        "intent": None,
        "abstained": True,
        "scam_cue": False,
        "scam_score": 0.0,
        "scam_type": "other",
        "vulnerability": [],
        "complaint": False,
    }
