"""Readers for event files (JSONL, CSV, Parquet), each row validated with its line number.

CSV and Parquet columns map to event fields by name; nested fields use dotted names
(``session.call_active``, ``customer.birth_date``, ``attributes.scenario``). Empty CSV cells are
treated as absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from lendguard.events.schemas import Event


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if value is None or value == "":
            continue
        if "." in key:
            head, tail = key.split(".", 1)
            text = head == "session" and tail in _SESSION_TEXT
            out.setdefault(head, {})[tail] = value if text else _cell(value)
        else:
            out[key] = value
    if "session" in out:
        out["session"] = {k: _session_cell(k, v) for k, v in out["session"].items()}
    return out


# The session's flags, read from 1/0 as well as true/false; its other values (vendor scores,
# the payee name check, the voice id, the SIM-swap time) keep their own reading: a score of 1
# is a number, a voice id of digits is an id.
_SESSION_FLAGS = frozenset(
    {"call_active", "screen_share_active", "remote_control_app", "screen_recording_active"}
)
_SESSION_TEXT = frozenset({"payee_name_check", "voice_id", "sim_swap_at"})


def _session_cell(key: str, value: Any) -> Any:
    if key in _SESSION_FLAGS:
        return _bool(value)
    return value


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        try:
            return int(value) if value.strip().lstrip("-").isdigit() else float(value)
        except ValueError:
            return value
    return value


def _bool(value: Any) -> Any:
    if isinstance(value, str | int | float) and str(value).strip().lower() in (
        "1",
        "0",
        "1.0",
        "0.0",
    ):
        return str(value).strip() in ("1", "1.0")
    return value


def iter_raw(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, raw row) for JSONL, CSV or Parquet; a JSON syntax error yields an exception."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield number, orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    yield number, ValueError(f"malformed JSON: {exc}")
    elif suffix in (".csv", ".parquet", ".pq"):
        import polars as pl

        frame = (
            pl.read_csv(path, infer_schema_length=0) if suffix == ".csv" else pl.read_parquet(path)
        )
        header_lines = 1 if suffix == ".csv" else 0
        for number, row in enumerate(frame.iter_rows(named=True), start=1 + header_lines):
            yield number, _nest(row)
    else:
        raise ValueError(f"{path}: unknown event file type '{suffix}' (use .jsonl, .csv, .parquet)")


def read_events(
    path: Path, skip_bad: bool = False
) -> tuple[list[tuple[Event, dict[str, Any]]], list[BadRow]]:
    """Validate every row first; with ``skip_bad`` bad rows are listed, else the first stops."""
    events: list[tuple[Event, dict[str, Any]]] = []
    bad: list[BadRow] = []
    for number, raw in iter_raw(path):
        problem: str | None = None
        if isinstance(raw, Exception):
            problem = str(raw)
        elif not isinstance(raw, dict):
            problem = "a row must be a JSON object"
        else:
            try:
                events.append((Event.model_validate(raw), raw))
            except ValidationError as exc:
                first = exc.errors(include_url=False)
                problem = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}" for e in first
                )
        if problem is not None:
            row = BadRow(number, problem)
            if not skip_bad:
                raise BadRowError(path, row)
            bad.append(row)
    return events, bad


class BadRowError(ValueError):
    def __init__(self, path: Path, row: BadRow) -> None:
        super().__init__(f"{path}:{row.line}: {row.message}")
        self.row = row
