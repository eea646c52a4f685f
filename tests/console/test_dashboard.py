"""The dashboard counts decisions by the day each event happened, in the operator's time zone
(issue #15): a replayed month is a month of bars, not one bar on the day it was loaded; its
figures are the demo summary's; an empty database has a plain axis (0), never ``1/0/0``."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import time_machine

from fixtures import Api, make_event, sign_in
from lendguard.events.schemas import Event
from lendguard.kit.charts import axis_ticks, stacked_bars
from lendguard.simulate.generator import generate
from lendguard.simulate.metrics import Outcome

SHANGHAI = ZoneInfo("Asia/Shanghai")
# "Today" for these tests: every decision is made at this instant, long after its event.
DECIDED = datetime(2026, 4, 20, 9, 0, tzinfo=UTC)


def _bars(html: str) -> dict[str, int]:
    return {
        day: int(total)
        for day, total in re.findall(r'<g class="bar" data-day="([^"]+)" data-total="(\d+)"', html)
    }


def _by_action(html: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for action, count in re.findall(r'data-action="([a-z]+)" data-count="(\d+)"', html):
        counts[action] += int(count)
    return counts


def _totals(html: str) -> Counter[str]:
    found = re.findall(r'id="total-([a-z]+)" data-count="(\d+)"', html)
    return Counter({action: int(n) for action, n in found if int(n)})


def _ticks(html: str) -> list[str]:
    chart = html[html.index('aria-label="Decisions per day"') :]
    chart = chart[: chart.index("</svg>")]
    return re.findall(r'text-anchor="end" class="tick">([^<]*)<', chart)


def _decide(api: Api, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    decided: list[dict[str, Any]] = []
    for start in range(0, len(events), 256):
        chunk = events[start : start + 256]
        decided += api.services.decisions.decide_many([Event.model_validate(e) for e in chunk])
    return decided


def test_a_replayed_month_has_one_bar_per_event_day_in_the_operators_zone(case_app: Api) -> None:
    # 30 days of history, each event at 01:30 in Shanghai (17:30 UTC the day before), all
    # decided "today": by event day in Asia/Shanghai, 30 bars, one per day the events happened.
    first = datetime(2026, 2, 1, 1, 30, tzinfo=SHANGHAI)
    events = [
        make_event(
            type="login",
            customer_id=f"replayed-{day}-{n}",
            occurred_at=(first + timedelta(days=day)).isoformat(),
            amount=None,
            currency=None,
            payee_id=None,
        )
        for day in range(30)
        for n in range(day % 3 + 1)
    ]
    with time_machine.travel(DECIDED, tick=False):
        decided = _decide(case_app, events)
        analyst = sign_in(case_app.app, case_app.services, "analyst")
        html = analyst.get("/console").text
    expected_days = Counter((first + timedelta(days=d)).date().isoformat() for d in range(30))
    per_day = {day: sum(1 for e in events if e["occurred_at"][:10] == day) for day in expected_days}
    assert _bars(html) == per_day
    assert len(_bars(html)) == 30
    actions = Counter(d["action"] for d in decided)
    assert _by_action(html) == actions
    assert _totals(html) == actions
    assert all(tick.replace(",", "").isdigit() for tick in _ticks(html))


def test_the_dashboard_counts_the_demo_month_as_the_demo_summary_does(case_app: Api) -> None:
    # The demo's own code path (lendguard.simulate.demo.run_demo): the generated population
    # decided 256 events a commit, summarised by Outcome; the dashboard's counts by action are
    # the summary's, its days those of the (non-warm-up) events in Asia/Shanghai.
    population = generate(customers=120, days=30, seed=7)
    outcome = Outcome()
    with time_machine.travel(DECIDED, tick=False):
        decided = _decide(case_app, population.events)
        for raw, decision in zip(population.events, decided, strict=True):
            outcome.add(raw, decision)
        analyst = sign_in(case_app.app, case_app.services, "analyst")
        html = analyst.get("/console").text
    assert outcome.warmup_events > 0  # the history that only builds state is in the replay
    assert _totals(html) == +outcome.actions
    assert _by_action(html) == +outcome.actions
    interventions = sum(n for a, n in outcome.actions.items() if a != "allow")
    assert f'id="kpi-interventions">{interventions:,}<' in html
    days = Counter(
        datetime.fromisoformat(e["occurred_at"]).astimezone(SHANGHAI).date().isoformat()
        for e in population.events
        if not (e.get("attributes") or {}).get("warmup")
    )
    assert _bars(html) == dict(days)


def test_an_empty_database_has_a_zero_axis_and_says_so(case_app: Api) -> None:
    analyst = sign_in(case_app.app, case_app.services, "analyst")
    html = analyst.get("/console").text
    assert _ticks(html) == ["0"]
    assert "No decisions yet." in html
    assert _bars(html) == {}
    chinese = analyst.get("/console?lang=zh-CN").text
    assert "暂无决策。" in chinese


def test_axis_ticks_are_whole_numbers_at_a_round_step() -> None:
    assert axis_ticks(0) == [0]
    assert axis_ticks(1) == [0, 1]
    assert axis_ticks(3) == [0, 1, 2, 3]
    assert axis_ticks(7) == [0, 2, 4, 6, 8]
    assert axis_ticks(1234) == [0, 500, 1000, 1500]
    for top in range(0, 2000, 7):
        ticks = axis_ticks(top)
        assert ticks[0] == 0
        assert ticks[-1] >= top
        assert len(ticks) <= 5
        assert len({b - a for a, b in zip(ticks, ticks[1:], strict=False)}) <= 1


def test_the_chart_legend_is_in_the_pages_language() -> None:
    legend = {"allow": "放行", "intercept": "拦截"}
    svg = stacked_bars(["2026-03-01"], {"allow": [3], "intercept": [1]}, legend=legend)
    assert ">放行</text>" in svg
    assert ">拦截</text>" in svg
    assert ">allow<" not in svg
    assert ">intercept<" not in svg
