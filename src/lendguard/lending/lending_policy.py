"""The lending policy in force (``lending/policies/<jurisdiction>.yaml`` through the shared
policy loader) and the one-year LPR series (``lending/policies/lpr_cn.csv``): data, not code.

R5's judicial cap is computed here: ``multiplier × one-year LPR`` at contract formation (from
2020-08-20), or the fixed 24% of the 2015 provisions before that.
"""

from __future__ import annotations

import csv
import io
from bisect import bisect_right
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Any

from lendguard.policies import Policy, load_policy


@lru_cache(maxsize=1)
def lpr_series() -> tuple[tuple[date, ...], tuple[float, ...]]:
    text = resources.files("lendguard.lending").joinpath("policies/lpr_cn.csv").read_text("utf-8")
    rows = [line for line in text.splitlines() if line and not line.startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(rows)))
    pairs = sorted(
        (date.fromisoformat(r["published"]), float(r["one_year_percent"])) for r in reader
    )
    return tuple(d for d, _ in pairs), tuple(v for _, v in pairs)


def lpr_on(day: date) -> float | None:
    """The one-year LPR in force on ``day`` (None before the series starts, 2019-08-20)."""
    dates, values = lpr_series()
    index = bisect_right(dates, day) - 1
    return values[index] if index >= 0 else None


class LendingPolicy:
    """The policy version in force on ``on_date``, with values and their citations."""

    def __init__(self, jurisdiction: str, on_date: date) -> None:
        self.on_date = on_date
        self.policy: Policy = load_policy("lending", jurisdiction, on_date)

    def value(self, key: str) -> Any:
        if key == "lpr_1y_percent":
            return lpr_on(self.on_date)
        if key == "judicial_cap_percent":
            return self.judicial_cap()
        found = self.policy.get(key)
        return None if found is None else found.value

    def judicial_cap(self) -> float | None:
        fixed = self.policy.get("judicial_cap_fixed_percent")
        if fixed is not None:
            return float(fixed.value)
        multiplier = self.policy.get("judicial_cap_multiplier")
        lpr = lpr_on(self.on_date)
        if multiplier is None or lpr is None:
            return None
        return round(float(multiplier.value) * lpr, 4)

    def cite(self, key: str) -> dict[str, Any]:
        name = key
        if key == "judicial_cap_percent":
            name = (
                "judicial_cap_fixed_percent"
                if self.policy.get("judicial_cap_fixed_percent") is not None
                else "judicial_cap_multiplier"
            )
        found = self.policy.get(name) or self.policy.values.get(name)
        out: dict[str, Any] = {
            "jurisdiction": self.policy.jurisdiction,
            "version": self.policy.version,
            "name": name,
        }
        if found is not None:
            out.update(
                value=found.value,
                source=found.source,
                source_text=found.source_text,
                confidence=found.confidence,
                configurable=found.configurable,
            )
        if key == "judicial_cap_percent" and name == "judicial_cap_multiplier":
            out["lpr_1y_percent"] = lpr_on(self.on_date)
            out["lpr_source"] = "lending/policies/lpr_cn.csv (one-year LPR; [M], verify)"
        return out
