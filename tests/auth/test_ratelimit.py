"""Rate limits: the token bucket itself (on an injected clock: no test reads the wall clock to
decide what it asserts), the API's limit per key and console sign-in's per client IP and per
username, each answered 429 with ``Retry-After``."""

from __future__ import annotations

from typing import Any

import pytest

from fixtures import USER_PASSWORD, Api, make_event
from lendguard.auth import passwords
from lendguard.auth.ratelimit import RateLimiter, RateLimits, retry_after, username_key
from lendguard.config import Settings
from lendguard.models.access import AuditEntry

HTML = {"Accept": "text/html,application/xhtml+xml"}


class Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def limits(
    clock: Clock,
    *,
    api: tuple[float, float] = (0, 1),
    ip: tuple[float, float] = (0, 1),
    username: tuple[float, float] = (0, 1),
) -> RateLimits:
    """Limits in requests per second (rate 0: off) on ``clock``."""
    return RateLimits(
        login_ip=RateLimiter(*ip, clock=clock),
        login_username=RateLimiter(*username, clock=clock),
        api_key=RateLimiter(*api, clock=clock),
    )


class TestTokenBucket:
    def test_the_burst_passes_then_a_request_waits_for_the_next_token(self) -> None:
        clock = Clock()
        limiter = RateLimiter(2.0, 3, clock=clock)
        assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
        assert limiter.take("a") == pytest.approx(0.5)

    def test_tokens_come_back_at_the_rate_up_to_the_burst(self) -> None:
        clock = Clock()
        limiter = RateLimiter(2.0, 3, clock=clock)
        for _ in range(3):
            limiter.take("a")
        clock.advance(0.5)
        assert limiter.take("a") == 0.0
        assert limiter.take("a") > 0
        clock.advance(3_600)  # a long pause refills the burst, never more
        assert [limiter.take("a") for _ in range(4)][:3] == [0.0, 0.0, 0.0]
        assert limiter.take("a") > 0

    def test_a_refused_request_takes_nothing(self) -> None:
        clock = Clock()
        limiter = RateLimiter(1.0, 1, clock=clock)
        assert limiter.take("a") == 0.0
        for i in range(10):
            assert limiter.take("a") == pytest.approx(1.0 - 0.05 * i)
            clock.advance(0.05)
        # 0.5 s went by while refused: the token comes exactly one second after the last one.
        assert limiter.take("a") == pytest.approx(0.5)
        clock.advance(0.5)
        assert limiter.take("a") == 0.0

    def test_each_key_has_its_own_bucket(self) -> None:
        limiter = RateLimiter(1.0, 1, clock=Clock())
        assert limiter.take("a") == 0.0
        assert limiter.take("a") > 0
        assert limiter.take("b") == 0.0

    def test_rate_zero_turns_the_limit_off(self) -> None:
        limiter = RateLimiter(0, 1, clock=Clock())
        assert not limiter.enabled
        assert all(limiter.take("a") == 0.0 for _ in range(1_000))
        assert len(limiter) == 0

    def test_negative_settings_are_refused(self) -> None:
        with pytest.raises(ValueError, match="must not be negative"):
            RateLimiter(-1, 1)
        with pytest.raises(ValueError, match="api_rate_per_key"):
            Settings(_env_file=None, api_rate_per_key=-1)  # type: ignore[call-arg]

    def test_memory_is_bounded_and_full_buckets_go_first(self) -> None:
        clock = Clock()
        limiter = RateLimiter(0.1, 2, clock=clock, max_keys=10)
        limiter.take("busy")
        limiter.take("busy")  # empty: it must be remembered, or the limit would reset
        for i in range(9):
            limiter.take(f"idle-{i}")
        clock.advance(10)  # the idle buckets are full again (nothing to remember); busy is not
        for i in range(8):
            limiter.take(f"new-{i}")
        assert len(limiter) <= 10
        assert limiter.take("busy") == 0.0  # its one token back, not a fresh burst of two
        assert limiter.take("busy") > 0
        # With no full bucket left, the least recently used go: the count stays bounded.
        for i in range(100):
            limiter.take(f"flood-{i}")
        assert len(limiter) <= 10

    def test_retry_after_is_whole_seconds_rounded_up(self) -> None:
        assert [retry_after(w) for w in (0.001, 0.5, 1.0, 1.01, 59.2)] == [1, 1, 1, 2, 60]

    def test_usernames_share_a_bucket_however_spelt(self) -> None:
        assert username_key(" Ops ") == username_key("ops") == username_key("OPS")


class TestSettings:
    def test_defaults_are_generous_and_sign_in_rates_are_per_minute(self) -> None:
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        built = RateLimits.from_settings(settings)
        assert built.api_key.rate == 2_000
        assert built.api_key.burst == 4_000
        assert built.login_ip.rate == pytest.approx(settings.login_rate_per_ip / 60)
        assert built.login_username.rate == pytest.approx(settings.login_rate_per_username / 60)
        assert settings.login_burst_per_ip >= 30
        assert settings.login_burst_per_username >= 5

    def test_read_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("LENDGUARD_API_RATE_PER_KEY", "0")
        monkeypatch.setenv("LENDGUARD_LOGIN_RATE_PER_IP", "6")
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        built = RateLimits.from_settings(settings)
        assert not built.api_key.enabled
        assert built.login_ip.rate == pytest.approx(0.1)


def _assert_429(response: Any, seconds: int) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    assert response.headers["retry-after"] == str(seconds)
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == 429
    assert body["title"] == "Too many requests"
    assert f"retry after {seconds} s" in body["detail"]
    return body


class TestApiKeyLimit:
    def test_over_the_keys_limit_is_429_with_retry_after_and_nothing_decided(
        self, app_client: Api
    ) -> None:
        clock = Clock()
        app_client.services.limits = limits(clock, api=(0.5, 2))
        assert app_client.post_event(make_event()).status_code == 200
        assert app_client.post_event(make_event()).status_code == 200
        before = app_client.written()
        refused = app_client.post_event(make_event())
        body = _assert_429(refused, 2)
        assert body["errors"][0]["field"] == "authorization"
        assert app_client.written() == before
        # The batch endpoint and every other API endpoint count on the same key.
        batch = app_client.client.post(
            "/v1/events/batch", json={"events": [make_event()]}, headers=app_client.admin
        )
        _assert_429(batch, 2)
        _assert_429(app_client.client.get("/v1/cases", headers=app_client.admin), 2)
        # Another key has its own bucket.
        other = app_client.key("events:write")
        assert app_client.post_event(make_event(), headers=other).status_code == 200
        clock.advance(2.0)
        assert app_client.post_event(make_event()).status_code == 200

    def test_a_bad_key_is_401_not_counted(self, app_client: Api) -> None:
        clock = Clock()
        app_client.services.limits = limits(clock, api=(1, 1))
        for _ in range(3):
            wrong = app_client.post_event(make_event(), headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
        assert app_client.post_event(make_event()).status_code == 200


def _login(api: Api, username: str, password: str = "wrong-password-1", **kw: Any) -> Any:
    return api.client.post(
        "/console/login",
        data={"username": username, "password": password},
        follow_redirects=False,
        **kw,
    )


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords checked against a hash (one entry per argon2 verification)."""
    checked: list[str] = []
    verify = passwords._verify

    def counting(password_hash: str, password: str) -> bool:
        checked.append(password)
        return verify(password_hash, password)

    monkeypatch.setattr(passwords, "_verify", counting)
    return checked


def _failed_audits(api: Api) -> int:
    from sqlalchemy import func, select

    with api.services.decisions.db.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "console.login_failed")
            ).scalar_one()
        )


class TestLoginLimit:
    def test_per_client_ip_every_attempt_counts_and_a_refusal_costs_no_hash(
        self, case_app: Api, hashes: list[str]
    ) -> None:
        clock = Clock()
        case_app.services.limits = limits(clock, ip=(1 / 30, 3))
        case_app.services.users.create("ops", USER_PASSWORD, "analyst", "en")
        assert _login(case_app, "ops", USER_PASSWORD).status_code == 303  # success counts too
        assert _login(case_app, "nobody-1").status_code == 401
        assert _login(case_app, "nobody-2").status_code == 401
        assert len(hashes) == 3
        refused = _login(case_app, "nobody-3")
        body = _assert_429(refused, 30)
        assert body["errors"] == [{"field": "ip", "message": "sign-in attempts over the limit"}]
        # Refused before the password was checked, and not counted as a failed sign-in.
        assert len(hashes) == 3
        assert _failed_audits(case_app) == 2
        # Even the right password waits.
        assert _login(case_app, "ops", USER_PASSWORD).status_code == 429
        clock.advance(30)
        assert _login(case_app, "ops", USER_PASSWORD).status_code == 303

    def test_per_username_across_addresses_and_spellings(
        self, case_app: Api, hashes: list[str]
    ) -> None:
        clock = Clock()
        case_app.services.limits = limits(clock, username=(1 / 60, 2))
        case_app.services.users.create("ops", USER_PASSWORD, "analyst", "en")
        assert _login(case_app, "ops").status_code == 401
        assert _login(case_app, "OPS").status_code == 401
        refused = _login(case_app, " ops", USER_PASSWORD)
        body = _assert_429(refused, 60)
        assert body["errors"][0]["field"] == "username"
        assert len(hashes) == 2
        # Other usernames from the same address are not held up.
        assert _login(case_app, "someone-else").status_code == 401
        clock.advance(60)
        assert _login(case_app, "ops", USER_PASSWORD).status_code == 303

    def test_a_browser_gets_the_sign_in_page_with_429_and_retry_after(
        self, case_app: Api, hashes: list[str]
    ) -> None:
        clock = Clock()
        case_app.services.limits = limits(clock, ip=(0.1, 1))
        assert _login(case_app, "ops", headers=HTML).status_code == 401
        page = _login(case_app, "ops", headers={**HTML, "Accept-Language": "en"})
        assert page.status_code == 429
        assert page.headers["retry-after"] == "10"
        assert page.headers["content-type"].startswith("text/html")
        assert 'id="rate-limited"' in page.text
        assert 'name="username"' in page.text  # the form, to try again
        assert len(hashes) == 1

    def test_the_defaults_let_a_team_sign_in(self, case_app: Api) -> None:
        """With the default limits, a dozen sign-ins from one address all get through."""
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        case_app.services.limits = RateLimits.from_settings(settings, clock=Clock())
        for i in range(12):
            case_app.services.users.create(f"agent-{i}", USER_PASSWORD, "analyst", "en")
        answers = [_login(case_app, f"agent-{i}", USER_PASSWORD).status_code for i in range(12)]
        assert answers == [303] * 12
