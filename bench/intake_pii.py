"""What catching personal information on intake costs on the decision path.

    .venv/bin/python bench/intake_pii.py [--events 20000] [--seed 7] [--repeats 5] [--vault]

Times ``DecisionService._pseudonymise`` per event (the step that runs before the idempotency
hash) on two sets of events, each against the typed-fields-only step it replaced (phone, card,
address, contact phones: :func:`typed_fields_only`), in the same run:

* ``ordinary``: the benchmark workload (``lendguard.simulate.benchmark.build_workload``), opaque
  ids and short attributes, as a lender following the contract sends them;
* ``pii_everywhere``: the same events with a mobile number as ``customer_id``, a bank card as
  ``payee_id`` and a resident ID, an e-mail and a note holding both in ``attributes``.

Without ``--vault`` no vault is configured (pure CPU). With it, a migrated SQLite file holds the
vault and the clear identifiers are written there (one ``SELECT`` and, the first time, an
``INSERT`` per identifier, as for phone and card). Prints one JSON document: per set, the mean,
p50 and p99 in microseconds of the best of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import create_engine

from lendguard.decisions.service import DecisionService
from lendguard.events.schemas import Event
from lendguard.graph.index import LinkIndex
from lendguard.kit.crypto import pseudonymise
from lendguard.privacy.pii import luhn_valid, resident_id_check_char
from lendguard.simulate.benchmark import build_workload, machine_info


def typed_fields_only(service: DecisionService, event: Event) -> None:
    """The step before intake detection: phone, card and address, and contact phones."""
    for field in ("phone", "card_id", "address_id"):
        raw = getattr(event, field)
        if raw is not None:
            setattr(event, field, pseudonymise(raw, service.pii_key))
    contacts = event.attributes.get("contact_phones")
    if isinstance(contacts, list):
        event.attributes["contact_phones"] = [
            pseudonymise(str(number), service.pii_key) for number in contacts if number
        ]


def _card(n: int) -> str:
    partial = f"622202{n:012d}"
    return next(partial + d for d in "0123456789" if luhn_valid(partial + d))


def _with_pii(raw: dict[str, Any], n: int) -> dict[str, Any]:
    first17 = f"11010519{80 + n % 20:02d}0{1 + n % 9}1{n % 10}{n % 1000:03d}"
    rid = first17 + resident_id_check_char(first17)
    email = f"user{n}@example.com"
    return {
        **raw,
        "customer_id": f"139{n % 100_000_000:08d}",
        "payee_id": _card(n) if "payee_id" in raw else raw.get("payee_id"),
        "attributes": {
            **raw.get("attributes", {}),
            "id_number": rid,
            "email": email,
            "note": f"客户邮箱 {email}，身份证 {rid}",
        },
    }


def _time(
    step: Callable[[Event], None], raws: list[dict[str, Any]], repeats: int
) -> dict[str, float]:
    best: list[int] | None = None
    for _ in range(repeats):
        events = [Event.model_validate(raw) for raw in raws]
        took: list[int] = []
        gc.collect()
        gc.disable()
        try:
            for event in events:
                t0 = time.perf_counter_ns()
                step(event)
                took.append(time.perf_counter_ns() - t0)
        finally:
            gc.enable()
        if best is None or sum(took) < sum(best):
            best = took
    assert best is not None
    ordered = sorted(best)
    return {
        "mean_us": round(statistics.fmean(best) / 1000, 3),
        "p50_us": round(ordered[len(ordered) // 2] / 1000, 3),
        "p99_us": round(ordered[int(len(ordered) * 0.99)] / 1000, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--vault", action="store_true", help="with a vault on a SQLite file")
    args = parser.parse_args(argv)

    raws = build_workload(args.events, args.seed).dicts
    sets = {"ordinary": raws, "pii_everywhere": [_with_pii(r, n) for n, r in enumerate(raws)]}
    with tempfile.TemporaryDirectory() as tmp:
        if args.vault:
            from lendguard.db import make_engine, upgrade
            from lendguard.privacy.vault import Vault, master_key_from

            url = f"sqlite:///{Path(tmp) / 'vault.db'}"
            upgrade(url)
            engine = make_engine(url)
        else:
            engine = create_engine("sqlite://")
        service = DecisionService(engine, link_index=LinkIndex)
        if args.vault:
            service.vault = Vault(engine, master_key_from(None, "bench"), service.pii_key)
        result: dict[str, Any] = {
            "benchmark": "intake_pii",
            "events": len(raws),
            "repeats": args.repeats,
            "vault": args.vault,
            "machine": machine_info(),
        }
        for name, events in sets.items():
            before = _time(lambda e: typed_fields_only(service, e), events, args.repeats)
            after = _time(service._pseudonymise, events, args.repeats)
            result[name] = {
                "typed_fields_only": before,
                "with_intake_detection": after,
                "added_mean_us": round(after["mean_us"] - before["mean_us"], 3),
            }
        engine.dispose()
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
