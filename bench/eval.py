"""`make eval`: long quality runs (never part of `make test`).

Simulates a month for 20,000 customers (seed 1), replays it through the default rule set with
the same engine code as the live path, and prints the outcome summary (recall by count and by
money, money saved, honest customers inconvenienced, per typology) as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from lendguard.simulate.demo import write_population
from lendguard.simulate.generator import generate
from lendguard.simulate.replay import replay_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("var/eval"))
    args = parser.parse_args()
    console = Console(stderr=True)
    console.print(f"simulating {args.customers:,} customers × {args.days} days, seed {args.seed}")
    population = generate(customers=args.customers, days=args.days, seed=args.seed)
    write_population(population.events, population.accounts_rows(), args.out)
    outcome = replay_file(args.out / "events.jsonl")
    outcome.roles = {c.customer_id: c.role for c in population.customers}
    outcome.print(console)
    summary = outcome.as_dict()
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
