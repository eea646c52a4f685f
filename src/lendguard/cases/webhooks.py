"""Telling the lender to release or cancel a held transaction: signed, retried, idempotent.

A delivery row is written in the same transaction as the case outcome (an outbox), so an
outcome is never lost between the database and the network. A background sender posts due
deliveries:

- body: JSON, ``{"delivery_id", "instruction": "release"|"cancel", "event_id", "decision_id",
  "case_id", "outcome", "reason", "decided_by", "created_at"}``. ``outcome`` is the case's
  closing state (``resolved_legit``, ...) when a resolution ends the hold, or the event of one
  hold ended on its own: ``hold_released`` / ``hold_cancelled``. ``reason`` says why the hold
  ended: ``case_resolved``, ``released_by_agent``, ``cancelled_by_agent`` or ``deadline`` (the
  hold's business-day deadline passed and it was released automatically, ``decided_by``
  ``system``);
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
from collections.abc import Callable
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
        # Periodic work of the cases area run by this loop (the hold deadline sweep): name ->
        # (the interval's getter, the job, when it last ran on the monotonic clock).
        self._jobs: dict[str, list[Any]] = {}

    def every(self, name: str, interval_s: Callable[[], float], job: Callable[[], object]) -> None:
        """Run ``job`` on this loop at start and then every ``interval_s()`` seconds (read
        each time, so a test or an operator may shorten it). Why here: the cases area's one
        background thread is this sender, and what the periodic work writes (a released
        hold's instruction) is what it sends next. A job that fails is logged and retried at
        its next interval; the loop goes on."""
        self._jobs[name] = [interval_s, job, None]

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
        reason: str = "case_resolved",
    ) -> str | None:
        """Write a delivery in the caller's transaction; None when no receiver is configured
        (the hold status still changes; the lender then reads it from the case or hold API).
        ``outcome``: the case's closing state, or ``hold_released`` / ``hold_cancelled`` for
        one hold ended outside a resolution; ``reason``: why the hold ended."""
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
            "reason": reason,
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
        """The background loop: deliveries (with a receiver configured) and the periodic jobs
        (always: a hold's deadline passes whether or not the lender listens)."""
        if self._thread is not None or not (self.url or self._jobs):
            return
        self._thread = threading.Thread(target=self._run, name="lendguard-webhooks", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            jobs_wait = self._run_jobs()
            if self.url:
                try:
                    self.deliver_due()
                    wait = self._seconds_to_next()
                except Exception:  # the loop must survive a database hiccup
                    log.exception("webhook.loop_failed")
                    wait = self.base_delay_s
            else:
                wait = 30.0
            self._wake.wait(timeout=min(wait, jobs_wait))

    def _run_jobs(self) -> float:
        """Run the periodic jobs that are due; returns the seconds until the next one."""
        soonest = 30.0
        for name, entry in self._jobs.items():
            interval_s, job, last = entry
            now = time.monotonic()
            if last is None or now >= last + float(interval_s()):
                try:
                    job()
                except Exception:  # the loop must survive a job's failure
                    log.exception("webhook.job_failed", job=name)
                entry[2] = last = now = time.monotonic()
            soonest = min(soonest, max(0.01, last + float(interval_s()) - now))
        return soonest

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
