"""Settings: one typed object, read from the environment (prefix ``LENDGUARD_``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Built-in values so tests and tools run without setup. A server refuses to start on them
# (lendguard.auth.secret_settings); `lendguard secrets generate` prints real ones.
DEFAULT_PII_KEY = "lendguard-development-pii-key-change-me"
DEFAULT_WEBHOOK_SECRET = "lendguard-development-webhook-secret-change-me"


class Settings(BaseSettings):
    """Defaults run with no infrastructure: SQLite under ``var/`` and in-process state."""

    model_config = SettingsConfigDict(env_prefix="LENDGUARD_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./var/lendguard.db"
    # Where window state lives: "memory" (one process; checkpointed to the database and
    # replayed from the log on restart) or "shared" (the ``entity_states`` table of the
    # database, row-locked per key, so several API processes and stream workers decide on one
    # state and never lose an update; needs PostgreSQL for more than one machine).
    state_backend: Literal["memory", "shared"] = "memory"
    # Stream ingestion (``lendguard worker``): NATS JetStream.
    nats_url: str = "nats://127.0.0.1:4222"
    # Subjects and stream names start with this (tests and a second tenant use their own):
    # events are published to ``<prefix>.events.<partition>``; see lendguard.stream.partitions.
    stream_prefix: str = Field(default="lendguard", pattern=r"^[a-z][a-z0-9_]{0,31}$")
    stream_partitions: int = Field(default=16, ge=1, le=4096)
    # A delivered event not acknowledged within this time is delivered again (the worker
    # extends it while it works on a batch).
    worker_ack_wait_s: float = Field(default=10.0, gt=0)
    # Deliveries of one message before the worker gives up on it and dead-letters it.
    worker_max_deliver: int = Field(default=20, ge=2)
    # Events fetched and decided in one transaction per partition.
    worker_batch: int = Field(default=100, ge=1, le=10_000)
    # JetStream's window for dropping a re-published event (same ``Nats-Msg-Id``).
    stream_duplicate_window_s: float = Field(default=600.0, gt=0)
    # SQLite durability: NORMAL in WAL mode survives a process crash; FULL also an OS crash.
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    max_body_bytes: int = 1_000_000
    max_batch_events: int = 1_000
    # How many events may pass between two checkpoints of the in-process window state.
    state_checkpoint_events: int = 5_000
    log_level: str = "INFO"
    default_locale: str = "zh-CN"
    # The time zone the console shows times in (an IANA name); each user may choose their own.
    console_timezone: str = "Asia/Shanghai"
    environment: Literal["development", "testing", "production"] = "development"
    # Key for the HMAC pseudonyms of phone, card_id and address_id (never stored in clear).
    pii_key: str = DEFAULT_PII_KEY
    # The alliance (issue #20): this lender's member id and its Ed25519 signing key (the
    # base64 of a 32-byte seed, from `lendguard alliance keys new`; kept in the secret store,
    # never in the database). Unset: the alliance is off and its endpoints answer 503.
    alliance_member_id: str | None = None
    alliance_signing_key: str | None = None
    # The OPRF lookup key is derived from the signing key and this epoch; changing the epoch
    # rotates it (every member's index of this lender's list is rebuilt).
    alliance_lookup_epoch: str = "1"
    # A PSI carries up to this many bytes (1M blinded points are 43 MB of base64).
    alliance_max_body_bytes: int = 96_000_000
    # Per member: PSI sessions an hour, lookups a minute (answered 429 above them).
    alliance_psi_per_hour: int = 30
    alliance_lookups_per_minute: int = 1200
    # Per member: blinded items its PSI sessions may bring in any 24 hours, counted from the
    # durable exchange records (so every server process shares it). PSI answers for any set a
    # member sends, so without a budget a member could run the whole mobile-number space
    # through sessions and read this lender's list off the answers.
    alliance_psi_items_per_day: int = 2_000_000
    # An aggregation round needs at least this many contributors (never fewer than 3: a total
    # of two members' figures tells each the other's).
    alliance_min_contributors: int = 3
    # The borrower's privacy centre (issue #21): how long a link the lender's app asks for stays
    # valid, and the public address the link starts with (unset: the address of the server the
    # app asked). Links are signed with a key derived from the master key (no secret of its own).
    portal_link_ttl_s: int = Field(default=600, ge=60, le=3_600)
    portal_base_url: str | None = None
    # The report (issue #21): losses a dissuaded transfer would have cost count as "estimated
    # avoided" at this share (the rest of the report's avoided losses come from real outcomes).
    report_dissuasion_success_rate: float = Field(default=0.6, ge=0, le=1)
    # The lender's name the report is titled with (the API, the console and `lendguard report`).
    lender_name: str = Field(default="LendGuard", min_length=1, max_length=200)
    bootstrap_admin_key: str | None = Field(
        default=None, description="If set, an admin API key with this secret exists at start."
    )
    # The lender's endpoint told to release or cancel held transactions when a case resolves.
    webhook_url: str | None = None
    # Signs the webhook calls (HMAC-SHA256); only used, and only checked at start, with a URL.
    webhook_secret: str = DEFAULT_WEBHOOK_SECRET
    webhook_base_delay_s: float = 2.0
    webhook_max_attempts: int = 8
    # Console session cookies: Secure (HTTPS only) unless explicitly turned off for local HTTP.
    cookie_secure: bool = True
    # The master key wrapping the vault's data keys: 32 bytes, base64. Unset: derived from the
    # PII key (tests and tools only: a server refuses to start without a real one, kept outside
    # the database).
    master_key: str | None = None
    # Daily population stability index of a live score above this opens a model_drift case.
    psi_alert_threshold: float = 0.2
    # Customers at or over this age get a trusted-contact call on their cases.
    elderly_age: int = 60
    # The agent assistant's trained models (`lendguard assistant train --out DIR`). Unset, or a
    # folder without a trained model: the built-in lending intents and the scam-cue lexicon.
    assistant_model_dir: str | None = None
    # Rate limits (lendguard.auth.ratelimit), per process; a rate of 0 turns that limit off.
    # Console sign-in attempts per minute (every attempt counts), by client IP and by username.
    login_rate_per_ip: float = Field(default=30.0, ge=0)
    login_burst_per_ip: int = Field(default=60, ge=1)
    login_rate_per_username: float = Field(default=10.0, ge=0)
    login_burst_per_username: int = Field(default=10, ge=1)
    # API requests per second on one API key.
    api_rate_per_key: float = Field(default=2_000.0, ge=0)
    api_burst_per_key: int = Field(default=4_000, ge=1)

    @field_validator("console_timezone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        """A misspelt zone fails at start-up, not as unlabelled UTC on every console page."""
        return known_time_zone(value)


def known_time_zone(name: str) -> str:
    """``name`` if it is an IANA time zone this machine knows (``Asia/Shanghai``), else
    ``ValueError``. Shared by the setting and the console's per-user choice."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not name or "\x00" in name or len(name) > 64:
        raise ValueError("an IANA time zone name such as Asia/Shanghai")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(
            f"unknown time zone '{name}' (an IANA name such as Asia/Shanghai)"
        ) from exc
    return name


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
