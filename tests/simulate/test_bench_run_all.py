"""bench/run_all.py's own steps on dicts: the stream runs' decisions are folded into the
identical-decisions check (and the goals recomputed), and the variants and identical-decisions
lines print what the figures say."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def run_all() -> Any:
    sys.path.insert(0, str(BENCH))
    try:
        import run_all as module
    finally:
        sys.path.remove(str(BENCH))
    return module


def _stream_run(workers: int, differing: int) -> dict[str, Any]:
    return {
        "workers": workers,
        "burst": {"events_per_s": 1_000.0 * workers, "events": 3_000},
        "reference_just_before": {"events_per_s": 4_000.0},
        "identical_to_engine_only": {
            "compared": 7_000,
            "differing": differing,
            "missing": 0,
            "examples": [],
            "decided_out_of_customer_order": 0,
            "differing_out_of_customer_order": 0,
            "differing_in_customer_order": differing,
        },
    }


def test_stream_decisions_join_the_identical_check_and_the_goals(run_all: Any) -> None:
    clean = {"compared": 500, "differing": 0, "missing": 0, "examples": []}
    result: dict[str, Any] = {
        "engine_only": {"events_per_s": 10_000.0},
        "in_process": {"events_per_s": 2_000.0},
        "identical_decisions": {
            "reference": "engine_only",
            "events": 500,
            "paths": {"in_process": clean, "replay": clean},
            "differing": 0,
        },
        "stream_throughput": {"stream": [_stream_run(1, 3), _stream_run(2, 0)]},
    }
    run_all.merge_stream(result)
    identical = result["identical_decisions"]
    assert set(identical["paths"]) == {
        "in_process",
        "replay",
        "stream_1_worker",
        "stream_2_workers",
    }
    assert identical["differing"] == 3
    assert result["goals"]["differing_decisions"]["measured"] == 3
    assert result["goals"]["differing_decisions"]["met"] is False
    assert result["variants"]["stream_1_worker"]["ratio"] == 0.25
    assert result["variants"]["stream_2_workers"]["ratio"] == 0.5
    line = run_all.identical_line(identical)
    assert "stream_1_worker 3 differing of 7,000 [0 of them out of customer order" in line


def test_the_variants_table_prints_ratios_and_reasons(run_all: Any) -> None:
    from lendguard.simulate.benchmark import variants

    result = {
        "in_process": {"events_per_s": 2_000.0},
        "in_process_postgres": {"events_per_s": 500.0},
        "skipped_blocks": {"http_workers_2": "not run (--no-http)"},
    }
    result["variants"] = variants(result)
    console = Console(width=200, record=True)
    console.print(run_all.variants_table(result))
    text = console.export_text()
    assert "0.250" in text
    assert "not run (--no-http)" in text
    assert "not applicable" in text
