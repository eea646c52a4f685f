"""Replay a history through the same engine code as the live path, in memory.

Rows are all validated before the first decision, so a malformed row stops the run before
anything is written (or is skipped and reported with ``skip_bad``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from rich.progress import Progress

from lendguard.decisions import engine as decision_engine
from lendguard.decisions.features.compute import (
    apply_event,
    open_context,
)
from lendguard.decisions.policy import ListsView
from lendguard.decisions.rules.loader import RuleSet, RuleSetError, load_ruleset_file, parse_ruleset
from lendguard.decisions.segments import tenure_band
from lendguard.decisions.state import MemoryStateStore
from lendguard.events.readers import BadRowError, read_events
from lendguard.events.schemas import Event
from lendguard.graph.index import LinkIndex
from lendguard.simulate.metrics import Outcome


class ReplayError(Exception):
    pass


class Replayer:
    """Decides events in order against in-memory state; no database, no network."""

    def __init__(self, ruleset: RuleSet, lists: ListsView | None = None) -> None:
        self.ruleset = ruleset
        self.lists = lists or ListsView()
        self.store = MemoryStateStore(engine=None)
        self.graph = LinkIndex()
        # customer -> [segment, computed at]: the report's age band and tenure, refreshed daily
        # rather than computed for every event. Updated in place, and a refresh that finds the
        # same bands keeps the same dict: objects that outlive an event are what drives the
        # garbage collector's full passes over the whole window state (replay / engine only
        # is a goal of issue #18).
        self._segments: dict[str, list[Any]] = {}

    def decide(self, event: Event) -> dict[str, Any]:
        t0 = time.perf_counter_ns()
        ctx = open_context(event, self.store.load, self.graph)
        bundle = ctx.states
        result = decision_engine.evaluate(ctx, self.ruleset, self.lists)
        cached = self._segments.get(event.customer_id)
        if cached is None or ctx.ts - cached[1] > 86_400 or event.customer is not None:
            values = result.features
            days = values["account_age_days"]
            band = str(values["age_band"])
            tenure = tenure_band(float(days) if isinstance(days, int | float) else None)
            if cached is None:
                segment = {"age_band": band, "tenure": tenure}
                self._segments[event.customer_id] = [segment, ctx.ts]
            else:
                segment = cached[0]
                if segment["age_band"] != band or segment["tenure"] != tenure:
                    segment = cached[0] = {"age_band": band, "tenure": tenure}
                cached[1] = ctx.ts
        else:
            segment = cached[0]
        apply_event(event, bundle, ctx)
        # Most events have no reason and no measure: no comprehension runs for them.
        reasons, measures = result.reasons, result.measures
        return {
            "segment": segment,
            "event_id": event.event_id,
            "customer_id": event.customer_id,
            "action": result.action.value,
            "score": result.score,
            "reasons": [r.as_dict() for r in reasons] if reasons else [],
            "measures": [m.value for m in measures] if measures else [],
            "latency_us": (time.perf_counter_ns() - t0) // 1000,
        }


def default_ruleset() -> RuleSet:
    from lendguard.decisions.service import default_ruleset_text

    return parse_ruleset(default_ruleset_text(), file="default.yaml")


def replay_file(
    path: Path,
    out: Path | None = None,
    skip_bad: bool = False,
    rules_file: Path | None = None,
    progress: bool = True,
) -> Outcome:
    try:
        ruleset = load_ruleset_file(rules_file) if rules_file else default_ruleset()
    except RuleSetError as exc:
        raise ReplayError("\n".join(str(p) for p in exc.problems)) from None
    except OSError as exc:
        raise ReplayError(f"{rules_file}: {exc.strerror}") from None
    try:
        rows, bad = read_events(path, skip_bad=skip_bad)
    except BadRowError as exc:
        raise ReplayError(f"{exc} (nothing was written; use --skip-bad to skip bad rows)") from None
    except (OSError, ValueError) as exc:
        raise ReplayError(str(exc)) from None
    rows.sort(key=lambda pair: pair[0].occurred_at)
    replayer = Replayer(ruleset)
    outcome = Outcome()
    handle = out.open("wb") if out else None
    started = time.perf_counter()
    try:
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task("replaying", total=len(rows))
            for i, (event, raw) in enumerate(rows):
                decision = replayer.decide(event)
                outcome.add(raw, decision)
                if handle is not None:
                    handle.write(orjson.dumps(decision) + b"\n")
                if i % 2000 == 0:
                    bar.update(task, completed=i)
    finally:
        if handle is not None:
            handle.close()
    outcome.elapsed_s = time.perf_counter() - started
    for row in bad:
        outcome.skipped.append(str(row))
    return outcome
