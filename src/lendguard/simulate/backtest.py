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

from lendguard.decisions.challenges import challenge_for, follow_up
from lendguard.decisions.policy import HOLDING_MEASURES
from lendguard.decisions.rules.loader import RuleSet, RuleSetError, load_ruleset_file
from lendguard.events.readers import BadRowError, read_events
from lendguard.simulate.metrics import Outcome
from lendguard.simulate.replay import Replayer, ReplayError, default_ruleset
from lendguard.simulate.responses import answer


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
    interventions: bool = False,
    seed: int = 1,
) -> dict[str, Any]:
    """With ``interventions``, the side by side is the same rule set without and with the
    challenges: every decision that carries one is answered by the simulated customer
    (:mod:`lendguard.simulate.responses`, seeded by ``seed`` and the event id) and the follow-up
    decision is what counts on the "with" side (``baseline`` is then the rule set alone)."""
    candidate_rules = _ruleset(rules)
    if interventions and baseline_rules is not None:
        raise ReplayError("--interventions compares the rule set with itself: no --baseline-rules")
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
    challenged = _ChallengeTally() if interventions else None
    plain = outcome() if interventions else None
    base, base_replayer, base_s = outcome(), Replayer(baseline) if baseline else None, 0.0
    transitions: Counter[str] = Counter()
    examples: list[dict[str, Any]] = []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("backtest", total=len(rows))
        for i, (event, raw) in enumerate(rows):
            t0 = time.perf_counter()
            decision = main_replayer.decide(event)
            main_s += time.perf_counter() - t0
            if challenged is not None and plain is not None:
                plain.add(raw, decision)
                decision = challenged.apply(decision, event, raw, candidate_rules.params, seed)
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
    if challenged is not None and plain is not None:
        plain.elapsed_s = main_s
        report["interventions"] = challenged.summary(main, seed)
        report["baseline"] = plain.as_dict()
        report["baseline"]["ruleset"] = dict(report["ruleset"], interventions=False)
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


class _ChallengeTally:
    """Answers each challenge as the simulated customer would and keeps what happened."""

    def __init__(self) -> None:
        self.shown = 0
        self.outcomes: Counter[str] = Counter()
        self.by_role: Counter[tuple[str, str]] = Counter()
        self.customers_challenged: set[str] = set()
        # customer -> seconds their money was held (final decision holds it until released)
        self.delays: dict[str, float] = {}

    def apply(
        self,
        decision: dict[str, Any],
        event: Any,
        raw: dict[str, Any],
        params: dict[str, Any],
        seed: int,
    ) -> dict[str, Any]:
        full = {
            **decision,
            "decision_id": event.event_id,
            "event_type": event.type.value,
        }
        attrs = raw.get("attributes") or {}
        challenge = challenge_for(full) if decision["action"] != "allow" else None
        final = decision
        if challenge is not None:
            scenario = str(attrs.get("scenario") or "none")
            answers, verification = answer(
                challenge, event.type.value, event.event_id, scenario, seed
            )
            result = follow_up(full, challenge, answers, verification, params)
            final = {
                **decision,
                "action": result.action,
                "reasons": result.reasons,
                "measures": result.measures,
                "release_after_s": result.release_after_s,
            }
            if not attrs.get("warmup"):
                self.shown += 1
                self.outcomes[result.outcome] += 1
                self.by_role[(scenario, result.outcome)] += 1
                self.customers_challenged.add(event.customer_id)
        if not attrs.get("warmup") and _holds(final):
            held = final.get("release_after_s") or hold_seconds(event.occurred_at)
            self.delays[event.customer_id] = max(self.delays.get(event.customer_id, 0.0), held)
        return final

    def summary(self, outcome: Outcome, seed: int) -> dict[str, Any]:
        honest = outcome.honest_customers()
        delayed = sorted(self.delays[c] for c in honest if c in self.delays)
        return {
            "seed": seed,
            "challenges_shown": self.shown,
            "outcomes": dict(self.outcomes.most_common()),
            "by_scenario": {
                f"{scenario}:{result}": n for (scenario, result), n in sorted(self.by_role.items())
            },
            "honest_challenged_rate": round(
                len(self.customers_challenged & honest) / max(1, len(honest)), 5
            ),
            "honest_delayed": len(delayed),
            "honest_delayed_rate": round(len(delayed) / max(1, len(honest)), 5),
            "honest_median_delay_hours": (
                round(delayed[len(delayed) // 2] / 3600, 1) if delayed else None
            ),
        }


def _holds(decision: dict[str, Any]) -> bool:
    """Money held: an intercept or block, or any decision with a holding measure."""
    return decision["action"] in ("intercept", "block") or bool(
        HOLDING_MEASURES.intersection(decision.get("measures") or ())
    )


def hold_seconds(decided_at: Any) -> float:
    """How long a hold on an honest customer lasts at most: until its deadline (the policy's
    business days), when nobody released it sooner. An upper bound: a case worker usually
    releases an honest customer's money earlier."""
    from lendguard.decisions.holds import hold_terms

    terms = hold_terms(decided_at, None)
    return (terms.deadline - decided_at).total_seconds()
