"""The model artifact: a LightGBM booster, its calibration and its card, in one folder.

``DIR/model.txt`` (LightGBM's own text format), ``DIR/calibration.json`` (isotonic regression as
threshold arrays: raw margin → probability) and ``DIR/card.json`` (what it was trained on, its
features, metrics and library versions). The same three pieces are stored in the database by the
registry, so a served model never depends on files.
"""

from __future__ import annotations

import ctypes
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import lightgbm as lgb

MODEL_FILE = "model.txt"
CALIBRATION_FILE = "calibration.json"
CARD_FILE = "card.json"


class ModelError(ValueError):
    pass


@dataclass
class Calibration:
    """Map from the booster's raw score to a probability.

    ``platt``: ``1 / (1 + exp(-(a * raw + b)))``, strictly increasing, so the ranking (and
    ROC-AUC) of the raw score is kept. ``isotonic``: piecewise linear through (x, y); it can
    tie scores on plateaus.
    """

    x: np.ndarray
    y: np.ndarray
    kind: str = "isotonic"
    a: float = 1.0
    b: float = 0.0

    @classmethod
    def platt(cls, a: float, b: float) -> Calibration:
        return cls(np.zeros(0), np.zeros(0), "platt", float(a), float(b))

    def apply(self, raw: np.ndarray) -> np.ndarray:
        if self.kind == "platt":
            return np.asarray(1.0 / (1.0 + np.exp(-(self.a * np.asarray(raw) + self.b))))
        return np.interp(raw, self.x, self.y)

    def to_json(self) -> dict[str, Any]:
        if self.kind == "platt":
            return {"kind": "platt", "a": self.a, "b": self.b}
        return {
            "kind": "isotonic",
            "x": [float(v) for v in self.x],
            "y": [float(v) for v in self.y],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        if data.get("kind") == "platt":
            return cls.platt(float(data["a"]), float(data["b"]))
        x, y = np.asarray(data["x"], dtype=np.float64), np.asarray(data["y"], dtype=np.float64)
        if x.size == 0 or x.size != y.size:
            raise ModelError("calibration needs equal, non-empty x and y arrays")
        return cls(x, y)


class _SingleRowPredictor:
    """LightGBM's single-row fast path (``LGBM_BoosterPredictForMatSingleRowFast``).

    ``Booster.predict`` spends most of a one-row call in Python argument handling; the C API's
    fast path keeps a prepared configuration and costs a few microseconds per row. Not
    thread-safe: callers serialise (the decision service holds its lock while scoring).
    """

    _RAW_SCORE = 1
    _FLOAT64 = 1

    def __init__(self, booster: lgb.Booster, n_features: int) -> None:
        import lightgbm as lgb

        lib = getattr(lgb.basic, "_LIB")  # noqa: B009  (LightGBM's loaded C library)
        self._lib = lib
        self._handle = ctypes.c_void_p()
        num_iteration = booster.best_iteration if booster.best_iteration > 0 else -1
        code = lib.LGBM_BoosterPredictForMatSingleRowFastInit(
            booster._handle,
            ctypes.c_int(self._RAW_SCORE),
            ctypes.c_int(0),
            ctypes.c_int(num_iteration),
            ctypes.c_int(self._FLOAT64),
            ctypes.c_int32(n_features),
            ctypes.c_char_p(b"num_threads=1"),
            ctypes.byref(self._handle),
        )
        if code != 0:
            raise ModelError(f"LightGBM fast predictor: {lib.LGBM_GetLastError().decode()}")
        self._out = np.zeros(1, dtype=np.float64)
        self._out_ptr = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._out_len = ctypes.c_int64(0)
        self.n_features = n_features

    def raw(self, row: np.ndarray) -> float:
        data = np.ascontiguousarray(row, dtype=np.float64)
        code = self._lib.LGBM_BoosterPredictForMatSingleRowFast(
            self._handle,
            data.ctypes.data_as(ctypes.c_void_p),
            ctypes.byref(self._out_len),
            self._out_ptr,
        )
        if code != 0:
            raise ModelError(f"LightGBM fast predictor: {self._lib.LGBM_GetLastError().decode()}")
        return float(self._out[0])

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value:
            self._lib.LGBM_FastConfigFree(handle)


class ScoringModel:
    """A trained model: probability and per-feature contributions for feature rows."""

    def __init__(self, booster: lgb.Booster, calibration: Calibration, card: dict[str, Any]):
        self.booster = booster
        self.calibration = calibration
        self.card = card
        self.features: list[str] = list(card["features"])
        if booster.num_feature() != len(self.features):
            raise ModelError(
                f"the booster has {booster.num_feature()} features, the card lists "
                f"{len(self.features)}"
            )
        self._fast: _SingleRowPredictor | None = None

    # -- persistence ---------------------------------------------------------------------------

    @classmethod
    def from_parts(
        cls, booster_text: str, calibration: dict[str, Any], card: dict[str, Any]
    ) -> ScoringModel:
        # LightGBM (and the scikit-learn it imports) loads with the first model, not with
        # the server: a deployment without a learned score never pays for it.
        import lightgbm as lgb

        try:
            booster = lgb.Booster(model_str=booster_text)
        except lgb.basic.LightGBMError as exc:
            raise ModelError(f"not a LightGBM model: {exc}") from None
        if "features" not in card:
            raise ModelError("the model card lists no features")
        return cls(booster, Calibration.from_json(calibration), card)

    @classmethod
    def load(cls, directory: str | Path) -> ScoringModel:
        path = Path(directory)
        missing = [f for f in (MODEL_FILE, CALIBRATION_FILE, CARD_FILE) if not (path / f).exists()]
        if missing:
            raise ModelError(f"{path}: not a model folder, missing {missing}")
        return cls.from_parts(
            (path / MODEL_FILE).read_text(encoding="utf-8"),
            json.loads((path / CALIBRATION_FILE).read_text(encoding="utf-8")),
            json.loads((path / CARD_FILE).read_text(encoding="utf-8")),
        )

    def parts(self) -> tuple[str, dict[str, Any], dict[str, Any]]:
        return self.booster.model_to_string(), self.calibration.to_json(), self.card

    def save(self, directory: str | Path) -> None:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        booster_text, calibration, card = self.parts()
        (path / MODEL_FILE).write_text(booster_text, encoding="utf-8")
        (path / CALIBRATION_FILE).write_text(json.dumps(calibration), encoding="utf-8")
        (path / CARD_FILE).write_text(json.dumps(card, indent=2, default=str), encoding="utf-8")

    # -- scoring -------------------------------------------------------------------------------

    def raw(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.predict(rows, raw_score=True, num_threads=1))

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        return self.calibration.apply(self.raw(rows))

    def score_row(self, row: np.ndarray) -> float:
        """The calibrated probability of one row, on LightGBM's single-row fast path."""
        if self._fast is None:
            self._fast = _SingleRowPredictor(self.booster, len(self.features))
        raw = self._fast.raw(row)
        calibration = self.calibration
        if calibration.kind == "platt":
            return 1.0 / (1.0 + math.exp(-(calibration.a * raw + calibration.b)))
        return float(calibration.apply(np.array([raw]))[0])

    def contributions(self, row: np.ndarray) -> np.ndarray:
        """TreeSHAP contributions of each feature to the raw score (last column: bias)."""
        out = self.booster.predict(row.reshape(1, -1), pred_contrib=True, num_threads=1)
        return np.asarray(out)[0]

    def top_reasons(self, row: np.ndarray, k: int = 3) -> list[tuple[str, float, float]]:
        """The k features pushing the score up most: (name, contribution, value)."""
        contrib = self.contributions(row)[:-1]
        order = np.argsort(-contrib)
        out = []
        for i in order[:k]:
            if contrib[i] <= 0:
                break
            out.append((self.features[i], float(contrib[i]), float(row[i])))
        return out
