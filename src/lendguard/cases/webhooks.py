"""Telling the lender to release or cancel a held transaction: signed, retried, idempotent.

A delivery row is written in the same transaction as the case outcome (an outbox), so an
outcome is never lost between the database and the network. A background sender posts due
deliveries:

- body: JSON, ``{"delivery_id", "instruction": "release"|"cancel", "event_id", "decision_id",
  "case_id", "outcome", "decided_by", "created_at"}``;
- ``X-LendGuard-Signature: sha256=<hex HMAC-SHA256 of the raw body with the shared secret>``;
- ``Idempotency-Key: <delivery_id>`` — the same on every retry, so the lender acts once;
- a 2xx answer delivers; anything else (or no answer) is retried with exponential backoff
  (``base * 2**(attempt-1)``, capped) until ``max_attempts``, then marked failed;
- every attempt is recorded with its status code or error and duration.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import structlog
from sqlalchemy import Connection, Engine, insert, select, update

from lendguard.kit.ids import new_id
from lendguard.models.cases import WebhookAttempt, WebhookDelivery

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "X-LendGuard-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(sign(secret, body), header)


class WebhookSender:
    def __init__(
        self,
        engine: Engine,
        url: str | None,
        secret: str,
        base_delay_s: float = 2.0,
        max_delay_s: float = 600.0,
        max_attempts: int = 8,
        timeout_s: float = 5.0,
    ) -> None:
        self.db = engine
        self.url = url
        self.secret = secret
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.max_attempts = max_attempts
        self.timeout_s = timeout_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: httpx.Client | None = None

    # -- the outbox ------------------------------------------------------------------------------

    def enqueue(
        self,
        conn: Connection,
        *,
        case_id: str,
        event_id: str,
        decision_id: str,
        instruction: str,
        outcome: str,
        actor: str,
    ) -> str | None:
        """Write a delivery in the caller's transaction; None when no receiver is configured
        (the hold status still changes; the lender then reads it from the case API)."""
        if not self.url:
            return None
        existing = conn.execute(
            select(WebhookDelivery.id, WebhookDelivery.status).where(
                WebhookDelivery.event_id == event_id, WebhookDelivery.instruction == instruction
            )
        ).first()
        if existing is not None:
            return None  # already told (e.g. a case resolved, reopened and resolved the same)
        now = datetime.now(UTC)
        delivery_id = new_id("whd")
        body = {
            "delivery_id": delivery_id,
            "instruction": instruction,
            "event_id": event_id,
            "decision_id": decision_id,
            "case_id": case_id,
            "outcome": outcome,
            "decided_by": actor,
            "created_at": now.isoformat(),
        }
        conn.execute(
            insert(WebhookDelivery),
            {
                "id": delivery_id,
                "case_id": case_id,
                "event_id": event_id,
                "instruction": instruction,
                "url": self.url,
                "body": body,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            },
        )
        return delivery_id

    # -- sending ---------------------------------------------------------------------------------

    def deliver_due(self, now: datetime | None = None) -> int:
        """Try every pending delivery that is due once; returns how many were delivered."""
        now = now or datetime.now(UTC)
        with self.db.connect() as conn:
            due = conn.execute(
                select(WebhookDelivery)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(100)
            ).all()
        delivered = 0
        for delivery in due:
            delivered += self._attempt(delivery)
        return delivered

    def _attempt(self, delivery: Any) -> int:
        body = orjson.dumps(delivery.body, option=orjson.OPT_SORT_KEYS)
        attempt = delivery.attempts + 1
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.secret, body),
            "Idempotency-Key": delivery.id,
            "X-LendGuard-Attempt": str(attempt),
        }
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        try:
            if self._client is None:
                self._client = httpx.Client(timeout=self.timeout_s)
            response = self._client.post(delivery.url, content=body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        now = datetime.now(UTC)
        ok = error is None
        values: dict[str, Any] = {"attempts": attempt, "last_error": error}
        if ok:
            values.update(status="delivered", delivered_at=now)
        elif attempt >= self.max_attempts:
            values.update(status="failed")
        else:
            delay = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
            values.update(next_attempt_at=now + timedelta(seconds=delay))
        with self.db.begin() as conn:
            conn.execute(
                insert(WebhookAttempt),
                {
                    "delivery_id": delivery.id,
                    "attempt": attempt,
                    "at": now,
                    "status_code": status_code,
                    "error": error,
                    "duration_ms": duration_ms,
                },
            )
            conn.execute(
                update(WebhookDelivery).where(WebhookDelivery.id == delivery.id).values(**values)
            )
        log.info(
            "webhook.attempt",
            delivery_id=delivery.id,
            attempt=attempt,
            status_code=status_code,
            ok=ok,
            final=values.get("status"),
        )
        return int(ok)

    # -- the background loop ---------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None or not self.url:
            return
        self._thread = threading.Thread(target=self._run, name="lendguard-webhooks", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
                wait = self._seconds_to_next()
            except Exception:  # the loop must survive a database hiccup
                log.exception("webhook.loop_failed")
                wait = self.base_delay_s
            self._wake.wait(timeout=wait)
            self._wake.clear()

    def _seconds_to_next(self) -> float:
        with self.db.connect() as conn:
            nxt = conn.execute(
                select(WebhookDelivery.next_attempt_at)
                .where(WebhookDelivery.status == "pending")
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(1)
            ).scalar_one_or_none()
        if nxt is None:
            return 30.0
        return max(0.01, min(30.0, (nxt - datetime.now(UTC)).total_seconds()))

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._client is not None:
            self._client.close()
            self._client = None
