"""Rate limits: token buckets keyed by client IP and username (console sign-in) and by API key.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second; a request
takes one token, or is refused with the seconds until one is there (``429`` with
``Retry-After``). A refused request takes nothing, so a client that waits as told gets in.

Console sign-in counts every attempt, successful or not, and takes its tokens before the
password is checked: the limit bounds both the guessing rate and the argon2 work a flood can
cause, and a refused attempt costs no hash. The per-IP bucket is taken first, then the
per-username one. The account lock-out (five wrong passwords in a row) applies as before.

The limits live in the process: with several workers each has its own buckets, so the
effective limit is the configured one times the number of workers. Memory is bounded: past
``max_keys`` buckets, full ones (indistinguishable from a fresh bucket) are dropped first,
oldest first, then the least recently used.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from lendguard.config import Settings
from lendguard.errors import FieldError, RateLimited

Clock = Callable[[], float]
MAX_KEYS = 100_000
_EPSILON = 1e-9


class RateLimiter:
    """Token buckets by key; thread-safe. ``rate`` 0 turns the limit off."""

    def __init__(
        self,
        rate_per_s: float,
        burst: float,
        *,
        clock: Clock = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        if rate_per_s < 0 or burst < 0:
            raise ValueError("a rate limit's rate and burst must not be negative")
        self.rate = float(rate_per_s)
        # At least one token, or nothing could ever pass.
        self.burst = max(1.0, float(burst))
        self.clock = clock
        self.max_keys = max(1, max_keys)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 when it passes, else the seconds until it would."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            found = self._buckets.get(key)
            if found is None:
                tokens = self.burst
            else:
                tokens = min(self.burst, found[0] + max(0.0, now - found[1]) * self.rate)
                self._buckets.move_to_end(key)
            if tokens >= 1.0 - _EPSILON:  # (a client that waited exactly as told passes)
                tokens = max(0.0, tokens - 1.0)
                wait = 0.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self.max_keys:
                self._shrink(now)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)

    def _shrink(self, now: float) -> None:
        """Drop full buckets (oldest first), then the least recently used, to 90% of
        ``max_keys`` (so the next insertions do not scan again)."""
        target = self.max_keys - max(1, self.max_keys // 10)
        for key, (tokens, updated) in list(self._buckets.items()):
            if len(self._buckets) <= target:
                return
            if tokens + max(0.0, now - updated) * self.rate >= self.burst:
                del self._buckets[key]
        while len(self._buckets) > target:
            self._buckets.popitem(last=False)


def retry_after(wait_s: float) -> int:
    """Whole seconds for ``Retry-After``: rounded up, at least 1."""
    return max(1, math.ceil(wait_s))


@dataclass
class RateLimits:
    """The server's limits: console sign-in per client IP and per username, the API per key."""

    login_ip: RateLimiter
    login_username: RateLimiter
    api_key: RateLimiter

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock = time.monotonic) -> RateLimits:
        return cls(
            login_ip=RateLimiter(
                settings.login_rate_per_ip / 60, settings.login_burst_per_ip, clock=clock
            ),
            login_username=RateLimiter(
                settings.login_rate_per_username / 60,
                settings.login_burst_per_username,
                clock=clock,
            ),
            api_key=RateLimiter(settings.api_rate_per_key, settings.api_burst_per_key, clock=clock),
        )

    def check_login(self, ip: str | None, username: str) -> None:
        """Take a sign-in attempt for the client IP, then for the username; else 429."""
        _take(
            self.login_ip,
            ip or "-",
            "too many sign-in attempts from this address",
            FieldError("ip", "sign-in attempts over the limit"),
        )
        _take(
            self.login_username,
            username_key(username),
            "too many sign-in attempts for this username",
            FieldError("username", "sign-in attempts over the limit"),
        )

    def check_api_key(self, key_id: str) -> None:
        """Take a request for the API key; else 429."""
        _take(
            self.api_key,
            key_id,
            "too many requests on this API key",
            FieldError("authorization", "requests over the key's limit"),
        )


def _take(limiter: RateLimiter, key: str, what: str, error: FieldError) -> None:
    """Take one token for ``key``; raise :class:`RateLimited` (``what``, the wait) if none."""
    wait = limiter.take(key)
    if wait > 0:
        seconds = retry_after(wait)
        raise RateLimited(f"{what}: retry after {seconds} s", errors=[error], retry_after=seconds)


def username_key(username: str) -> str:
    """One bucket per username however it is spelt (case, surrounding blanks); bounded length
    (usernames are at most 64 characters)."""
    return username.strip().casefold()[:128]
