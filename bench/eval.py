"""`make eval`: long quality runs (never part of `make test`).

1. The simulated month (20,000 customers, 30 days, seed 1) through the default rule set:
   recall by count and by money, money saved, honest customers inconvenienced, per typology.
2. PaySim (``../shared/data/paysim``), imported with and without balance columns, backtested
   with the default rules as they are (no training).
3. Learned scores on PaySim, split by time (fit on steps 1–80, evaluate on 81–119), with and
   without balances, through ``lendguard model train`` / ``model evaluate``.
4. Learned scores on tables: ``bench/eval_table.py`` (Give Me Some Credit: a seeded 5-fold
   cross-validation through ``lendguard model train --cv 5``; HMEQ: a validation part).
5. The complaint classifier on the CFPB sample (``lendguard complaints train``): held-out
   accuracy and macro-F1 of product and issue over five seeded splits (``--skip-complaints``).

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

from lendguard.decisions.scoring.events import evaluate_events, train_events
from lendguard.events.imports import import_paysim
from lendguard.simulate.backtest import run_backtest
from lendguard.simulate.demo import write_population
from lendguard.simulate.generator import generate

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("var/eval"))
    parser.add_argument("--skip-paysim", action="store_true")
    parser.add_argument("--skip-tables", action="store_true")
    parser.add_argument("--skip-complaints", action="store_true")
    args = parser.parse_args()
    console = Console(stderr=True)
    summary: dict[str, Any] = {}

    sim_dir = args.out / f"sim-{args.customers}-{args.days}-{args.seed}"
    console.print(f"simulating {args.customers:,} customers × {args.days} days, seed {args.seed}")
    population = generate(customers=args.customers, days=args.days, seed=args.seed)
    write_population(population.events, population.accounts_rows(), sim_dir)
    console.print("backtesting the default rule set on the simulated month")
    summary["simulated"] = _brief(run_backtest(sim_dir / "events.jsonl"))

    if not args.skip_paysim:
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


if __name__ == "__main__":
    main()
