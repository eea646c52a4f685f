"""Backtests: replay a history in time order through a rule set (and optionally a baseline).

The engine code is the live path's (``Replayer`` wraps ``engine.evaluate`` over the same
feature state), so a backtest shows what a rule change would have done: frauds caught, money
saved, honest customers inconvenienced, by age band and tenure, and which events changed.
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rich.progress import Progress

from lendguard.decisions.rules.loader import RuleSet, RuleSetError, load_ruleset_file
from lendguard.events.readers import BadRowError, read_events
from lendguard.simulate.metrics import Outcome
from lendguard.simulate.replay import Replayer, ReplayError, default_ruleset


def load_roles(accounts: Path) -> dict[str, str]:
    """customer_id -> role (honest | victim | fraudster | mule) from an accounts.csv."""
    with accounts.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"customer_id", "role"} <= set(reader.fieldnames):
            raise ReplayError(f"{accounts}: needs the columns customer_id and role")
        return {row["customer_id"]: row["role"] for row in reader}


def _ruleset(path: Path | None) -> RuleSet:
    if path is None:
        return default_ruleset()
    try:
        return load_ruleset_file(path)
    except RuleSetError as exc:
        raise ReplayError("\n".join(str(p) for p in exc.problems)) from None
    except OSError as exc:
        raise ReplayError(f"{path}: {exc.strerror}") from None


def run_backtest(
    events: Path,
    rules: Path | None = None,
    baseline_rules: Path | None = None,
    label_field: str = "attributes.is_fraud",
    accounts: Path | None = None,
    dissuasion_success_rate: float = 0.6,
    skip_bad: bool = False,
    progress: bool = True,
    max_examples: int = 50,
) -> dict[str, Any]:
    candidate_rules = _ruleset(rules)
    baseline = _ruleset(baseline_rules) if baseline_rules is not None else None
    try:
        rows, bad = read_events(events, skip_bad=skip_bad)
    except BadRowError as exc:
        raise ReplayError(f"{exc} (nothing was written; use --skip-bad to skip bad rows)") from None
    except (OSError, ValueError) as exc:
        raise ReplayError(str(exc)) from None
    if accounts is None and (events.parent / "accounts.csv").exists():
        accounts = events.parent / "accounts.csv"
    try:
        roles = load_roles(accounts) if accounts is not None else None
    except OSError as exc:
        raise ReplayError(f"{accounts}: {exc.strerror}") from None
    rows.sort(key=lambda pair: pair[0].occurred_at)

    def outcome() -> Outcome:
        return Outcome(
            dissuasion_success_rate=dissuasion_success_rate, roles=roles, label_field=label_field
        )

    main, main_replayer, main_s = outcome(), Replayer(candidate_rules), 0.0
    base, base_replayer, base_s = outcome(), Replayer(baseline) if baseline else None, 0.0
    transitions: Counter[str] = Counter()
    examples: list[dict[str, Any]] = []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("backtest", total=len(rows))
        for i, (event, raw) in enumerate(rows):
            t0 = time.perf_counter()
            decision = main_replayer.decide(event)
            main_s += time.perf_counter() - t0
            main.add(raw, decision)
            if base_replayer is not None:
                t0 = time.perf_counter()
                before = base_replayer.decide(event)
                base_s += time.perf_counter() - t0
                base.add(raw, before)
                if before["action"] != decision["action"] and not (raw.get("attributes") or {}).get(
                    "warmup"
                ):
                    transitions[f"{before['action']}->{decision['action']}"] += 1
                    if len(examples) < max_examples:
                        examples.append(
                            {
                                "event_id": event.event_id,
                                "customer_id": event.customer_id,
                                "baseline": before["action"],
                                "candidate": decision["action"],
                                "reasons": [r["code"] for r in decision["reasons"]],
                            }
                        )
            if i % 5000 == 0:
                bar.update(task, completed=i)
    main.elapsed_s = main_s
    report = main.as_dict()
    report["ruleset"] = {
        "name": candidate_rules.name,
        "rules": len(candidate_rules.rules),
        "file": str(rules) if rules else "default",
    }
    report["label_field"] = label_field
    report["skipped_rows"] = [str(b) for b in bad]
    if base_replayer is not None and baseline is not None:
        base.elapsed_s = base_s
        report["baseline"] = base.as_dict()
        report["baseline"]["ruleset"] = {
            "name": baseline.name,
            "rules": len(baseline.rules),
            "file": str(baseline_rules),
        }
        report["changed"] = {
            "events": sum(transitions.values()),
            "by_transition": dict(transitions.most_common()),
            "examples": examples,
        }
    return report
