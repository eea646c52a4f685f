"""Imports of real history into the event contract (JSONL), validated row by row.

* PaySim (``../shared/data/paysim``): step s becomes ``start + (s - 1) hours``; the rows of one
  step keep their file order, spread evenly over the hour.
* Any other CSV, through a small YAML mapping file (see :func:`import_mapped_csv`).

Every row is validated against :class:`~lendguard.events.schemas.Event` before anything is
written: a malformed row stops the import with its line number, or is skipped and reported
with ``skip_bad``.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import ValidationError

from lendguard.events.readers import BadRow
from lendguard.events.schemas import Event

PAYSIM_TYPES = {
    "CASH_IN": "deposit",
    "CASH_OUT": "withdrawal",
    "TRANSFER": "transfer",
    "PAYMENT": "payment",
    "DEBIT": "withdrawal",
}
PAYSIM_COLUMNS = (
    "step",
    "type",
    "amount",
    "nameOrig",
    "oldbalanceOrg",
    "newbalanceOrig",
    "nameDest",
    "oldbalanceDest",
    "newbalanceDest",
    "isFraud",
)
DEFAULT_START = "2024-01-01T00:00:00+08:00"


class ImportError_(ValueError):
    """An import that cannot go on (bad file, bad mapping, or a bad row without skip_bad)."""


@dataclass
class ImportReport:
    rows: int = 0
    written: int = 0
    skipped: list[BadRow] = field(default_factory=list)
    fraud_rows: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "written": self.written,
            "fraud_rows": self.fraud_rows,
            "skipped": [{"line": b.line, "message": b.message} for b in self.skipped],
        }


def _validate(raw: dict[str, Any], line: int) -> BadRow | None:
    try:
        Event.model_validate(raw)
    except ValidationError as exc:
        message = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        return BadRow(line, message)
    return None


def _write(events: list[dict[str, Any]], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".partial")
    with tmp.open("wb") as handle:
        for event in events:
            handle.write(orjson.dumps(event) + b"\n")
    tmp.replace(out)  # all or nothing: a reader never sees half a file


def _paysim_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in PAYSIM_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ImportError_(f"{path}: not a PaySim file, missing columns {missing}")
        yield from enumerate(reader, start=2)


def import_paysim(
    path: Path,
    out: Path,
    drop_balances: bool = False,
    start: str = DEFAULT_START,
    currency: str = "CNY",
    skip_bad: bool = False,
) -> ImportReport:
    """Map PaySim rows to events (see the module docstring); write JSONL in time order."""
    try:
        origin = datetime.fromisoformat(start)
    except ValueError:
        raise ImportError_(f"--start '{start}' is not an ISO 8601 timestamp") from None
    if origin.tzinfo is None:
        raise ImportError_("--start needs a time zone offset, e.g. +08:00")
    report = ImportReport()
    by_step: dict[int, list[tuple[int, dict[str, str]]]] = defaultdict(list)
    for number, row in _paysim_rows(path):
        report.rows += 1
        try:
            step = int(float(row["step"]))
            if step < 1:
                raise ValueError
        except (TypeError, ValueError):
            bad_step = BadRow(number, f"step: '{row.get('step')}' is not a positive integer")
            if not skip_bad:
                raise ImportError_(f"{path}:{number}: {bad_step.message}") from None
            report.skipped.append(bad_step)
            continue
        by_step[step].append((number, row))

    events: list[dict[str, Any]] = []
    for step in sorted(by_step):
        rows = by_step[step]
        hour = origin + timedelta(hours=step - 1)
        for position, (number, row) in enumerate(rows):
            at = hour + timedelta(seconds=3600 * position / len(rows))
            kind = PAYSIM_TYPES.get(row["type"])
            bad: BadRow | None
            if kind is None:
                bad = BadRow(number, f"type: unknown PaySim type '{row['type']}'")
            else:
                try:
                    event = _paysim_event(row, number, kind, at, drop_balances, currency)
                    bad = _validate(event, number)
                except ValueError as exc:
                    bad = BadRow(number, str(exc))
            if bad is not None:
                if not skip_bad:
                    raise ImportError_(f"{path}:{bad.line}: {bad.message} (nothing was written)")
                report.skipped.append(bad)
                continue
            report.fraud_rows += int(event["attributes"]["is_fraud"])
            events.append(event)
    _write(events, out)
    report.written = len(events)
    return report


def _paysim_event(
    row: dict[str, str], number: int, kind: str, at: datetime, drop_balances: bool, currency: str
) -> dict[str, Any]:
    try:
        is_fraud = int(float(row["isFraud"] or 0))
    except ValueError:
        raise ValueError(f"isFraud: '{row['isFraud']}' is not 0 or 1") from None
    if is_fraud not in (0, 1):
        raise ValueError(f"isFraud: '{row['isFraud']}' is not 0 or 1")
    amount = row["amount"]
    event: dict[str, Any] = {
        "event_id": f"paysim-{number}",
        "type": kind,
        "occurred_at": at.isoformat(timespec="milliseconds"),
        "customer_id": row["nameOrig"],
        "amount": amount,
        "currency": currency,
        "payee_id": row["nameDest"],
        "attributes": {
            "paysim_type": row["type"],
            "is_fraud": is_fraud,
            "scenario": "paysim_fraud" if is_fraud == 1 else "none",
            "victim_loss": float(amount) if is_fraud == 1 and _is_number(amount) else 0.0,
        },
    }
    if not drop_balances:
        event["balance_before"] = row["oldbalanceOrg"]
        event["attributes"]["newbalance_orig"] = _number(row["newbalanceOrig"])
        event["attributes"]["oldbalance_dest"] = _number(row["oldbalanceDest"])
        event["attributes"]["newbalance_dest"] = _number(row["newbalanceDest"])
    return event


def _is_number(text: str) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def _number(text: str) -> float | str:
    return float(text) if _is_number(text) else text


# -- generic CSV through a mapping --------------------------------------------------------------


def import_mapped_csv(
    path: Path, mapping_file: Path, out: Path, skip_bad: bool = False
) -> ImportReport:
    """Import a CSV through a YAML mapping of event fields to columns.

    Mapping format::

        fields:                      # event field: a column name, or {column, map, value}
          event_id: txn_id
          type: {column: kind, map: {P2P: transfer, TOPUP: deposit}}
          occurred_at: created      # ISO 8601 with an offset
          customer_id: user
          amount: amt
          currency: {value: CNY}    # a constant
        attributes: [channel_code]  # extra columns kept in attributes
        label: {column: fraud}      # optional: becomes attributes.is_fraud (0/1)
    """
    try:
        spec = yaml.safe_load(mapping_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ImportError_(f"{mapping_file}: cannot read the mapping: {exc}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("fields"), dict):
        raise ImportError_(f"{mapping_file}: the mapping needs a 'fields' mapping")
    fields: dict[str, Any] = spec["fields"]
    extra: list[str] = list(spec.get("attributes") or [])
    label = spec.get("label")
    report = ImportReport()
    events: list[dict[str, Any]] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        wanted = {v if isinstance(v, str) else v.get("column") for v in fields.values()}
        wanted |= set(extra) | ({label["column"]} if isinstance(label, dict) else set())
        missing = sorted(c for c in wanted if c and c not in columns)
        if missing:
            raise ImportError_(f"{path}: columns named in the mapping are missing: {missing}")
        for number, row in enumerate(reader, start=2):
            report.rows += 1
            event: dict[str, Any] = {"attributes": {c: row[c] for c in extra}}
            for name, source in fields.items():
                if isinstance(source, str):
                    value: Any = row[source]
                elif "value" in source:
                    value = source["value"]
                else:
                    value = row[source["column"]]
                    value = (source.get("map") or {}).get(value, value)
                if value not in ("", None):
                    event[name] = value
            if isinstance(label, dict):
                raw_label = row[label["column"]].strip().lower()
                try:
                    flag = 1 if float(raw_label) == 1 else 0
                except ValueError:
                    flag = 1 if raw_label in ("true", "yes") else 0
                event["attributes"]["is_fraud"] = flag
            bad = _validate(event, number)
            if bad is not None:
                if not skip_bad:
                    raise ImportError_(f"{path}:{bad.line}: {bad.message} (nothing was written)")
                report.skipped.append(bad)
                continue
            report.fraud_rows += int(event["attributes"].get("is_fraud", 0))
            events.append(event)
    events.sort(key=lambda e: Event.model_validate(e).occurred_at)
    _write(events, out)
    report.written = len(events)
    return report
