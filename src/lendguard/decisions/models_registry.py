"""The scoring-model registry: register, activate, challenge, watch stability, list.

A trained model is registered as a new inactive version (validated by loading it), made the
champion by a second principal (maker–checker) through one configuration swap, and can first
score live traffic as a challenger beside the champion (a twin,
:mod:`lendguard.decisions.twins`).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import structlog
from sqlalchemy import Engine

from lendguard.auth import audit
from lendguard.decisions.configuration import LiveConfiguration, LiveModel
from lendguard.decisions.features.compute import FEATURE_NAMES
from lendguard.decisions.policy import epoch_seconds
from lendguard.decisions.repository import decision_repository as repo
from lendguard.decisions.rulesets import four_eyes
from lendguard.decisions.scoring.model import ModelError, ScoringModel
from lendguard.decisions.scoring.monitoring import daily_psi
from lendguard.decisions.twins import ChallengerModel, TwinKind, TwinSwitch
from lendguard.errors import Conflict, FieldError, NotFound, ValidationFailed

log = structlog.get_logger()

CHALLENGER = TwinKind(
    slot="challenger",
    start_row=repo.start_challenger,
    stop_row=repo.stop_challenger,
    running_row=repo.running_challenger,
    not_running="model {version} is not the running challenger",
    started_action="models.challenger_start",
    stopped_action="models.challenger_stop",
    target="model:{version}",
)


class ModelRegistry:
    """The model versions and which one scores (through the shared configuration)."""

    def __init__(self, engine: Engine, configuration: LiveConfiguration, twins: TwinSwitch) -> None:
        self.db = engine
        self.configuration = configuration
        self.twins = twins

    def start(self) -> None:
        """Load the champion and the challenger that were live before the restart."""
        with self.db.connect() as conn:
            version = repo.active_model(conn)
        if version is not None:
            self.configuration.swap(model=LiveModel(version, self.load(version)))
        self.restore_challenger()

    def restore_challenger(self) -> None:
        """The challenger running now, as the database says (start-up, another process)."""
        self.twins.restore(CHALLENGER, lambda v: ChallengerModel(v, self.load(v)))

    def load(self, version: int) -> ScoringModel:
        with self.db.connect() as conn:
            row = repo.get_model(conn, version)
        if row is None:
            raise NotFound(f"model version {version} does not exist")
        return ScoringModel.from_parts(row["booster"], row["calibration"], row["card"])

    def register(
        self,
        booster: str,
        calibration: dict[str, Any],
        card: dict[str, Any],
        author: str,
        ip: str | None = None,
    ) -> dict[str, Any]:
        """Store a trained model as a new, inactive version (validated by loading it), audited
        in the transaction that stores it."""
        try:
            model = ScoringModel.from_parts(booster, calibration, card)
        except (ModelError, KeyError, TypeError, ValueError) as exc:
            raise ValidationFailed(
                "the model was refused", errors=[FieldError("model", str(exc))]
            ) from None
        unknown = [f for f in model.features if f not in FEATURE_NAMES]
        if unknown:
            raise ValidationFailed(
                "the model needs features the engine does not compute",
                errors=[FieldError("card.features", f"unknown: {unknown}")],
            )
        row = {
            "kind": str(card.get("kind", "events")),
            "booster": booster,
            "calibration": calibration,
            "card": card,
            "sha256": hashlib.sha256(booster.encode()).hexdigest(),
            "created_at": datetime.now(UTC),
            "created_by": author,
        }
        with self.db.begin() as conn:
            version = repo.insert_model(conn, row)
            audit.record(conn, author, "models.register", f"model:{version}", ip)
        return {
            "version": version,
            "kind": row["kind"],
            "sha256": row["sha256"],
            "features": len(model.features),
            "active": False,
        }

    def activate(self, version: int, actor: str, ip: str | None = None) -> dict[str, Any]:
        """The champion swapped: one row, its audit entry and one reference (an approval that
        cannot be audited does not happen)."""
        with self.db.connect() as conn:
            row = repo.get_model(conn, version)
        if row is None:
            raise NotFound(f"model version {version} does not exist")
        four_eyes(row["created_by"], actor, f"model version {version}")
        model = self.load(version)
        if model.card.get("kind", "events") != "events":
            raise Conflict(
                f"model {version} was trained on a table, not on events: it cannot score events",
                errors=[FieldError("version", "not an event model")],
            )
        with self.configuration.lock:
            with self.db.begin() as conn:
                repo.activate_model(conn, version, actor, datetime.now(UTC))
                audit.record(conn, actor, "models.approve_activate", f"model:{version}", ip)
            self.configuration.swap(model=LiveModel(version, model))
        log.info("model.activated", version=version, actor=actor)
        return {"version": version, "active": True}

    def list_versions(self) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            rows = repo.list_models(conn)
        live = self.configuration.active.model
        active = live.version if live is not None else None
        for row in rows:
            row["active"] = row["version"] == active
            row.pop("calibration", None)
        return rows

    def score_stability(
        self, version: int, days: int = 7, threshold: float = 0.2, min_rows: int = 50
    ) -> dict[str, Any]:
        """Daily population stability of the live score of model ``version``, read from the
        decision log, against the score distribution its card recorded at training time.

        (Feature drift needs the feature values, which the log does not keep; ``lendguard model
        monitor`` measures it on an events file.)"""
        model = self.load(version)
        reference = (model.card.get("reference") or {}).get("score")
        if not reference:
            raise Conflict(
                f"model {version} has no reference score distribution in its card",
                errors=[FieldError("version", "no card.reference.score")],
            )
        since = datetime.now(UTC) - timedelta(days=days)
        with self.db.connect() as conn:
            rows = repo.model_scores_since(conn, str(version), since)
        times = np.array([epoch_seconds(at) for at, _ in rows], dtype=np.float64)
        scores = np.array([score for _, score in rows], dtype=np.float64)
        report = daily_psi({"score": reference}, times, {"score": scores}, threshold, min_rows)
        report.update(version=version, window_days=days, decisions=len(rows))
        return report

    # -- the challenger ------------------------------------------------------------------------

    def start_challenger(self, version: int, actor: str, ip: str | None = None) -> dict[str, Any]:
        """Score live traffic with ``version`` beside the champion, for comparison only."""
        model = self.load(version)
        if model.card.get("kind", "events") != "events":
            raise Conflict(
                f"model {version} was trained on a table, not on events",
                errors=[FieldError("version", "not an event model")],
            )
        live = self.configuration.active.model
        if live is not None and live.version == version:
            raise Conflict(
                f"model {version} is the champion; challenge it with another one",
                errors=[FieldError("version", "is the active model")],
            )
        self.twins.start(CHALLENGER, ChallengerModel(version, model), actor, ip)
        return {"version": version, "challenger": True}

    def stop_challenger(self, version: int, actor: str, ip: str | None = None) -> dict[str, Any]:
        self.twins.stop(CHALLENGER, version, actor, ip)
        return {"version": version, "challenger": False}

    def challenger_report(self, version: int) -> dict[str, Any]:
        """Champion and challenger on the same events: distributions, agreement, and quality
        where labels have arrived (``POST /v1/labels``)."""

        from lendguard.decisions.scoring.metrics import MetricsError, score_metrics

        with self.db.connect() as conn:
            if repo.get_model(conn, version) is None:
                raise NotFound(f"model version {version} does not exist")
            rows = repo.challenger_scores(conn, version)
        paired = [r for r in rows if r["champion_score"] is not None]
        challenger = np.array([r["challenger_score"] for r in rows], dtype=np.float64)
        champion = np.array([r["champion_score"] for r in paired], dtype=np.float64)
        both_c = np.array([r["challenger_score"] for r in paired], dtype=np.float64)

        def summary(values: np.ndarray) -> dict[str, Any]:
            if values.size == 0:
                return {"n": 0}
            return {
                "n": int(values.size),
                "mean": round(float(values.mean()), 6),
                "share_at_or_above": {
                    str(t): round(float((values >= t).mean()), 6) for t in (0.5, 0.8, 0.95)
                },
            }

        report: dict[str, Any] = {
            "challenger_version": version,
            "running": self.twins.running(CHALLENGER, version),
            "events": len(rows),
            "champion_versions": sorted({r["champion_version"] for r in paired}),
            "champion": summary(champion),
            "challenger": summary(challenger),
        }
        if paired:
            report["agreement"] = {
                str(t): round(float(((champion >= t) == (both_c >= t)).mean()), 6)
                for t in (0.5, 0.8, 0.95)
            }
            if champion.size > 1 and champion.std() > 0 and both_c.std() > 0:
                report["correlation"] = round(float(np.corrcoef(champion, both_c)[0, 1]), 6)
        labelled = [r for r in paired if r["label"] is not None]
        if labelled:
            labels = [int(r["label"]) for r in labelled]
            quality: dict[str, Any] = {"labelled_events": len(labelled)}
            for name, key in (("champion", "champion_score"), ("challenger", "challenger_score")):
                try:
                    quality[name] = score_metrics(labels, [r[key] for r in labelled])
                except MetricsError as exc:
                    quality[name] = {"error": str(exc)}
            report["quality"] = quality
        return report
