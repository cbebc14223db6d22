"""Typed settings, read once at start from ``ISLES_*`` environment variables and flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IslesSettings(BaseSettings):
    """Every knob of a running Isles system. Flags override the environment."""

    model_config = SettingsConfigDict(env_prefix="ISLES_", extra="ignore", frozen=True)

    data_dir: Path = Field(default=Path(".isles"), description="Where SQLite databases (and local keys) live.")
    database_url: str | None = Field(
        default=None,
        description="Database URL template with a {service} placeholder, e.g. "
        "postgresql+asyncpg://postgres@127.0.0.1:5432/hrms_{service}.",
    )
    bus: Literal["embedded", "nats"] = Field(
        default="embedded", description="embedded: in-process; nats: NATS JetStream (production)."
    )
    nats_url: str = Field(default="nats://127.0.0.1:4222", description="NATS server(s), comma-separated.")
    nats_prefix: str = Field(
        default="isles", pattern=r"^[A-Za-z0-9_-]+$", description="Subject prefix and stream-name prefix."
    )
    nats_ack_wait: float = Field(
        default=30.0, gt=0, description="Seconds before JetStream redelivers an unacked event."
    )
    nats_publish_window: int = Field(
        default=1024, ge=1, description="Events a relay has sent to JetStream without its acknowledgement yet, at most."
    )
    max_deliveries: int = Field(
        default=10, ge=1, description="Deliveries without an outcome before an event is parked as a dead letter."
    )
    relay_lease_seconds: float = Field(default=15.0, gt=0, description="How long a relay's claim on outbox rows lasts.")
    relay_listen: bool = Field(default=True, description="Wake relays with PostgreSQL LISTEN/NOTIFY.")
    relay_enabled: bool = Field(default=True, description="False pauses publishing; events wait in the outbox.")
    relay_batch_size: int = Field(
        default=500, ge=1, le=10_000, description="Outbox rows read and handed to the bus at once."
    )
    relay_poll_interval: float = Field(default=1.0, gt=0, description="Fallback poll, seconds.")
    relay_linger: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description=(
            "Seconds a busy relay (one that published within ten lingers) waits, once woken, for the commits "
            "right behind the first before reading the outbox; 0: never."
        ),
    )
    relay_max_in_flight: int = Field(
        default=1024, ge=1, description="Events handed to the bus whose outcome is not known yet, at most."
    )
    outbox_retention_seconds: float = Field(default=7 * 24 * 3600, ge=0)
    consumer_concurrency: int = Field(default=8, ge=1, le=256)
    gc_tuning: bool = Field(
        default=True,
        description="isles up/serve: after start, freeze what start-up built and collect garbage less often.",
    )
    consumer_batch_size: int = Field(
        default=200, ge=1, le=10_000, description="Most events a consumer applies in one transaction."
    )
    retry_max_attempts: int = Field(default=5, ge=1)
    retry_base_delay: float = Field(default=0.2, ge=0)
    retry_max_delay: float = Field(default=30.0, ge=0)
    saga_lease_seconds: float = Field(
        default=15.0, gt=0, description="How long a process's hold on a saga lasts unless renewed (every third of it)."
    )
    saga_poll_interval: float = Field(default=1.0, gt=0, description="How often to look for sagas nobody drives.")
    saga_wait_seconds: float = Field(
        default=10.0, ge=0, description="How long a request that starts a saga waits for it before answering 202."
    )
    saga_retry_base_delay: float = Field(default=0.2, ge=0, description="First backoff of a step's retry, seconds.")
    saga_retry_max_delay: float = Field(default=5.0, ge=0, description="Longest backoff between a step's attempts.")
    saga_compensation_max_delay: float = Field(
        default=30.0, ge=0, description="Longest backoff between a compensation's attempts."
    )
    saga_retention_seconds: float = Field(
        default=30 * 24 * 3600, ge=0, description="Finished sagas are deleted after this long."
    )
    idempotency_retention_seconds: float = Field(
        default=7 * 24 * 3600, ge=0, description="Idempotency keys are forgotten after this long."
    )
    client_timeout: float = Field(default=5.0, gt=0, description="Seconds per attempt of a call to another service.")
    client_retries: int = Field(default=2, ge=0, le=10, description="Retries of a safe call to another service.")
    client_backoff: float = Field(default=0.05, ge=0, description="First backoff of a retried call, seconds.")
    breaker_threshold: int = Field(
        default=5, ge=1, description="Failures in a row after which calls to a service fail fast."
    )
    breaker_reset_seconds: float = Field(
        default=5.0, gt=0, description="How long calls fail fast before one trial call goes through."
    )
    keys_dir: Path | None = Field(
        default=None,
        description="Folder of the Ed25519 signing keys (<signer>.key, <signer>.pub). Default: <data_dir>/keys, "
        "generated on first start by `isles up` only; `isles serve` needs them provisioned (`isles keys generate`).",
    )
    generate_keys: bool = Field(
        default=False, description="Create missing signing keys on start (local use: `isles up` does it)."
    )
    access_token_ttl: float = Field(default=300.0, gt=0, le=3600, description="Lifetime of an access token, seconds.")
    refresh_token_ttl: float = Field(
        default=14 * 24 * 3600.0, gt=0, description="Lifetime of a session (its refresh token), seconds."
    )
    service_token_ttl: float = Field(
        default=120.0, gt=0, le=3600, description="Lifetime of a token a service signs for its own calls, seconds."
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed logins in a row after which an account is locked for a while."
    )
    login_lockout_seconds: float = Field(default=900.0, ge=0, description="How long a locked account stays locked.")
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body a service accepts (413 above), bytes."
    )
    mail_sender: Literal["file", "smtp"] = Field(
        default="file", description="How mail leaves: file (one .eml per message in mail_dir) or smtp."
    )
    mail_dir: Path | None = Field(default=None, description="Folder of the file sender. Default: <data_dir>/mail.")
    mail_from: str = Field(default="hrms@localhost", description="The From address of outgoing mail.")
    smtp_host: str = Field(default="127.0.0.1", description="SMTP server of the smtp sender.")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = Field(default=False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_username: str | None = Field(default=None, description="SMTP login, if the server needs one.")
    smtp_password: str | None = Field(default=None, description="SMTP password (from the environment, never a file).")
    smtp_timeout: float = Field(default=10.0, gt=0, description="Seconds per SMTP conversation.")
    pool_size: int = Field(
        default=10, ge=1, description="PostgreSQL connections each service keeps open (one per request in flight)."
    )
    pool_max_overflow: int = Field(default=10, ge=0, description="More connections under a burst, closed after it.")
    pool_timeout: float = Field(default=30.0, gt=0)
    pool_recycle: float = Field(default=1800.0, gt=0, description="Seconds before a pooled connection is renewed.")
    pool_ping_idle: float = Field(
        default=10.0, ge=0, description="A pooled connection idle this long is pinged before use (0: always)."
    )
