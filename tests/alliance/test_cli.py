"""``lendguard alliance`` through Typer's test runner (issue #20): keys and identity, members,
the list (add, import with counts and line numbers and never a value, count), the history, and
a PSI and a lookup against a second lender served by uvicorn on this machine.

This lender (A) is the CLI on a SQLite file; lender B is a real server with its own database
and identity; each configures the other as a member, as two lenders' operators would.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import select
from typer.testing import CliRunner

from fixtures import ADMIN_KEY, served_app
from lendguard.alliance.peer import Identity
from lendguard.alliance.schemas import AllianceListEntryBody, AllianceMemberBody
from lendguard.app import create_app
from lendguard.cli.main import app
from lendguard.config import Settings, get_settings
from lendguard.db import make_engine
from lendguard.models.access import AuditEntry
from lendguard.models.alliance import AllianceListEntry

SEED_A = bytes(range(32))
SEED_B = bytes(range(100, 132))
KEY_A = base64.b64encode(SEED_A).decode()
PUBLIC_A = Identity("lender-a", SEED_A).public_key_b64
PUBLIC_B = Identity("lender-b", SEED_B).public_key_b64
# Valid identifiers (mainland mobiles; a resident ID with its check character).
MOBILES = ["13800138000", "13912345678", "15011112222", "18600001111"]
RESIDENT_ID = "11010519491231002X"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> Iterator[CliRunner]:
    """Lender A's command line on a fresh SQLite database, its alliance identity set."""
    monkeypatch.setenv("LENDGUARD_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("LENDGUARD_STATE_BACKEND", "memory")
    monkeypatch.setenv("LENDGUARD_ALLIANCE_MEMBER_ID", "lender-a")
    monkeypatch.setenv("LENDGUARD_ALLIANCE_SIGNING_KEY", KEY_A)
    monkeypatch.delenv("LENDGUARD_REDIS_URL", raising=False)
    logging_config = structlog.get_config()
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()
    structlog.configure(**logging_config)


def invoke(runner: CliRunner, *args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def answer(runner: CliRunner, *args: str) -> Any:
    result = invoke(runner, *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def audit_actions(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [r.action for r in conn.execute(select(AuditEntry).order_by(AuditEntry.id))]
    finally:
        engine.dispose()


@pytest.fixture
def lender_b(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[str, Any]]:
    """Lender B: a real server (its own database and identity) with A as a member and two of
    A's mobiles and one other on its list."""
    import shutil

    path = tmp_path / "lender-b.db"
    shutil.copyfile(sqlite_template, path)
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite:///{path}",
        bootstrap_admin_key=ADMIN_KEY,
        log_level="WARNING",
        state_backend="memory",
        alliance_member_id="lender-b",
        alliance_signing_key=base64.b64encode(SEED_B).decode(),
    )
    server = create_app(settings)
    service = server.state.services.alliance
    with served_app(server) as base:
        service.add_member(
            AllianceMemberBody(
                member_id="lender-a", name="Lender A", url="http://127.0.0.1:9", public_key=PUBLIC_A
            ),
            "test",
            None,
        )
        for value in (MOBILES[0], "+86 139-1234-5678", "17700007777"):
            service.add_entry(
                AllianceListEntryBody(kind="mobile", value=value, reason="confirmed_fraud"),
                "test",
                None,
            )
        yield base, service
    server.state.services.close()


class TestKeys:
    def test_keys_new_is_a_fresh_seed_and_its_public_key(self, cli: CliRunner) -> None:
        first, second = (
            answer(cli, "alliance", "keys", "new", "--json"),
            answer(cli, "alliance", "keys", "new", "--json"),
        )
        assert first["signing_key"] != second["signing_key"]
        seed = base64.b64decode(first["signing_key"])
        assert len(seed) == 32
        assert Identity("x", seed).public_key_b64 == first["public_key"]

    def test_identity_from_the_settings(self, cli: CliRunner) -> None:
        found = answer(cli, "alliance", "identity", "--json")
        assert found == {"member_id": "lender-a", "public_key": PUBLIC_A, "lookup_epoch": "1"}

    def test_identity_without_the_alliance_says_how_to_set_it(
        self, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("LENDGUARD_ALLIANCE_SIGNING_KEY")
        get_settings.cache_clear()
        result = invoke(cli, "alliance", "identity")
        assert result.exit_code == 2
        assert "LENDGUARD_ALLIANCE_SIGNING_KEY" in result.stderr


class TestMembers:
    def test_add_list_remove_audited(self, cli: CliRunner, sqlite_url: str) -> None:
        added = answer(
            cli,
            "alliance",
            "members",
            "add",
            "--id",
            "lender-b",
            "--name",
            "Lender B",
            "--url",
            "https://b.example/",
            "--public-key",
            PUBLIC_B,
        )
        assert (added["member_id"], added["status"], added["url"]) == (
            "lender-b",
            "active",
            "https://b.example",
        )
        assert added["created_by"].startswith("os:")
        listed = answer(cli, "alliance", "members", "list", "--json")["members"]
        assert [m["member_id"] for m in listed] == ["lender-b"]
        removed = answer(cli, "alliance", "members", "remove", "lender-b")
        assert removed["status"] == "removed"
        actions = audit_actions(sqlite_url)
        assert "alliance.member.add" in actions
        assert "alliance.member.remove" in actions
        assert "read.alliance.members" in actions

    @pytest.mark.parametrize(
        ("args", "field"),
        [
            (["--id", "bad id", "--url", "https://b.example"], "member_id"),
            (["--id", "lender-b", "--url", "ftp://b.example"], "url"),
            (["--id", "lender-a", "--url", "https://b.example"], "member_id"),
        ],
    )
    def test_a_bad_member_is_refused_naming_the_field(
        self, cli: CliRunner, args: list[str], field: str
    ) -> None:
        result = invoke(
            cli, "alliance", "members", "add", *args, "--name", "B", "--public-key", PUBLIC_B
        )
        assert result.exit_code == 2
        assert field in result.stderr
        assert answer(cli, "alliance", "members", "list", "--json")["members"] == []

    def test_a_bad_public_key_is_refused(self, cli: CliRunner) -> None:
        result = invoke(
            cli,
            "alliance",
            "members",
            "add",
            "--id",
            "lender-b",
            "--name",
            "B",
            "--url",
            "https://b.example",
            "--public-key",
            "A" * 40,
        )
        assert result.exit_code == 2
        assert "public_key" in result.stderr

    def test_removing_an_unknown_member_is_refused(self, cli: CliRunner) -> None:
        result = invoke(cli, "alliance", "members", "remove", "nobody")
        assert result.exit_code == 2
        assert "member_id" in result.stderr


class TestList:
    def test_add_masks_and_a_second_spelling_is_the_same_entry(self, cli: CliRunner) -> None:
        first = answer(cli, "alliance", "list", "add", "--kind", "mobile", "--value", MOBILES[0])
        assert first["created"] is True
        assert MOBILES[0] not in json.dumps(first)
        again = answer(
            cli, "alliance", "list", "add", "--kind", "mobile", "--value", "0086 138 0013 8000"
        )
        assert (again["created"], again["id"]) == (False, first["id"])
        counts = answer(cli, "alliance", "list", "count", "--json")
        assert counts == {
            "counts": {"resident_id": 0, "mobile": 1, "card": 0, "device_id": 0},
            "total": 1,
        }

    @pytest.mark.parametrize(
        ("args", "said"),
        [
            (["--kind", "mobile", "--value", "12345"], "mobile"),
            (["--kind", "passport", "--value", "E1234567"], "--kind"),
            (["--kind", "card", "--value", "4111111111111112"], "Luhn"),
            (["--kind", "mobile", "--value", MOBILES[1], "--reason", "Bad Reason"], "reason"),
        ],
    )
    def test_a_bad_entry_is_refused_and_nothing_is_kept(
        self, cli: CliRunner, sqlite_url: str, args: list[str], said: str
    ) -> None:
        result = invoke(cli, "alliance", "list", "add", *args)
        assert result.exit_code == 2
        assert said in result.stderr
        value = args[args.index("--value") + 1]
        assert value not in result.stderr
        engine = make_engine(sqlite_url)
        with engine.connect() as conn:
            assert conn.execute(select(AllianceListEntry)).all() == []
        engine.dispose()

    def test_import_counts_added_duplicates_and_refused_lines_never_values(
        self, cli: CliRunner, tmp_path: Path, sqlite_url: str
    ) -> None:
        file = tmp_path / "mobiles.txt"
        lines = [
            MOBILES[0],
            "",
            "+86 139 1234 5678",
            "not-a-number-555",
            MOBILES[1],  # the same as line 3 in another spelling
            "１５０１１１１２２２２",  # full-width digits
            "1234",
            MOBILES[0],
        ]
        file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        result = invoke(cli, "alliance", "list", "import", "--kind", "mobile", str(file), "--json")
        assert result.exit_code == 1  # some lines were refused
        summary = json.loads(result.stdout)
        assert (summary["added"], summary["duplicates"], summary["refused"]) == (3, 2, 2)
        assert summary["blank"] == 1
        assert [r["line"] for r in summary["refused_lines"]] == [4, 7]
        for value in lines[2:]:
            if value:
                assert value not in result.output
        assert "5555" not in result.output
        counts = answer(cli, "alliance", "list", "count", "--json")["counts"]
        assert counts["mobile"] == 3
        actions = audit_actions(sqlite_url)
        assert actions.count("alliance.list.add") == 3

    def test_import_of_a_clean_file_exits_0_and_says_the_counts(
        self, cli: CliRunner, tmp_path: Path
    ) -> None:
        file = tmp_path / "ids.txt"
        file.write_text(f"{RESIDENT_ID}\n{RESIDENT_ID.lower()}\n", encoding="utf-8")
        result = invoke(cli, "alliance", "list", "import", "--kind", "resident_id", str(file))
        assert result.exit_code == 0, result.output
        assert "1 added, 1 already on the list, 0 refused (2 lines)" in result.stdout
        assert RESIDENT_ID not in result.output

    def test_import_of_a_missing_file_is_refused(self, cli: CliRunner, tmp_path: Path) -> None:
        result = invoke(
            cli, "alliance", "list", "import", "--kind", "mobile", str(tmp_path / "none.txt")
        )
        assert result.exit_code == 2


class TestWithoutTheAlliance:
    @pytest.mark.parametrize(
        "args",
        [
            ["members", "list"],
            ["list", "count"],
            ["list", "add", "--kind", "mobile", "--value", MOBILES[0]],
            ["history"],
            ["psi", "--peer", "lender-b", "--kind", "mobile"],
        ],
    )
    def test_each_says_it_is_not_configured(
        self, cli: CliRunner, monkeypatch: pytest.MonkeyPatch, args: list[str]
    ) -> None:
        monkeypatch.delenv("LENDGUARD_ALLIANCE_MEMBER_ID")
        get_settings.cache_clear()
        result = invoke(cli, "alliance", *args)
        assert result.exit_code == 2
        assert "alliance not configured" in result.stderr


class TestExchangesWithAServedLender:
    def test_psi_lookup_and_history(
        self, cli: CliRunner, lender_b: tuple[str, Any], sqlite_url: str
    ) -> None:
        base, service_b = lender_b
        answer(
            cli,
            "alliance",
            "members",
            "add",
            "--id",
            "lender-b",
            "--name",
            "Lender B",
            "--url",
            base,
            "--public-key",
            PUBLIC_B,
        )
        file = Path(sqlite_url.removeprefix("sqlite:///")).parent / "a-mobiles.txt"
        file.write_text("\n".join(MOBILES) + "\n", encoding="utf-8")
        answer(cli, "alliance", "list", "import", "--kind", "mobile", str(file), "--json")

        # intersection: which of ours (masked), both in B's list (one typed another way)
        found = answer(cli, "alliance", "psi", "--peer", "lender-b", "--kind", "mobile", "--json")
        assert (found["items"], found["peer_items"], found["count"]) == (4, 3, 2)
        assert len(found["matched"]) == 2
        shown = json.dumps(found)
        for value in MOBILES:
            assert value not in shown
        # cardinality: only the count
        counted = answer(
            cli,
            "alliance",
            "psi",
            "--peer",
            "lender-b",
            "--kind",
            "mobile",
            "--cardinality",
            "--json",
        )
        assert counted["count"] == 2
        assert counted["matched"] is None

        # a lookup: listed at B, then one that is not
        hit = answer(cli, "alliance", "lookup", "--kind", "mobile", "--value", MOBILES[1], "--json")
        assert hit["hits"] == [{"member": "lender-b", "kind": "mobile"}]
        assert hit["signal"] == {"alliance_hit": ["mobile"]}
        clean = invoke(cli, "alliance", "lookup", "--kind", "mobile", "--value", MOBILES[3])
        assert clean.exit_code == 0, clean.output
        assert "not listed" in clean.stdout
        assert '"alliance_hit": []' in clean.stdout

        history = answer(cli, "alliance", "history", "--json", "--limit", "10")["exchanges"]
        assert [(x["kind"], x["role"], x["peer"]) for x in history] == [
            ("lookup", "requester", "lender-b"),
            ("lookup", "requester", "lender-b"),
            ("psi", "requester", "lender-b"),
            ("psi", "requester", "lender-b"),
        ]
        assert [x["matched"] for x in history[2:]] == [2, 2]
        assert (
            answer(cli, "alliance", "history", "--json", "--kind", "psi")["exchanges"][0]["mode"]
            == "cardinality"
        )
        table = invoke(cli, "alliance", "history")
        assert table.exit_code == 0
        for value in MOBILES:
            assert value not in table.output
        # B recorded its side too (counts only)
        seen_by_b = service_b.exchanges(kind=None, peer="lender-a", since=None, limit=10, offset=0)
        assert {x["role"] for x in seen_by_b["exchanges"]} == {"responder"}
        assert len(seen_by_b["exchanges"]) == 4
        actions = audit_actions(sqlite_url)
        assert "alliance.psi.requester" in actions
        assert "read.alliance.exchanges" in actions

    def test_a_psi_with_an_unknown_member_is_refused(self, cli: CliRunner) -> None:
        result = invoke(cli, "alliance", "psi", "--peer", "lender-z", "--kind", "mobile")
        assert result.exit_code == 2
        assert "peer" in result.stderr

    def test_aggregate_needs_enough_members(self, cli: CliRunner) -> None:
        result = invoke(cli, "alliance", "aggregate", "--period", "2026-01")
        assert result.exit_code == 2
        assert "members" in result.stderr
        bad = invoke(cli, "alliance", "aggregate", "--period", "2026-13")
        assert bad.exit_code == 2
        assert "period" in bad.stderr
