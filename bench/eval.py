"""`make eval`: long quality runs (never part of `make test`).

1. The simulated month (20,000 customers, 30 days, seed 1) through the default rule set:
   recall by count and by money, money saved, honest customers inconvenienced, per typology.
2. PaySim (``../shared/data/paysim``), imported with and without balance columns, backtested
   with the default rules as they are (no training).

Every figure comes from the same engine code as the live path. Results are printed and written
to ``var/eval/summary.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from lendguard.events.imports import import_paysim
from lendguard.simulate.backtest import run_backtest
from lendguard.simulate.demo import write_population
from lendguard.simulate.generator import generate

PAYSIM = Path("../shared/data/paysim/paysim_steps1-119_51k.csv")
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

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
