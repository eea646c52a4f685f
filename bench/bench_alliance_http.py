"""The alliance over HTTP on this machine: lookup latency per member, and a PSI end to end.

    .venv/bin/python bench/bench_alliance_http.py [--members 2] [--entries 2000]
        [--lookups 300] [--psi 2000] [--out FILE]

Starts ``--members + 1`` lenders as real uvicorn servers on free localhost ports (one process,
one thread and event loop each, SQLite databases in a temporary directory, fresh Ed25519
identities, every one configured at every other). Each member but the first puts ``--entries``
mobile numbers on its list (through the service, not timed). Then the first lender:

1. ``POST /v1/alliance/lookups`` with one identifier, ``--lookups`` times in a row (a third of
   them on a member's list), then with four identifiers: wall time per request (p50/p90/p99),
   and per member (the request's time divided by the members asked, the target being < 100 ms
   per member). Each lookup is one signed request per member whatever its identifiers
   (``peer_requests_per_member_per_lookup``, counted from the member's nonces, says so).
2. ``POST /v1/alliance/psi`` (intersection) of ``--psi`` numbers against a member with
   ``--psi`` numbers (half shared): wall time, and the count checked.

Everything runs in this one process (the servers included), so the figures include the GIL
contention of two or three servers on one interpreter: a pessimistic bound for separate hosts.
:func:`run_alliance_http` is the ``alliance_http`` block of bench/run_all.py (smaller there).
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from sqlalchemy import func, select

from lendguard.alliance.schemas import AllianceListEntryBody
from lendguard.app import create_app
from lendguard.config import Settings
from lendguard.db import upgrade
from lendguard.models.alliance import AllianceNonce

ADMIN_KEY = "lg_bench_admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
# The goal: a lookup answered in under 100 ms per member on this machine.
TARGET_MS_PER_MEMBER = 100.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mobile(i: int) -> str:
    return f"+8613{i:09d}"


def serve(app: Any) -> tuple[str, uvicorn.Server, threading.Thread]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "n": len(ordered),
        "p50_ms": at(0.50),
        "p90_ms": at(0.90),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1], 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
    }


def run_alliance_http(
    members: int = 2,
    entries: int = 2000,
    lookups: int = 300,
    psi_size: int = 2000,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """The ``alliance_http`` block (also called by bench/run_all.py, smaller)."""
    directory = Path(tempfile.mkdtemp(prefix="lendguard-alliance-bench-"))
    template = directory / "template.db"
    upgrade(f"sqlite:///{template}")
    lenders: list[dict[str, Any]] = []
    try:
        log(f"alliance over HTTP: {members + 1} lenders served on localhost")
        for n in range(members + 1):
            member_id = f"lender-{chr(ord('a') + n)}"
            path = directory / f"{member_id}.db"
            shutil.copyfile(template, path)
            settings = Settings(
                _env_file=None,
                database_url=f"sqlite:///{path}",
                bootstrap_admin_key=ADMIN_KEY,
                log_level="WARNING",
                state_backend="memory",
                alliance_member_id=member_id,
                alliance_signing_key=base64.b64encode(secrets.token_bytes(32)).decode(),
                alliance_lookups_per_minute=1_000_000,
            )
            app = create_app(settings)
            base, server, thread = serve(app)
            lenders.append(
                {"id": member_id, "app": app, "base": base, "server": server, "thread": thread}
            )
        for a in lenders:
            with httpx.Client(base_url=a["base"], headers=ADMIN) as http:
                for b in lenders:
                    if a is b:
                        continue
                    key = httpx.get(f"{b['base']}/v1/alliance/identity", headers=ADMIN).json()
                    http.post(
                        "/v1/alliance/members",
                        json={
                            "member_id": b["id"],
                            "name": b["id"],
                            "url": b["base"],
                            "public_key": key["public_key"],
                        },
                    ).raise_for_status()
        log(f"alliance over HTTP: {entries:,} listed numbers at each of {members} members")
        started = time.perf_counter()
        for n, member in enumerate(lenders[1:]):
            service = member["app"].state.services.alliance
            for i in range(entries):
                value = mobile(n * 10_000_000 + i)
                body = AllianceListEntryBody(kind="mobile", value=value, reason="confirmed_fraud")
                service.add_entry(body, "bench", None)
        fill_s = time.perf_counter() - started

        first = lenders[0]
        results: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()},
            "members": members,
            "entries_per_member": entries,
            "fill_s": round(fill_s, 1),
        }
        asked = 0
        with httpx.Client(base_url=first["base"], headers=ADMIN, timeout=60) as http:
            # warm up: connections, the members' lookup indexes
            for i in range(5):
                http.post(
                    "/v1/alliance/lookups",
                    json={"identifiers": [{"kind": "mobile", "value": mobile(i)}]},
                ).raise_for_status()
                asked += 1
            for size in (1, 4):
                log(f"alliance over HTTP: {lookups:,} lookups of {size} identifier(s)")
                samples: list[float] = []
                hits = 0
                for i in range(lookups):
                    listed = i % 3 == 0
                    base_i = i if listed else 50_000_000 + i
                    identifiers = [
                        {"kind": "mobile", "value": mobile(base_i + 1_000 * j)} for j in range(size)
                    ]
                    t0 = time.perf_counter()
                    response = http.post("/v1/alliance/lookups", json={"identifiers": identifiers})
                    samples.append((time.perf_counter() - t0) * 1000)
                    response.raise_for_status()
                    asked += 1
                    answer = response.json()
                    assert answer["unavailable"] == [], answer
                    hits += bool(answer["hits"])
                stats = percentiles(samples)
                stats["per_member_p50_ms"] = round(stats["p50_ms"] / members, 2)
                stats["per_member_p99_ms"] = round(stats["p99_ms"] / members, 2)
                stats["requests_with_a_hit"] = hits
                results[f"lookup_{size}_identifier"] = stats
            # every lookup is one signed request per member, whatever its identifiers: the
            # member's nonces (one per signed request received) say how many came
            with lenders[1]["app"].state.services.decisions.db.connect() as conn:
                received = int(
                    conn.execute(select(func.count()).select_from(AllianceNonce)).scalar_one()
                )
            results["peer_requests_per_member_per_lookup"] = round(received / asked, 3)
            # PSI: lender-a holds --psi numbers, half of them on lender-b's list
            log(f"alliance over HTTP: PSI {psi_size:,} × {entries:,}")
            service = first["app"].state.services.alliance
            shared = min(psi_size // 2, entries)
            for i in range(psi_size):
                value = mobile(i) if i < shared else mobile(90_000_000 + i)
                body = AllianceListEntryBody(kind="mobile", value=value, reason="confirmed_fraud")
                service.add_entry(body, "bench", None)
            t0 = time.perf_counter()
            response = http.post(
                "/v1/alliance/psi",
                json={"peer": lenders[1]["id"], "list_kind": "mobile", "mode": "intersection"},
            )
            psi_ms = (time.perf_counter() - t0) * 1000
            response.raise_for_status()
            answer = response.json()
            results["psi"] = {
                "items": answer["items"],
                "peer_items": answer["peer_items"],
                "count": answer["count"],
                "correct": answer["count"] == shared,
                "wall_ms": round(psi_ms, 1),
            }
        measured = max(
            results["lookup_1_identifier"]["per_member_p99_ms"],
            results["lookup_4_identifier"]["per_member_p99_ms"],
        )
        results["goal"] = {
            "target": "a lookup answered in under 100 ms per member (p99, 1 and 4 identifiers)",
            "target_ms": TARGET_MS_PER_MEMBER,
            "measured_p99_ms_per_member": measured,
            "met": measured < TARGET_MS_PER_MEMBER,
        }
        return results
    finally:
        for lender in lenders:
            lender["server"].should_exit = True
        for lender in lenders:
            lender["thread"].join(timeout=10)
            lender["app"].state.services.close()
        shutil.rmtree(directory, ignore_errors=True)


def summary_line(result: dict[str, Any]) -> str:
    one, four = result["lookup_1_identifier"], result["lookup_4_identifier"]
    goal = result["goal"]
    return (
        f"alliance lookup over HTTP, {result['members']} members: per member p50/p99 "
        f"{one['per_member_p50_ms']}/{one['per_member_p99_ms']} ms (1 identifier), "
        f"{four['per_member_p50_ms']}/{four['per_member_p99_ms']} ms (4); target < "
        f"{goal['target_ms']:.0f} ms, {'met' if goal['met'] else 'not met'}; "
        f"{result['peer_requests_per_member_per_lookup']} peer requests per member per lookup"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument("--psi", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("var/bench/alliance_http.json"))
    args = parser.parse_args()
    results = run_alliance_http(args.members, args.entries, args.lookups, args.psi)
    text = orjson.dumps(results, option=orjson.OPT_INDENT_2).decode()
    print(text)
    print(summary_line(results), file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
