"""``lendguard alliance demo``: three lenders on this machine show the alliance end to end.

The issue asks for a two-instance demo. PSI and the lookup need two lenders; an aggregation
round needs a third (a total of two members' figures tells each the other's), so the demo
starts three real servers (``lendguard serve`` subprocesses on free localhost ports), each with
its own SQLite database under ``var/demo-alliance/<name>/``, its own fresh Ed25519 member
identity, fresh secrets and a bootstrap admin key, and drives them only through their HTTP APIs,
as three lenders' engineers would:

1. each server publishes its identity; each adds the other two as members;
2. each loads its alliance list: deterministic synthetic identifiers (18-digit resident IDs with
   their check character, E.164 mobiles, Luhn-valid UnionPay cards) with a KNOWN overlap, some
   typed in other spellings (spaces, ``0086``, full-width digits, 15-digit IDs, a lower-case x)
   that canonicalisation folds into one;
3. lender-a runs a PSI with lender-b on mobiles, in intersection then cardinality mode;
4. lender-c looks one applicant up across a and b (a lists them, b does not), then a clean one;
5. lender-a asks for an aggregation round with b alone (refused: two cannot aggregate) and then
   with b and c;
6. every member's record of exchanges is read back.

The results are checked against what the demo knows it loaded (exit status 1 on a mismatch) and
the servers are stopped whatever happens (also on an error or Ctrl-C). ``--json`` prints the
summary on stdout (the steps go to stderr), which the demo's test reads.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import httpx
import typer
from rich import box
from rich.console import Console
from rich.table import Table

from lendguard.cli.common import dumps

NAMES = ("lender-a", "lender-b", "lender-c")
DEFAULT_DIR = Path("var/demo-alliance")
REASON = "confirmed_fraud"
STARTUP_S = 90.0
REQUEST_TIMEOUT_S = 120.0
LIST_CONCURRENCY = 16

# Mobile prefixes every numbering plan lists as mobile (China Mobile, Unicom, Telecom).
MOBILE_PREFIXES = (
    "130 131 132 133 134 135 136 137 138 139 150 151 152 153 155 156 157 158 159 "
    "166 177 180 181 182 183 184 185 186 187 188 189 198 199"
).split()
# Address codes (GB/T 2260) of real districts.
ADDRESS_CODES = (
    "110101 110105 310101 310115 440305 440524 330106 510107 420106 320102 370101 500103"
).split()
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


class DemoFailed(RuntimeError):
    """The demo could not go on (a server did not start, an API call was refused)."""


# -- synthetic identifiers ---------------------------------------------------------------------


def resident_id_check(first17: str) -> str:
    """The check character of GB 11643-1999 (ISO 7064 MOD 11-2)."""
    return ID_CHECK[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def luhn_check(body: str) -> str:
    """The digit that makes ``body`` + digit pass the Luhn check."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:  # doubled: the check digit will sit to the right of it
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def _mobile(rng: random.Random) -> str:
    return "+86" + rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def _resident_id(rng: random.Random) -> str:
    year = rng.randrange(1950, 2004)
    month = rng.randrange(1, 13)
    day = rng.randrange(1, 29)
    first17 = f"{rng.choice(ADDRESS_CODES)}{year:04d}{month:02d}{day:02d}{rng.randrange(1000):03d}"
    return first17 + resident_id_check(first17)


def _card(rng: random.Random) -> str:
    length = rng.choice((16, 19))
    body = "62" + "".join(str(rng.randrange(10)) for _ in range(length - 3))
    return body + luhn_check(body)


GENERATORS = {"mobile": _mobile, "resident_id": _resident_id, "card": _card}


def spelling(kind: str, canonical: str, variant: int) -> str:
    """One way a person might type ``canonical`` (variant 0: the canonical form itself)."""
    if kind == "mobile":
        national = canonical[3:]
        forms = [
            canonical,
            national,
            f"{national[:3]} {national[3:7]} {national[7:]}",
            f"+86-{national[:3]}-{national[3:7]}-{national[7:]}",
            "0086" + national,
            national.translate(FULL_WIDTH),
        ]
    elif kind == "resident_id":
        forms = [canonical, canonical.lower()]
        if canonical[6:8] == "19":  # born in the 1900s: also the old 15-digit form
            forms.append(canonical[:6] + canonical[8:17])
    else:
        forms = [
            canonical,
            " ".join(canonical[i : i + 4] for i in range(0, len(canonical), 4)),
            "-".join(canonical[i : i + 4] for i in range(0, len(canonical), 4)),
        ]
    return forms[variant % len(forms)]


@dataclass(slots=True)
class Lists:
    """Every member's list per kind (canonical values) and what the demo sends for them."""

    canonical: dict[str, dict[str, list[str]]]
    # per member: (kind, value as typed)
    typed: dict[str, list[tuple[str, str]]]
    # per member, per kind: entries typed in a non-canonical spelling / sent twice
    respelt: dict[str, dict[str, int]]
    duplicates: dict[str, int]
    applicant_listed: dict[str, str]
    applicant_clean: dict[str, str]

    def overlap(self, kind: str, first: str, second: str) -> int:
        return len(set(self.canonical[first][kind]) & set(self.canonical[second][kind]))


def make_lists(size: int, seed: int) -> Lists:
    """Lists with a known overlap. Mobiles: a ``size``, b ``0.8 size`` of which ``0.2 size``
    are a's, c ``0.1 size`` (none of a's or b's). Resident IDs and cards: a and b a tenth of
    ``size`` each with a fifth in common. The listed applicant is on a's lists only."""
    rng = random.Random(seed)
    universe: dict[str, list[str]] = {}
    for kind, count in (("mobile", 2 * size), ("resident_id", size // 4), ("card", size // 4)):
        seen: set[str] = set()
        while len(seen) < count + 4:
            seen.add(GENERATORS[kind](rng))
        values = sorted(seen)
        rng.shuffle(values)
        universe[kind] = values
    small = max(size // 10, 5)
    common = max(size // 5, 1)
    mobiles = universe["mobile"]
    canonical: dict[str, dict[str, list[str]]] = {name: {} for name in NAMES}
    canonical["lender-a"]["mobile"] = mobiles[:size]
    b_new = int(size * 0.8) - common
    canonical["lender-b"]["mobile"] = mobiles[size - common : size + b_new]
    canonical["lender-c"]["mobile"] = mobiles[size + b_new : size + b_new + small]
    for kind in ("resident_id", "card"):
        values = universe[kind]
        shared = max(small // 5, 1)
        canonical["lender-a"][kind] = values[:small]
        canonical["lender-b"][kind] = values[small - shared : 2 * small - shared]
        canonical["lender-c"][kind] = []
    # The listed applicant: a's first mobile and resident ID (not in the common part).
    listed = {"mobile": mobiles[0], "resident_id": universe["resident_id"][0]}
    spare = -1
    clean = {kind: universe[kind][spare] for kind in ("mobile", "resident_id", "card")}
    typed: dict[str, list[tuple[str, str]]] = {}
    respelt: dict[str, dict[str, int]] = {}
    duplicates: dict[str, int] = {}
    for index, name in enumerate(NAMES):
        entries: list[tuple[str, str]] = []
        counts: dict[str, int] = {}
        for kind, values in canonical[name].items():
            counts[kind] = 0
            for position, value in enumerate(values):
                typed_value = spelling(kind, value, _variant(position, index))
                counts[kind] += typed_value != value
                entries.append((kind, typed_value))
        # A few mobiles sent a second time in another spelling: stored once.
        mobiles_of = canonical[name]["mobile"]
        again = [
            ("mobile", spelling("mobile", value, _variant(position, index) + 1))
            for position, value in enumerate(mobiles_of[: max(len(mobiles_of) // 200, 2)])
        ]
        duplicates[name] = len(again)
        random.Random(seed + index).shuffle(entries)
        # Sent last, once their first spelling is stored (see :func:`load_lists`).
        typed[name] = entries + again
        respelt[name] = counts
    return Lists(canonical, typed, respelt, duplicates, listed, clean)


def _variant(position: int, member: int) -> int:
    """One entry in three typed otherwise, shifted per member: the common items reach two
    lenders in different spellings and still match once canonical."""
    return 0 if (position + member) % 3 else 1 + (position // 3 + member) % 5


# -- the three servers ---------------------------------------------------------------------------


@dataclass(slots=True)
class Server:
    name: str
    folder: Path
    port: int
    admin_key: str
    process: subprocess.Popen[bytes] | None = None
    member_id: str = ""
    public_key: str = ""
    log: Path = field(default_factory=Path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.admin_key}"},
            timeout=REQUEST_TIMEOUT_S,
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fresh_folder(folder: Path) -> None:
    """Empty ``folder`` unless a server still runs on its database (then refuse)."""
    from lendguard.kit.serverlock import DatabaseInUse, holding

    database = folder / "lendguard.db"
    if database.exists():
        try:
            with holding(f"sqlite:///{database.resolve()}", exclusive=True):
                pass
        except DatabaseInUse:
            raise DemoFailed(
                f"a LendGuard server still runs on {database}: stop it (or the other demo) first"
            ) from None
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)


def _environment(server: Server, seed_b64: str) -> dict[str, str]:
    from lendguard.auth.secret_settings import generate_secrets

    env = {k: v for k, v in os.environ.items() if not k.startswith("LENDGUARD_")}
    env.update(generate_secrets())  # fresh PII key, master key and webhook secret per lender
    env.update(
        {
            "LENDGUARD_DATABASE_URL": f"sqlite:///{(server.folder / 'lendguard.db').resolve()}",
            "LENDGUARD_BOOTSTRAP_ADMIN_KEY": server.admin_key,
            "LENDGUARD_ALLIANCE_MEMBER_ID": server.name,
            "LENDGUARD_ALLIANCE_SIGNING_KEY": seed_b64,
            "LENDGUARD_LOG_LEVEL": "WARNING",
            "LENDGUARD_COOKIE_SECURE": "false",
            "LENDGUARD_DEFAULT_LOCALE": "en",
        }
    )
    return env


def start(server: Server) -> None:
    """``lendguard serve`` for ``server`` in its own folder (so no ``.env`` of the checkout
    leaks in), its output in ``server.log``."""
    seed_b64 = base64.b64encode(secrets.token_bytes(32)).decode()
    server.log = server.folder / "server.log"
    with server.log.open("wb") as log:
        server.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "lendguard.cli.main",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(server.port),
            ],
            cwd=server.folder,
            env=_environment(server, seed_b64),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def wait_ready(servers: list[Server]) -> None:
    deadline = time.monotonic() + STARTUP_S
    waiting = list(servers)
    while waiting:
        for server in list(waiting):
            assert server.process is not None
            if server.process.poll() is not None:
                raise DemoFailed(
                    f"{server.name} stopped at start (exit {server.process.returncode}): "
                    f"{_tail(server.log)}"
                )
            try:
                if httpx.get(f"{server.url}/healthz", timeout=1.0).status_code == 200:
                    waiting.remove(server)
            except httpx.HTTPError:
                pass
        if waiting and time.monotonic() > deadline:
            names = ", ".join(s.name for s in waiting)
            raise DemoFailed(f"{names} did not answer within {STARTUP_S:.0f} s")
        if waiting:
            time.sleep(0.2)


def stop(servers: list[Server]) -> None:
    """SIGTERM every server, then SIGKILL what is still there after 10 s."""
    running = [s.process for s in servers if s.process is not None and s.process.poll() is None]
    for process in running:
        process.terminate()
    deadline = time.monotonic() + 10
    for process in running:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"


def _migrated_copies(folder: Path, databases: list[Path]) -> None:
    """Migrate one empty database and copy it for every lender: each server then finds its
    schema up to date instead of three processes migrating at once on a small machine."""
    import sqlite3

    from lendguard.db import upgrade

    template = folder / "template.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{template}{suffix}").unlink(missing_ok=True)
    upgrade(f"sqlite:///{template.resolve()}")
    with sqlite3.connect(template) as source:
        for database in databases:
            with sqlite3.connect(database) as copy:
                source.backup(copy)
            copy.close()
    source.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{template}{suffix}").unlink(missing_ok=True)


@contextmanager
def three_servers(folder: Path) -> Iterator[list[Server]]:
    servers = []
    for name in NAMES:
        member_folder = folder / name
        _fresh_folder(member_folder)
        servers.append(
            Server(
                name=name,
                folder=member_folder,
                port=free_port(),
                admin_key="lg_alliance_demo_" + secrets.token_urlsafe(18),
            )
        )
    _migrated_copies(folder, [s.folder / "lendguard.db" for s in servers])
    try:
        for server in servers:
            start(server)
        wait_ready(servers)
        yield servers
    finally:
        stop(servers)


@contextmanager
def stopped_by_sigterm() -> Iterator[None]:
    """SIGTERM (a CI runner's cancel, ``kill``) unwinds like Ctrl-C, so the servers stop."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- talking to them -----------------------------------------------------------------------------


def call(client: httpx.Client, method: str, path: str, body: Any = None) -> Any:
    response = client.request(method, path, json=body)
    if response.status_code >= 400:
        raise DemoFailed(
            f"{method} {client.base_url}{path} answered {response.status_code}: "
            f"{_problem(response)}"
        )
    return response.json() if response.content else None


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        parts = [str(body.get("title") or ""), str(body.get("detail") or "")]
        for error in body.get("errors") or []:
            if isinstance(error, dict):
                parts.append(f"{error.get('field')}: {error.get('message')}")
        return " — ".join(p for p in parts if p)
    return str(body)[:300]


async def _load_one(server: Server, entries: list[tuple[str, str]]) -> dict[str, int]:
    """POST every entry to ``server``'s list, ``LIST_CONCURRENCY`` at a time; counts of new
    entries and of ones it already had (the same identifier in another spelling)."""
    counts = {"created": 0, "existing": 0}
    queue = iter(entries)
    async with httpx.AsyncClient(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.admin_key}"},
        timeout=REQUEST_TIMEOUT_S,
    ) as client:

        async def worker() -> None:
            for kind, value in queue:
                body = {"kind": kind, "value": value, "reason": REASON}
                response = await client.post("/v1/alliance/list/entries", json=body)
                if response.status_code in (200, 201):
                    created = response.json().get("created", response.status_code == 201)
                    counts["created" if created else "existing"] += 1
                else:
                    raise DemoFailed(
                        f"{server.name} refused a {kind} list entry ({response.status_code}): "
                        f"{_problem(response)}"
                    )

        await asyncio.gather(*(worker() for _ in range(LIST_CONCURRENCY)))
    return counts


def load_lists(servers: list[Server], lists: Lists) -> dict[str, dict[str, int]]:
    """Every lender's list, the three at once; the identifiers sent a second time in another
    spelling go after the rest, as a later upload would bring them."""

    async def one(server: Server) -> dict[str, int]:
        entries = lists.typed[server.name]
        split = len(entries) - lists.duplicates[server.name]
        first = await _load_one(server, entries[:split])
        again = await _load_one(server, entries[split:])
        return {k: first[k] + again[k] for k in first}

    async def everyone() -> list[dict[str, int]]:
        return await asyncio.gather(*(one(s) for s in servers))

    return dict(zip((s.name for s in servers), asyncio.run(everyone()), strict=True))


def list_counts(answer: Any) -> dict[str, int]:
    """Counts per kind from GET /v1/alliance/list, whatever its exact shape."""
    if isinstance(answer, dict):
        counts = answer.get("counts", answer)
        if isinstance(counts, dict):
            return {str(k): int(v) for k, v in counts.items() if isinstance(v, int)}
        if isinstance(counts, list):
            return {str(c["kind"]): int(c["count"]) for c in counts}
    return {}


def count_of(answer: dict[str, Any]) -> int:
    count = answer.get("count")
    if not isinstance(count, int):
        raise DemoFailed(f"the PSI answer carries no count: {sorted(answer)}")
    return count


def exchanges_of(answer: Any) -> list[dict[str, Any]]:
    if isinstance(answer, list):
        return answer
    if isinstance(answer, dict):
        for key in ("items", "exchanges", "data"):
            if isinstance(answer.get(key), list):
                return list(answer[key])
    return []


# -- the demo ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Report:
    console: Console
    summary: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)
    step_number: int = 0

    def step(self, title: str) -> None:
        self.step_number += 1
        self.console.rule(f"[bold]{self.step_number}. {title}")

    def say(self, text: str) -> None:
        self.console.print(text)

    def check(self, name: str, ok: bool, text: str) -> None:
        self.checks[name] = ok
        mark = "[green]✓[/green]" if ok else "[red]✗[/red]"
        self.console.print(f"{mark} {text}")


def run_demo(folder: Path, size: int, seed: int, console: Console) -> dict[str, Any]:
    report = Report(console)
    lists = make_lists(size, seed)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    report.summary.update(size=size, seed=seed, timings_s=timings)
    with ExitStack() as stack:
        stack.enter_context(stopped_by_sigterm())
        report.step("Three lenders start, each with its own database, keys and identity")
        t0 = time.perf_counter()
        servers = stack.enter_context(three_servers(folder))
        timings["start"] = time.perf_counter() - t0
        clients = {s.name: stack.enter_context(s.client()) for s in servers}
        _identities(report, servers, clients)
        _members(report, servers, clients)
        t0 = time.perf_counter()
        _lists(report, servers, clients, lists)
        timings["lists"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        _psi(report, clients, lists, "intersection")
        timings["psi_intersection"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        _psi(report, clients, lists, "cardinality")
        timings["psi_cardinality"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        _lookup(report, clients, lists)
        timings["lookup"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        _aggregation(report, servers, clients)
        timings["aggregation"] = time.perf_counter() - t0
        _records(report, clients)
        report.step("Stopping the three servers")
    timings["total"] = time.perf_counter() - started
    report.summary["checks"] = report.checks
    report.summary["ok"] = bool(report.checks) and all(report.checks.values())
    _verdict(report, timings)
    return report.summary


def _identities(report: Report, servers: list[Server], clients: dict[str, httpx.Client]) -> None:
    table = Table("member id", "URL", "Ed25519 public key", box=box.SIMPLE_HEAD)
    for server in servers:
        identity = call(clients[server.name], "GET", "/v1/alliance/identity")
        server.member_id = str(identity.get("member_id") or server.name)
        server.public_key = str(identity["public_key"])
        table.add_row(server.member_id, server.url, server.public_key)
    report.say(
        "Each server runs `lendguard serve` with fresh secrets (PII key, vault master key), a "
        "fresh Ed25519 signing key (LENDGUARD_ALLIANCE_SIGNING_KEY) and a bootstrap admin key; "
        f"databases and logs under {servers[0].folder.parent}/<member id>/."
    )
    report.console.print(table, soft_wrap=True)
    report.summary["members"] = [
        {"name": s.name, "member_id": s.member_id, "url": s.url, "public_key": s.public_key}
        for s in servers
    ]


def _members(report: Report, servers: list[Server], clients: dict[str, httpx.Client]) -> None:
    report.step("Each lender adds the other two as members (id, URL, public key)")
    for server in servers:
        for other in servers:
            if other is server:
                continue
            call(
                clients[server.name],
                "POST",
                "/v1/alliance/members",
                {
                    "member_id": other.member_id,
                    "name": other.name,
                    "url": other.url,
                    "public_key": other.public_key,
                },
            )
        report.say(f"{server.name} accepts signed requests from the other two, and only them.")
    report.say(
        "Membership is mutual and configured by hand: a request signed by a key a lender did "
        "not add is refused (401), as is a replayed nonce or a clock more than 5 minutes off."
    )


def _lists(
    report: Report, servers: list[Server], clients: dict[str, httpx.Client], lists: Lists
) -> None:
    report.step("Each lender loads its alliance list through POST /v1/alliance/list/entries")
    t0 = time.perf_counter()
    loaded = load_lists(servers, lists)
    took = time.perf_counter() - t0
    table = Table("lender", "kind", "sent", "other spellings", "stored", "expected")
    summary: dict[str, Any] = {}
    for server in servers:
        counts = list_counts(call(clients[server.name], "GET", "/v1/alliance/list"))
        expected = {k: len(v) for k, v in lists.canonical[server.name].items() if v}
        for kind, number in expected.items():
            sent = sum(1 for k, _ in lists.typed[server.name] if k == kind)
            table.add_row(
                server.name,
                kind,
                f"{sent:,}",
                f"{lists.respelt[server.name][kind]:,}",
                f"{counts.get(kind, 0):,}",
                f"{number:,}",
            )
        summary[server.name] = {
            "sent": len(lists.typed[server.name]),
            "created": loaded[server.name]["created"],
            "already_listed": loaded[server.name]["existing"],
            "counts": counts,
            "expected": expected,
        }
        report.check(
            f"list_{server.name}",
            all(counts.get(k, 0) == n for k, n in expected.items())
            and loaded[server.name]["existing"] == lists.duplicates[server.name],
            f"{server.name}: {sum(expected.values()):,} identifiers stored; "
            f"{lists.duplicates[server.name]} sent twice in another spelling were recognised "
            "as already listed",
        )
    report.console.print(table)
    report.say(
        f"Loaded in {took:.1f} s. Values are canonicalised (E.164 mobiles, 18-character IDs "
        "with upper-case X, card digits) and kept only as a vault token, a keyed digest and a "
        "masked form: never in clear."
    )
    report.summary["lists"] = summary


def _psi(report: Report, clients: dict[str, httpx.Client], lists: Lists, mode: str) -> None:
    expected = lists.overlap("mobile", "lender-a", "lender-b")
    a_items = len(lists.canonical["lender-a"]["mobile"])
    b_items = len(lists.canonical["lender-b"]["mobile"])
    report.step(f"PSI lender-a ↔ lender-b on mobiles, {mode} mode")
    t0 = time.perf_counter()
    answer = call(
        clients["lender-a"],
        "POST",
        "/v1/alliance/psi",
        {"peer": "lender-b", "list_kind": "mobile", "mode": mode},
    )
    took = time.perf_counter() - t0
    count = count_of(answer)
    result: dict[str, Any] = {
        "count": count,
        "expected": expected,
        "items": a_items,
        "peer_items": b_items,
        "took_s": round(took, 3),
    }
    report.say(
        f"lender-a blinded its {a_items:,} mobiles with a secret scalar a (H(x)^a) and sent them; "
        f"lender-b raised them to its fresh secret b and sent back its own {b_items:,} as "
        "H(y)^b; lender-a raised those to a and compared."
    )
    if mode == "intersection":
        matched = answer.get("matched")
        matched_list = matched if isinstance(matched, list) else []
        result["matched_entries"] = len(matched_list)
        sample = [str(m.get("masked", "")) for m in matched_list[:3] if isinstance(m, dict)]
        report.say(
            f"What lender-a learned: WHICH of its own entries lender-b also lists ({count:,}; "
            f"shown masked, e.g. {', '.join(sample) or '—'}), and that lender-b lists "
            f"{b_items:,} mobiles."
        )
        ok = count == expected and len(matched_list) == expected
    else:
        report.say(
            f"What lender-a learned: only the number in common ({count:,}) and lender-b's list "
            "size. lender-b returned the double-blinded values sorted, so lender-a cannot tell "
            "which of its mobiles matched."
        )
        ok = count == expected and not answer.get("matched")
    report.say(
        f"What lender-b learned: that lender-a asked, with {a_items:,} items — not which, and "
        "not how many matched. Both recorded the exchange (counts only)."
    )
    report.check(
        f"psi_{mode}",
        ok,
        f"{mode}: {count:,} in common, known overlap {expected:,} ({took:.2f} s)",
    )
    report.summary.setdefault("psi", {})[mode] = result


def _lookup(report: Report, clients: dict[str, httpx.Client], lists: Lists) -> None:
    report.step("lender-c looks up applicants across lender-a and lender-b (bucketed OPRF)")
    results = {}
    for label, identifiers, expected_members in (
        ("listed", lists.applicant_listed, ["lender-a"]),
        ("clean", lists.applicant_clean, []),
    ):
        body = {
            "identifiers": [
                # Typed as an applicant gives them: spaces and a lower-case x are fine.
                {"kind": kind, "value": spelling(kind, value, 1)}
                for kind, value in identifiers.items()
            ]
        }
        t0 = time.perf_counter()
        answer = call(clients["lender-c"], "POST", "/v1/alliance/lookups", body)
        if answer.get("unavailable"):  # a member still building its index: once more
            answer = call(clients["lender-c"], "POST", "/v1/alliance/lookups", body)
        took = time.perf_counter() - t0
        hits = answer.get("hits") or []
        members = sorted({str(h["member"]) for h in hits})
        kinds = sorted({str(h["kind"]) for h in hits})
        expected_kinds = sorted(identifiers) if expected_members else []
        results[label] = {
            "hits": hits,
            "members": members,
            "expected_members": expected_members,
            "members_asked": answer.get("members_asked"),
            "unavailable": answer.get("unavailable"),
            "signal": answer.get("signal"),
            "took_s": round(took, 3),
        }
        report.check(
            f"lookup_{label}",
            members == expected_members and kinds == expected_kinds,
            f"{label} applicant ({', '.join(identifiers)}): listed by "
            f"{', '.join(members) or 'no member'} for {', '.join(kinds) or '—'} "
            f"(expected {', '.join(expected_members) or 'no member'}); "
            f"event signal {answer.get('signal')} ({took * 1000:.0f} ms)",
        )
    report.say(
        "What lender-c learned: on whose list the applicant is, per kind — the signal an "
        "application event carries as alliance_hit. What lender-a and lender-b learned: that "
        "lender-c asked, and 16 bits of a public hash of the identifier (its bucket, about "
        "100,000 candidate mobiles) — never the applicant. Each lookup is rate-limited and "
        "recorded on both sides."
    )
    report.summary["lookup"] = results
    _application(report, clients, results["listed"])


def _application(report: Report, clients: dict[str, httpx.Client], listed: dict[str, Any]) -> None:
    """lender-c decides the listed applicant's application with the lookup's signal: the
    default rule holds it for manual review and tells the customer why."""
    kinds = (listed.get("signal") or {}).get("alliance_hit") or []
    event = application_event("applicant-1", kinds)
    decision = call(clients["lender-c"], "POST", "/v1/events", event)
    action = str(decision.get("action"))
    reasons = [str(r.get("code")) for r in decision.get("reasons") or [] if isinstance(r, dict)]
    english = next(
        (
            str(m.get("text"))
            for m in decision.get("messages") or []
            if isinstance(m, dict) and m.get("locale") == "en"
        ),
        "",
    )
    report.check(
        "application_held",
        action == "intercept" and "ALLIANCE_LISTED" in reasons,
        f"lender-c's application event with alliance_hit {kinds}: {action} "
        f"({', '.join(reasons) or 'no reason'}); the customer reads: {english}",
    )
    report.summary["application"] = {"alliance_hit": kinds, "action": action, "reasons": reasons}


# Applications each lender decides with an alliance hit before the round (lender-c has also
# decided the listed applicant's): the interventions the round then sums.
APPLICATIONS = {"lender-a": 3, "lender-b": 2, "lender-c": 1}


def application_event(customer_id: str, kinds: list[str]) -> dict[str, Any]:
    return {
        "event_id": f"alliance-demo-{secrets.token_hex(8)}",
        "type": "application",
        "occurred_at": datetime.now(UTC).isoformat(),
        "customer_id": customer_id,
        "amount": "3000.00",
        "currency": "CNY",
        "channel": "app",
        "device_id": f"device-{customer_id}",
        "ip": "10.0.0.1",
        "session": {"alliance_hit": kinds},
    }


def _stopping(action: str) -> bool:
    return action in ("intercept", "block")


def _aggregation(report: Report, servers: list[Server], clients: dict[str, httpx.Client]) -> None:
    report.step("Secure aggregation of fraud statistics among the three lenders")
    period = datetime.now(UTC).strftime("%Y-%m")
    held = 1 if _stopping(str(report.summary.get("application", {}).get("action"))) else 0
    for name, count in APPLICATIONS.items():
        for number in range(count):
            decision = call(
                clients[name],
                "POST",
                "/v1/events",
                application_event(f"{name}-applicant-{number}", ["mobile"]),
            )
            held += _stopping(str(decision.get("action")))
    report.say(
        "Each lender first decides a few applications its own lookups flagged "
        f"({', '.join(f'{n} {c}' for n, c in APPLICATIONS.items())}; lender-c also the one "
        f"above): {held} interventions this month across the three."
    )
    refused = clients["lender-a"].post(
        "/v1/alliance/aggregations", json={"period": period, "members": ["lender-b"]}
    )
    report.check(
        "aggregation_two_refused",
        refused.status_code == 422,
        f"lender-a with lender-b alone: refused ({refused.status_code}) — two servers cannot "
        "aggregate: a total of two figures tells each the other's figure",
    )
    t0 = time.perf_counter()
    answer = call(
        clients["lender-a"],
        "POST",
        "/v1/alliance/aggregations",
        {"period": period, "members": ["lender-b", "lender-c"]},
    )
    took = time.perf_counter() - t0
    totals = answer.get("totals") or []
    participants = sorted(str(p) for p in answer.get("participants") or [])
    dropped = list(answer.get("dropped") or [])
    # The demo runs all three lenders, so it can read each one's own figures from its database
    # (no lender can) and check that the round's totals are their sum.
    expected = expected_totals(servers, period)
    report.say(
        f"Period {period}. Each lender computed its own figures per typology (interventions, "
        "confirmed frauds, losses avoided), masked them with pairwise masks that cancel in the "
        "sum (and a self-mask whose shares survive a dropout) and sent only the masked vector: "
        "lender-a, the aggregator, learned the totals and nothing else; no lender learned "
        "another's figures."
    )
    table = Table("typology", "measure", "total")
    for entry in totals:
        if entry.get("total"):
            table.add_row(str(entry["typology"]), str(entry["measure"]), f"{entry['total']:,}")
    report.console.print(table)
    interventions = sum(int(e["total"]) for e in totals if e.get("measure") == "interventions")
    report.check(
        "aggregation_three",
        participants == sorted(NAMES) and not dropped and bool(totals),
        f"round of {', '.join(participants)} done in {took:.2f} s, dropped: "
        f"{', '.join(map(str, dropped)) or 'none'}",
    )
    report.check(
        "aggregation_totals",
        totals == expected and interventions == held,
        f"totals equal the sum of the three lenders' own figures (read from their databases "
        f"by the demo, which runs all three); interventions {interventions} (decided: {held})",
    )
    report.summary["aggregation"] = {
        "period": period,
        "round_id": answer.get("round_id"),
        "participants": participants,
        "dropped": dropped,
        "totals": totals,
        "expected_totals": expected,
        "interventions": interventions,
        "interventions_decided": held,
        "two_members_status": refused.status_code,
        "took_s": round(took, 3),
    }


def expected_totals(servers: list[Server], period: str) -> list[dict[str, Any]]:
    """Σ of every lender's own vector (``aggregation.own_vector`` on its database), shaped as
    the round's totals."""
    from sqlalchemy import create_engine

    from lendguard.alliance.aggregation import layout, own_vector

    sums = [0] * len(layout())
    for server in servers:
        engine = create_engine(f"sqlite:///{(server.folder / 'lendguard.db').resolve()}")
        try:
            with engine.connect() as conn:
                vector = own_vector(conn, period)
        finally:
            engine.dispose()
        sums = [a + b for a, b in zip(sums, vector, strict=True)]
    return [
        {"typology": e["typology"], "measure": e["measure"], "total": total}
        for e, total in zip(layout(), sums, strict=True)
    ]


def _records(report: Report, clients: dict[str, httpx.Client]) -> None:
    report.step("What each lender recorded (GET /v1/alliance/exchanges)")
    summary: dict[str, list[dict[str, Any]]] = {}
    columns = ("kind", "role", "peer", "list_kind", "mode", "items", "matched", "status")
    for name, client in clients.items():
        rows = exchanges_of(call(client, "GET", "/v1/alliance/exchanges"))
        summary[name] = [{k: row.get(k) for k in columns} for row in rows]
        table = Table(
            *(c.replace("_", " ") for c in columns),
            title=name,
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            padding=(0, 1),
        )
        for row in reversed(rows):  # oldest first, as the story went
            table.add_row(*(str(row[k]) if row.get(k) is not None else "—" for k in columns))
        report.console.print(table)
    report.say(
        "Counts only, never identifiers; legal basis PIPL Art. 13(1)(3) and Art. 23 and the "
        "Anti-Telecom and Online Fraud Law Art. 18 and 31, purpose anti-fraud. Every exchange "
        "is also an entry in each lender's audit trail."
    )
    report.summary["exchanges"] = summary
    report.check(
        "records",
        all(summary.get(n) for n in NAMES),
        "every lender recorded its exchanges",
    )


def _verdict(report: Report, timings: dict[str, float]) -> None:
    failed = [name for name, ok in report.checks.items() if not ok]
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
    report.say(f"Timings: {steps}.")
    if failed:
        report.say(f"[red bold]The demo's results differ from what it loaded: {failed}[/]")
    else:
        report.say("[green bold]Every result equals what the demo loaded.[/]")


def demo(
    size: Annotated[
        int,
        typer.Option(
            min=50,
            max=200_000,
            help="Mobiles on lender-a's list (lender-b: 0.8×, a fifth of them lender-a's)",
        ),
    ] = 2_000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic identifiers")] = 1,
    folder: Annotated[
        Path, typer.Option("--dir", help="Where the three databases and logs go")
    ] = DEFAULT_DIR,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON (the steps go to stderr)")
    ] = False,
) -> None:
    """Three LendGuard servers on this machine match blacklists (PSI), look an applicant up
    and aggregate statistics as an alliance; exit 1 if a result differs from what was loaded."""
    console = Console(stderr=True) if json_out else Console()
    try:
        summary = run_demo(folder, size, seed, console)
    except DemoFailed as exc:
        console.print(f"[red]The alliance demo failed: {exc}[/red]")
        if json_out:
            typer.echo(dumps({"ok": False, "error": str(exc)}))
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted: the servers are stopped.[/yellow]")
        raise typer.Exit(130) from None
    if json_out:
        typer.echo(dumps(summary))
    if not summary["ok"]:
        raise typer.Exit(1)
