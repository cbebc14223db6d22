"""Typed settings, read once at start from ``ISLES_*`` environment variables and flags.

Every knob is in one place, grouped by the part it tunes, and each group goes
straight to that part (``settings.relay`` to the relay, ``settings.saga`` to the saga
runner, ``settings.pool`` to the database engine). A setting has one name: the
environment variable ``ISLES_RELAY_BATCH_SIZE`` is ``settings.relay.batch_size``, and
``IslesSettings(relay_batch_size=50)`` sets it too.

Per-service and per-peer variables (``ISLES_<SERVICE>_DATABASE_URL``,
``ISLES_<SERVICE>_POOL_*``, ``ISLES_<SERVICE>_URL``) are read here as well, by
:class:`ServiceEnvironment`: no other module reads ``ISLES_*``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from isles.core.backoff import Backoff


class _Group(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class NatsSettings(_Group):
    """NATS JetStream (``bus = nats``)."""

    url: str = Field(default="nats://127.0.0.1:4222", description="NATS server(s), comma-separated.")
    prefix: str = Field(
        default="isles", pattern=r"^[A-Za-z0-9_-]+$", description="Subject prefix and stream-name prefix."
    )
    ack_wait: float = Field(default=30.0, gt=0, description="Seconds before JetStream redelivers an unacked event.")
    publish_window: int = Field(
        default=1024, ge=1, description="Events a relay has sent to JetStream without its acknowledgement yet, at most."
    )
    backoff: tuple[float, ...] = Field(
        default=(1.0, 5.0, 30.0), description="Seconds before each redelivery after the first (then ack_wait)."
    )
    fetch_batch: int = Field(default=256, ge=1, description="Most events one pull request asks for.")
    max_ack_pending: int = Field(default=1024, ge=1, description="Events a consumer holds unacknowledged, at most.")
    publish_timeout: float = Field(default=5.0, gt=0, description="Seconds to wait for JetStream to take an event.")
    stream_max_age: float = Field(default=7 * 24 * 3600.0, gt=0, description="How long a stream keeps an event.")
    duplicate_window: float = Field(
        default=120.0, gt=0, description="Seconds JetStream remembers an event id to drop a republished copy."
    )
    connect_timeout: float = Field(default=2.0, gt=0)
    nkey_seed_file: Path | None = Field(
        default=None, description="The service's NKEY seed (isles nats auth writes it): connect as its NATS user."
    )
    tls_ca: Path | None = Field(
        default=None,
        description="The CA certificate the NATS server's certificate must chain to: connect with TLS, "
        "verifying the chain and the host name. Default: no TLS.",
    )
    inbox_prefix: str = Field(
        default="_INBOX",
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Subject prefix of this process's replies (_INBOX_<service> for a service's NATS user).",
    )


class RelaySettings(_Group):
    """The relay: outbox to bus."""

    lease_seconds: float = Field(default=15.0, gt=0, description="How long a relay's claim on outbox rows lasts.")
    listen: bool = Field(default=True, description="Wake relays with PostgreSQL LISTEN/NOTIFY.")
    enabled: bool = Field(default=True, description="False pauses publishing; events wait in the outbox.")
    batch_size: int = Field(default=500, ge=1, le=10_000, description="Outbox rows read and handed to the bus at once.")
    poll_interval: float = Field(default=1.0, gt=0, description="Fallback poll, seconds.")
    linger: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description=(
            "Seconds a busy relay (one that published within ten lingers) waits, once woken, for the commits "
            "right behind the first before reading the outbox; 0: never."
        ),
    )
    max_in_flight: int = Field(
        default=1024, ge=1, description="Events handed to the bus whose outcome is not known yet, at most."
    )


class ConsumerSettings(_Group):
    """The consumer: bus to handlers, through the inbox."""

    concurrency: int = Field(default=8, ge=1, le=256, description="Aggregates whose events are applied at once.")
    batch_size: int = Field(
        default=200, ge=1, le=10_000, description="Most events a consumer applies in one transaction."
    )


class RetrySettings(_Group):
    """A consumer's retries of an event whose handler failed, before it is parked."""

    max_attempts: int = Field(default=5, ge=1)
    base_delay: float = Field(default=0.2, ge=0)
    max_delay: float = Field(default=30.0, ge=0)

    def delay(self, attempt: int) -> float:
        """Backoff before retry number ``attempt`` (1-based): half fixed, half jitter."""
        return Backoff(self.base_delay, self.max_delay).delay(attempt)


class SagaSettings(_Group):
    """The saga runner of each orchestrating service."""

    lease_seconds: float = Field(
        default=15.0, gt=0, description="How long a process's hold on a saga lasts unless renewed (every third of it)."
    )
    poll_interval: float = Field(default=1.0, gt=0, description="How often to look for sagas nobody drives.")
    wait_seconds: float = Field(
        default=10.0, ge=0, description="How long a request that starts a saga waits for it before answering 202."
    )
    retry_base_delay: float = Field(default=0.2, ge=0, description="First backoff of a step's retry, seconds.")
    retry_max_delay: float = Field(default=5.0, ge=0, description="Longest backoff between a step's attempts.")
    compensation_max_delay: float = Field(
        default=30.0, ge=0, description="Longest backoff between a compensation's attempts."
    )
    retention_seconds: float = Field(
        default=30 * 24 * 3600, ge=0, description="Finished sagas are deleted after this long."
    )

    def delay(self, attempt: int, ceiling: float) -> float:
        return Backoff(self.retry_base_delay, ceiling).delay(attempt)


class ClientSettings(_Group):
    """Calls to another service's API."""

    timeout: float = Field(default=5.0, gt=0, description="Seconds per attempt of a call to another service.")
    retries: int = Field(default=2, ge=0, le=10, description="Retries of a safe call to another service.")
    backoff: float = Field(default=0.05, ge=0, description="First backoff of a retried call, seconds.")
    max_backoff: float = Field(default=2.0, ge=0, description="Longest backoff of a retried call, seconds.")

    def delay(self, retry: int) -> float:
        """Backoff before retry number ``retry`` (1-based): half fixed, half jitter."""
        return Backoff(self.backoff, self.max_backoff).delay(retry)


class BreakerSettings(_Group):
    """The circuit breaker a process keeps for each service it calls."""

    threshold: int = Field(default=5, ge=1, description="Failures in a row after which calls to a service fail fast.")
    reset_seconds: float = Field(
        default=5.0, gt=0, description="How long calls fail fast before one trial call goes through."
    )


class LoginSettings(_Group):
    max_failures: int = Field(
        default=5, ge=1, description="Failed logins in a row after which an account is locked for a while."
    )
    lockout_seconds: float = Field(default=900.0, ge=0, description="How long a locked account stays locked.")
    invitation_ttl_seconds: float = Field(
        default=7 * 24 * 3600.0, gt=0, description="How long a new user's set-password link (the invitation) works."
    )
    reset_ttl_seconds: float = Field(default=3600.0, gt=0, description="How long a reset-password link works.")


class PasswordSettings(_Group):
    """Argon2id's cost (RFC 9106): what one password hash takes. The defaults are
    argon2-cffi's (RFC 9106's low-memory profile); a stored hash made with other
    parameters is re-made at the user's next login."""

    time_cost: int = Field(default=3, ge=1, le=20, description="Argon2id passes over the memory.")
    memory_kib: int = Field(default=65536, ge=8, le=4_194_304, description="Argon2id memory, KiB (65536: 64 MiB).")
    parallelism: int = Field(default=4, ge=1, le=64, description="Argon2id lanes.")


class MailSettings(_Group):
    sender: Literal["file", "smtp"] = Field(
        default="file", description="How mail leaves: file (one .eml per message in mail_dir) or smtp."
    )
    dir: Path | None = Field(default=None, description="Folder of the file sender. Default: <data_dir>/mail.")
    from_: str = Field(default="hrms@localhost", alias="from", description="The From address of outgoing mail.")


class BlobSettings(_Group):
    """The blob store (``isles.storage.blobs``): files kept by their SHA-256."""

    backend: Literal["file", "s3"] = Field(
        default="file", description="Where blobs live: file (a folder) or s3 (S3-compatible object storage)."
    )
    dir: Path | None = Field(default=None, description="Folder of the file backend. Default: <data_dir>/blobs.")
    s3_endpoint: str | None = Field(
        default=None, description="S3 endpoint URL, e.g. https://s3.eu-west-1.amazonaws.com."
    )
    s3_bucket: str | None = Field(default=None, description="S3 bucket (must exist).")
    s3_access_key: str | None = Field(default=None, description="S3 access key id.")
    s3_secret_key: str | None = Field(default=None, description="S3 secret key (from the environment, never a file).")
    s3_region: str = Field(default="us-east-1", description="S3 region the requests are signed for.")
    max_upload_bytes: int = Field(
        default=50 * 1024 * 1024,
        ge=1024,
        description="Largest file an upload route takes (413 above), bytes; its request body may be this much "
        "plus 64 KiB of multipart framing.",
    )


class AuditSettings(_Group):
    """The consistency audit run by a running system (``isles up``, ``isles serve``)
    now and then, its counts exported as Prometheus gauges (``isles_stale_copies``, ...)."""

    interval: float = Field(
        default=0.0, ge=0, description="Seconds between two audits of the running system; 0 (default): none."
    )
    settle: float = Field(
        default=5.0, ge=0, description="Seconds before a stale or missing copy is looked at again (in flight?)."
    )
    window_hours: float = Field(default=1.0, ge=0, description="Hours of failed and compensated sagas counted.")
    values_slices: int = Field(
        default=0,
        ge=0,
        le=65536,
        description="Compare copies' values too, a slice of the key space per audit: N slices, every row "
        "compared once every N audits (0, default: versions only).",
    )


class SmtpSettings(_Group):
    host: str = Field(default="127.0.0.1", description="SMTP server of the smtp sender.")
    port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = Field(default=False, description="Upgrade the SMTP connection with STARTTLS.")
    username: str | None = Field(default=None, description="SMTP login, if the server needs one.")
    password: str | None = Field(default=None, description="SMTP password (from the environment, never a file).")
    timeout: float = Field(default=10.0, gt=0, description="Seconds per SMTP conversation.")


class PoolSettings(_Group):
    """Connection pool of one service's PostgreSQL engine (SQLite needs none).

    ``size`` connections stay open; up to ``max_overflow`` more are opened under a
    burst and closed when handed back. A connection idle for ``ping_idle`` seconds or
    more is pinged before use (and replaced if dead); one in steady use is not, so a
    busy service pays no extra round trip per transaction. The most recently used
    connection is handed out first, so under a light load the others stay unused and
    are closed after ``idle_timeout`` seconds: a service that had a burst does not
    keep its ``size`` connections of the server's ``max_connections`` for ever."""

    size: int = Field(
        default=10, ge=1, description="PostgreSQL connections each service keeps open (one per request in flight)."
    )
    max_overflow: int = Field(default=10, ge=0, description="More connections under a burst, closed after it.")
    timeout: float = Field(default=30.0, gt=0)
    recycle: float = Field(default=1800.0, gt=0, description="Seconds before a pooled connection is renewed.")
    ping_idle: float = Field(
        default=10.0, ge=0, description="A pooled connection idle this long is pinged before use (0: always)."
    )
    idle_timeout: float = Field(
        default=60.0,
        ge=0,
        description="A pooled connection unused this long is closed; one is opened again when needed (0: never).",
    )


class JobSettings(_Group):
    """Services' scheduled jobs (``isles.Job``), run inside the running service."""

    enabled: bool = Field(
        default=True, description="Run scheduled jobs when due (False: only `isles jobs run` runs them)."
    )
    poll_interval: float = Field(default=60.0, gt=0, description="How often a service checks whether a job is due.")


class CacheSettings(_Group):
    """The figure cache services keep computed figures in (``isles.clients.cache``):
    Redis in production, a cache in the process when no URL is given (the embedded mode)."""

    url: str = Field(
        default="",
        description="Redis URL (redis://host:6379/0; rediss:// for TLS); empty: an in-process cache per service.",
    )
    ttl: float = Field(default=3600.0, gt=0, description="Seconds a cached figure is kept at most.")
    max_entries: int = Field(default=10_000, ge=1, description="Figures the in-process cache holds at most (LRU).")


class TracingSettings(_Group):
    """OpenTelemetry spans, exported with OTLP over HTTP (protobuf) when ``endpoint``
    is set; off (no span made, the SDK not even imported) when it is not."""

    endpoint: str | None = Field(
        default=None,
        examples=["http://127.0.0.1:4318"],
        description="The OTLP/HTTP receiver's base URL (a collector, Jaeger, Tempo), e.g. http://127.0.0.1:4318; "
        "spans are POSTed to <endpoint>/v1/traces. Unset (default): no tracing.",
    )
    sample_ratio: float = Field(
        default=1.0,
        ge=0,
        le=1,
        examples=[0.1],
        description="Share of new traces recorded (by trace id); a trace begun elsewhere follows its sampled flag.",
    )
    headers: str = Field(
        default="",
        examples=["authorization=Bearer abc,x-scope-orgid=isles"],
        description="Headers of each export request, name=value,name=value (a receiver's credentials).",
    )
    timeout: float = Field(default=10.0, gt=0, description="Seconds one export request may take.")

    @field_validator("endpoint")
    @classmethod
    def _an_http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(
                f"{value!r} is not an OTLP/HTTP base URL: give http(s)://host:port (and a path prefix, if any), "
                "e.g. http://127.0.0.1:4318; spans go to <endpoint>/v1/traces"
            )
        try:
            parts.port  # noqa: B018 - raises on a port out of range or not a number
        except ValueError as exc:
            raise ValueError(f"{value!r}: bad port ({exc})") from None
        return value.rstrip("/")

    @field_validator("headers")
    @classmethod
    def _name_value_pairs(cls, value: str) -> str:
        for pair in filter(None, (p.strip() for p in value.split(","))):
            name, sep, _ = pair.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"{pair!r}: expected name=value (pairs separated by commas)")
        return value

    def header_map(self) -> dict[str, str]:
        """``headers`` as a dict."""
        pairs = (p.partition("=") for p in self.headers.split(",") if p.strip())
        return {name.strip(): value.strip() for name, _, value in pairs}


#: The groups, by the first word of their settings' names.
GROUPS: dict[str, type[_Group]] = {
    "nats": NatsSettings,
    "relay": RelaySettings,
    "consumer": ConsumerSettings,
    "retry": RetrySettings,
    "saga": SagaSettings,
    "client": ClientSettings,
    "breaker": BreakerSettings,
    "login": LoginSettings,
    "password": PasswordSettings,
    "mail": MailSettings,
    "smtp": SmtpSettings,
    "blobs": BlobSettings,
    "audit": AuditSettings,
    "pool": PoolSettings,
    "jobs": JobSettings,
    "cache": CacheSettings,
    "tracing": TracingSettings,
}


class IslesSettings(BaseSettings):
    """Every knob of a running Isles system. Flags override the environment."""

    model_config = SettingsConfigDict(
        env_prefix="ISLES_", extra="ignore", frozen=True, env_nested_delimiter="_", env_nested_max_split=1
    )

    data_dir: Path = Field(default=Path(".isles"), description="Where SQLite databases (and local keys) live.")
    public_url: str | None = Field(
        default=None,
        description="The system's address as its users reach it, for links in mail (set-password links). "
        "Default: what `isles up` listens on.",
    )
    database_url: str | None = Field(
        default=None,
        description="Database URL template with a {service} placeholder, e.g. "
        "postgresql+asyncpg://postgres@127.0.0.1:5432/hrms_{service}.",
    )
    admin_url: str | None = Field(
        default=None, description="A superuser's URL, for `isles db provision` (default: database_url's server)."
    )
    database_tls_ca: Path | None = Field(
        default=None,
        description="The CA certificate PostgreSQL's server certificate must chain to: connect with TLS, "
        "verify-full (the chain and the host name). Default: no TLS.",
    )
    security_log: str | None = Field(
        default=None,
        description="Where security events go, as JSON lines: a file, or - for standard error. "
        "Default: <data_dir>/security.jsonl.",
    )

    def security_log_target(self) -> str:
        """The security events log's file (or ``-``)."""
        return self.security_log or str(self.data_dir / "security.jsonl")

    bus: Literal["embedded", "nats"] = Field(
        default="embedded", description="embedded: in-process; nats: NATS JetStream (production)."
    )
    max_deliveries: int = Field(
        default=10, ge=1, description="Deliveries without an outcome before an event is parked as a dead letter."
    )
    outbox_retention_seconds: float = Field(default=7 * 24 * 3600, ge=0)
    idempotency_retention_seconds: float = Field(
        default=7 * 24 * 3600, ge=0, description="Idempotency keys are forgotten after this long."
    )
    gc_tuning: bool = Field(
        default=True,
        description="isles up/serve: after start, freeze what start-up built and collect garbage less often.",
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
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body a service accepts (413 above), bytes."
    )
    state_file: Path = Field(
        default=Path(".isles/current.json"),
        description="Where `isles up` records where its system lives (data, keys, URL); the other commands "
        "read it when not told otherwise.",
    )
    log_format: Literal["console", "json"] = Field(default="console", description="How log lines are written.")
    log_level: Literal["debug", "info", "warning", "error"] | None = Field(
        default=None,
        description="The least severe log lines written (`--log-level`; default: warning for "
        "`isles up`, info for `isles serve`).",
    )
    failpoints: str = Field(
        default="", description="Fault injection for tests: name=kill|raise[:N]|refuse|sleep:S,... (docs/testing.md)."
    )

    nats: NatsSettings = NatsSettings()
    relay: RelaySettings = RelaySettings()
    consumer: ConsumerSettings = ConsumerSettings()
    retry: RetrySettings = RetrySettings()
    saga: SagaSettings = SagaSettings()
    client: ClientSettings = ClientSettings()
    breaker: BreakerSettings = BreakerSettings()
    login: LoginSettings = LoginSettings()
    password: PasswordSettings = PasswordSettings()
    mail: MailSettings = MailSettings()
    smtp: SmtpSettings = SmtpSettings()
    blobs: BlobSettings = BlobSettings()
    audit: AuditSettings = AuditSettings()
    pool: PoolSettings = PoolSettings()
    jobs: JobSettings = JobSettings()
    cache: CacheSettings = CacheSettings()
    tracing: TracingSettings = TracingSettings()

    @model_validator(mode="before")
    @classmethod
    def _fold(cls, data: Any) -> Any:
        """``relay_batch_size=50`` (a flag, a test) is ``relay={"batch_size": 50}``;
        given both, the flat name wins."""
        if not isinstance(data, dict):
            return data
        out = {k: (_as_dict(v) if k in GROUPS else v) for k, v in data.items() if _flat(cls, k) is None}
        for key, value in data.items():
            split = _flat(cls, key)
            if split is not None:
                group, rest = split
                out[group] = {**(out.get(group) or {}), rest: value}
        return out

    def below(self, recorded: Mapping[str, Any]) -> IslesSettings:
        """These settings, with ``recorded`` values (what ``isles up`` wrote in the state
        file) for the fields neither the environment nor a flag set."""
        unset = {k: v for k, v in recorded.items() if k in type(self).model_fields and k not in self.model_fields_set}
        return self.but(**unset) if unset else self

    def but(self, **changes: Any) -> IslesSettings:
        """These settings with ``changes`` (flat names too: ``relay_enabled=False``), validated."""
        return type(self)(**{**self.model_dump(by_alias=True), **changes})


def _flat(cls: type[BaseSettings], key: str) -> tuple[str, str] | None:
    """``("relay", "batch_size")`` for ``relay_batch_size``; None for any other key."""
    group, _, rest = key.partition("_")
    if key in cls.model_fields or group not in GROUPS or not rest:
        return None
    return group, rest


def _as_dict(value: Any) -> Any:
    return value.model_dump(by_alias=True, exclude_unset=True) if isinstance(value, BaseModel) else value


class ServiceEnvironment:
    """The variables named after a service or a peer, read from ``environ``:
    ``ISLES_<SERVICE>_DATABASE_URL``, ``ISLES_<SERVICE>_MIGRATOR_URL``,
    ``ISLES_<SERVICE>_READER_URL``,
    ``ISLES_<SERVICE>_POOL_<FIELD>`` and ``ISLES_<NAME>_URL`` (where another service
    answers)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._env = dict(os.environ if environ is None else environ)

    def database_url(self, service: str) -> str | None:
        return self._env.get(f"ISLES_{service.upper()}_DATABASE_URL") or None

    def migrator_url(self, service: str) -> str | None:
        """``ISLES_<SERVICE>_MIGRATOR_URL``: the role that owns the service's schema
        (``isles db provision`` writes it to ``<service>.migrator.env``); migrations
        run as it, the service does not."""
        return self._env.get(f"ISLES_{service.upper()}_MIGRATOR_URL") or None

    def reader_url(self, service: str) -> str | None:
        """``ISLES_<SERVICE>_READER_URL``: the service's read-only role (``isles db
        provision`` writes it to ``<service>.reader.env``); ``isles audit`` reads as it."""
        return self._env.get(f"ISLES_{service.upper()}_READER_URL") or None

    def pool(self, service: str, base: PoolSettings) -> PoolSettings:
        """``base`` with the service's own ``ISLES_<SERVICE>_POOL_*``; ValueError naming
        the variable when one is not a number in range."""
        prefix = f"ISLES_{service.upper()}_POOL_"
        changes = {n: raw for n in PoolSettings.model_fields if (raw := self._env.get(prefix + n.upper())) is not None}
        try:
            return PoolSettings.model_validate({**base.model_dump(), **changes}) if changes else base
        except ValidationError as exc:
            first = exc.errors()[0]
            name = str(first["loc"][0])
            raise ValueError(f"{prefix}{name.upper()}={changes.get(name)!r}: {first['msg'].lower()}") from exc

    def peer_urls(self, names: Iterable[str]) -> dict[str, str]:
        """``ISLES_<NAME>_URL`` of each of ``names`` that has one."""
        return {n: url for n in names if (url := self._env.get(f"ISLES_{n.upper()}_URL"))}

    def set_database_url(self, service: str, url: str) -> None:
        """As if ``ISLES_<SERVICE>_DATABASE_URL`` were ``url`` (a flag says so)."""
        self._env[f"ISLES_{service.upper()}_DATABASE_URL"] = url

    def set_peer_url(self, name: str, url: str) -> None:
        """As if ``ISLES_<NAME>_URL`` were ``url`` (a flag says so)."""
        self._env[f"ISLES_{name.upper()}_URL"] = url

    @property
    def environ(self) -> dict[str, str]:
        """The variables, with what the setters changed (for a runtime's ``environ``)."""
        return dict(self._env)


__all__ = [
    "GROUPS",
    "BreakerSettings",
    "ClientSettings",
    "ConsumerSettings",
    "IslesSettings",
    "LoginSettings",
    "MailSettings",
    "NatsSettings",
    "PoolSettings",
    "RelaySettings",
    "RetrySettings",
    "SagaSettings",
    "ServiceEnvironment",
    "SmtpSettings",
    "TracingSettings",
]
