"""Learned risk scores from tables (part of `make eval`; never part of `make test`).

Trains ``lendguard.decisions.scoring.table.train_table`` on

1. Give Me Some Credit (``../shared/data/gmsc/gmsc_train_100k.csv.zip``, label
   ``SeriousDlqin2yrs``) into ``var/models/gmsc``;
2. HMEQ (``../shared/data/hmeq/hmeq.csv``, label ``BAD``) into ``var/models/hmeq``;

with a stratified validation part (``--valid-size``, default 0.2) and ``--seed`` (default 1), and
prints each card's validation metrics as JSON (also written to ``var/models/table_eval.json``).
A data set whose file is missing is reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from lendguard.decisions.scoring.model import ModelError
from lendguard.decisions.scoring.table import train_table

DATA = Path("../shared/data")
DATASETS: dict[str, tuple[Path, str]] = {
    "gmsc": (DATA / "gmsc/gmsc_train_100k.csv.zip", "SeriousDlqin2yrs"),
    "hmeq": (DATA / "hmeq/hmeq.csv", "BAD"),
}
CARD_KEYS = ("rows", "positives", "features", "best_iteration", "valid_calibration")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--valid-size", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--n-estimators", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("var/models"))
    parser.add_argument(
        "--only", choices=sorted(DATASETS), action="append", help="train only these data sets"
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    console = Console(stderr=True)
    summary: dict[str, Any] = {}
    failed = False
    for name in args.only or list(DATASETS):
        path, label = DATASETS[name]
        if not path.exists():
            console.print(f"[yellow]{name}: skipped, {path} is missing[/]")
            summary[name] = {"skipped": f"{path} is missing"}
            continue
        console.print(f"{name}: training on {path} (label {label}) into {args.out / name}")
        started = time.perf_counter()
        try:
            card = train_table(
                path,
                label,
                args.out / name,
                valid_size=args.valid_size,
                seed=args.seed,
                progress=not args.no_progress,
                n_estimators=args.n_estimators,
            )
        except ModelError as exc:
            console.print(f"[red]{name}: {exc}[/]")
            summary[name] = {"error": str(exc)}
            failed = True
            continue
        elapsed = time.perf_counter() - started
        summary[name] = {
            "model": str(args.out / name),
            "label": label,
            "valid_size": args.valid_size,
            "seed": args.seed,
            "metrics": card["metrics"],
            **{key: card[key] for key in CARD_KEYS},
            "training_seconds": card["training_seconds"],
            "wall_seconds": round(elapsed, 3),
        }
        metrics = card["metrics"]
        console.print(
            f"{name}: ROC-AUC {metrics['roc_auc']:.4f}, AUPRC {metrics['auprc']:.4f}, recall at "
            f"FPR 0.1% {metrics['recall_at_fpr']['0.001']:.4f} / 1% "
            f"{metrics['recall_at_fpr']['0.01']:.4f} on {metrics['n']:,} validation rows "
            f"({elapsed:.1f} s)"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table_eval.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(json.dumps(summary, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
