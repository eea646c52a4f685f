"""``lendguard alliance demo`` for real: three ``lendguard serve`` processes on free ports,
driven over HTTP, its JSON summary checked against the overlap the demo's lists are built with;
and the synthetic identifiers it loads are what the alliance's canonical forms accept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lendguard.alliance.canonical import canonicalise
from lendguard.cli import alliance_demo as demo
from lendguard.cli.alliance_demo import NAMES, luhn_check, make_lists, resident_id_check, spelling

SIZE = 500


def test_checksums_match_the_reference_vectors() -> None:
    assert resident_id_check("11010519491231002") == "X"
    assert resident_id_check("44052418800101001") == "4"
    assert luhn_check("7992739871") == "3"
    assert luhn_check("622202020011223344") == "6"


def test_lists_have_the_known_overlap_and_every_spelling_is_canonical() -> None:
    lists = make_lists(SIZE, seed=7)
    assert len(lists.canonical["lender-a"]["mobile"]) == SIZE
    assert len(lists.canonical["lender-b"]["mobile"]) == int(SIZE * 0.8)
    assert lists.overlap("mobile", "lender-a", "lender-b") == SIZE // 5
    assert lists.overlap("mobile", "lender-a", "lender-c") == 0
    for name in NAMES:
        typed: dict[str, set[str]] = {}
        for kind, value in lists.typed[name]:
            typed.setdefault(kind, set()).add(canonicalise(kind, value))
        for kind, values in lists.canonical[name].items():
            assert typed.get(kind, set()) == set(values), (name, kind)
        assert sum(lists.respelt[name].values()) > 0  # canonicalisation has work to do
        assert (
            len(lists.typed[name])
            == sum(len(v) for v in lists.canonical[name].values()) + lists.duplicates[name]
        )
    listed = lists.applicant_listed
    assert listed["mobile"] in lists.canonical["lender-a"]["mobile"]
    assert listed["mobile"] not in lists.canonical["lender-b"]["mobile"]
    assert listed["resident_id"] not in lists.canonical["lender-b"]["resident_id"]
    for kind, value in lists.applicant_clean.items():
        assert all(value not in lists.canonical[n].get(kind, []) for n in NAMES)
        assert canonicalise(kind, spelling(kind, value, 1)) == value
    assert make_lists(SIZE, seed=7).typed == lists.typed  # deterministic by seed


def test_the_demo_runs_three_servers_and_finds_the_known_overlap(tmp_path: Path) -> None:
    folder = tmp_path / "demo-alliance"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lendguard.cli.main",
            "alliance",
            "demo",
            "--size",
            str(SIZE),
            "--dir",
            str(folder),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,  # a safety net for a loaded machine, not the expected time
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
    summary = json.loads(done.stdout)
    lists = make_lists(SIZE, seed=1)
    overlap = lists.overlap("mobile", "lender-a", "lender-b")
    assert summary["ok"] is True
    assert all(summary["checks"].values()), summary["checks"]
    intersection = summary["psi"]["intersection"]
    assert intersection["count"] == overlap == SIZE // 5
    assert intersection["matched_entries"] == overlap
    assert summary["psi"]["cardinality"]["count"] == overlap
    for name in NAMES:
        expected = {k: len(v) for k, v in lists.canonical[name].items() if v}
        counts = summary["lists"][name]["counts"]
        assert {kind: n for kind, n in counts.items() if n} == expected
        assert summary["lists"][name]["already_listed"] == lists.duplicates[name]
    listed = summary["lookup"]["listed"]
    assert listed["members"] == ["lender-a"]
    assert sorted({h["kind"] for h in listed["hits"]}) == ["mobile", "resident_id"]
    assert listed["signal"] == {"alliance_hit": ["mobile", "resident_id"]}
    assert summary["lookup"]["clean"]["hits"] == []
    # lender-c's application carrying the lookup's signal is held for manual review.
    assert summary["application"]["action"] == "intercept"
    assert "ALLIANCE_LISTED" in summary["application"]["reasons"]
    aggregation = summary["aggregation"]
    assert aggregation["two_members_status"] == 422
    assert aggregation["participants"] == sorted(NAMES)
    assert aggregation["dropped"] == []
    assert aggregation["totals"] == aggregation["expected_totals"]
    # Every application decided before the round counts once (3 + 2 + 1, and lender-c's).
    assert aggregation["interventions"] == aggregation["interventions_decided"] == 7
    # Both sides of every exchange recorded it (counts only).
    for name in NAMES:
        assert summary["exchanges"][name]
    # The servers are gone: their database locks are free again.
    from lendguard.kit.serverlock import holding

    for name in NAMES:
        with holding(f"sqlite:///{folder / name / 'lendguard.db'}", exclusive=True):
            pass


@pytest.mark.parametrize("size", [10])
def test_a_size_below_the_minimum_is_refused(size: int, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lendguard.cli.main",
            "alliance",
            "demo",
            "--size",
            str(size),
            "--dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert not any(tmp_path.iterdir())  # refused before starting anything


def sleeper(server: demo.Server) -> None:
    """Stands in for ``lendguard serve``: a process that only waits to be stopped."""
    server.log = server.folder / "server.log"
    server.process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])


def test_the_servers_are_stopped_when_the_demo_fails_midway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "start", sleeper)
    monkeypatch.setattr(demo, "wait_ready", lambda servers: None)
    monkeypatch.setattr(demo, "_migrated_copies", lambda folder, databases: None)
    started: list[demo.Server] = []

    def fail_midway() -> None:
        with demo.three_servers(tmp_path) as servers:
            started.extend(servers)
            assert all(s.process is not None and s.process.poll() is None for s in servers)
            raise demo.DemoFailed("a step went wrong")

    with pytest.raises(demo.DemoFailed):
        fail_midway()
    assert [s.name for s in started] == list(NAMES)
    assert len({s.port for s in started}) == 3
    assert all(s.process is not None and s.process.poll() is not None for s in started)


def test_sigterm_unwinds_like_ctrl_c() -> None:
    before = signal.getsignal(signal.SIGTERM)

    def terminated() -> None:
        with demo.stopped_by_sigterm():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler interrupts this

    with pytest.raises(KeyboardInterrupt):
        terminated()
    assert signal.getsignal(signal.SIGTERM) == before
