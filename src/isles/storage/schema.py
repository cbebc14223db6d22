"""Kernel tables that live in every service's own database, and shared column types.

Every service database carries the same kernel tables: the outbox (events written
with the change that caused them), the inbox (events this service has already
applied), the dead letters (events it gave up on, with the error), the sagas this
service orchestrates with their steps, and the idempotency keys of the requests it
has answered.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
    Uuid,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from isles.core.clock import utcnow

#: Naming convention for every service's metadata: constraint and index names
#: are stable across SQLite and PostgreSQL, so migrations compare cleanly.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "idx_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

OUTBOX = "isles_outbox_events"
INBOX = "isles_inbox_events"
DEAD_LETTERS = "isles_dead_letters"
SAGAS = "isles_sagas"
SAGA_STEPS = "isles_saga_steps"
IDEMPOTENCY_KEYS = "isles_idempotency_keys"
KERNEL_TABLES = (OUTBOX, INBOX, DEAD_LETTERS, SAGAS, SAGA_STEPS, IDEMPOTENCY_KEYS)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp on every backend (SQLite stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class LowerCase(TypeDecorator[str]):
    """A string kept lower-case, its surrounding whitespace stripped: an email address
    the service compares as its API gives it (``to_lower``). Whatever writes the column
    — the service, ``isles split run`` from a monolith's ``Ada@Example.COM``, a repair —
    stores the one form, and a query comparing with it (``User.email == given``) compares
    that form too. ``VARCHAR(length)``, as ``String(length)``."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else str(value).strip().lower()


class StringList(TypeDecorator[list[str]]):
    """A list of strings: ``TEXT[]`` on PostgreSQL (seed 001's ``skills TEXT[]``), a
    JSON array on SQLite. Always a list in Python (never None for an empty one)."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(Text()))
        return dialect.type_descriptor(JSON())

    def process_bind_param(self, value: list[str] | None, dialect: Dialect) -> list[str] | None:
        return None if value is None else [str(v) for v in value]

    def process_result_value(self, value: Any, dialect: Dialect) -> list[str]:
        return [] if value is None else list(value)


class Money(TypeDecorator[Decimal]):
    """A sum of money, exact: ``NUMERIC(12, 2)`` on PostgreSQL; on SQLite (whose
    ``NUMERIC`` stores a fraction as a binary float) an integer count of cents, which
    sorts, compares and sums exactly. Always a :class:`~decimal.Decimal` with two
    places in Python; a value with more than two places is refused, never rounded.
    Do sums of money in Python or with ``SUM`` of the column (typed: converted back);
    an expression mixing it with other numbers in SQL is not converted back."""

    impl = Numeric(12, 2)
    cache_ok = True
    _CENT = Decimal("0.01")

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(12, 2, asdecimal=True))

    def process_bind_param(self, value: Decimal | int | str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money must be a Decimal, never a float")
        amount = Decimal(value)
        if amount != amount.quantize(self._CENT):
            raise ValueError(f"{amount} has more than two decimal places")
        if dialect.name == "sqlite":
            return int(amount * 100)
        return amount.quantize(self._CENT)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / 100).quantize(self._CENT)
        return Decimal(value).quantize(self._CENT)

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal

    def __repr__(self) -> str:  # as a revision writes it: isles.Money()
        return "Money()"


# The column types a service's models use; the ``isles`` facade names each, and a new
# migration revision writes them as ``isles.<Type>()``.
COLUMN_TYPES: tuple[type[TypeDecorator[Any]], ...] = (UTCDateTime, StringList, Money)


def new_metadata() -> MetaData:
    """A service's metadata: our naming convention plus the kernel tables."""
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    add_kernel_tables(metadata)
    return metadata


# SQLite only auto-increments an INTEGER PRIMARY KEY, so the outbox position is
# BIGINT on PostgreSQL and INTEGER on SQLite.
_Position = BigInteger().with_variant(Integer(), "sqlite")


def add_kernel_tables(metadata: MetaData) -> None:
    Table(
        OUTBOX,
        metadata,
        Column("id", _Position, primary_key=True, autoincrement=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("event_type", String(200), nullable=False),
        Column("aggregate_type", String(100), nullable=False),
        Column("aggregate_id", String(100), nullable=False),
        Column("aggregate_version", Integer, nullable=False),
        Column("tenant_id", String(100), nullable=False, default=""),
        Column("payload", Text, nullable=False),
        Column("created_at", UTCDateTime, nullable=False, default=utcnow),
        Column("published_at", UTCDateTime, nullable=True),
        # Relay claims (PostgreSQL): which relay leased the row, and until when.
        Column("claimed_by", String(64), nullable=True),
        Column("claimed_until", UTCDateTime, nullable=True),
        Index(
            "idx_isles_outbox_events_aggregate_unpublished",
            "aggregate_type",
            "aggregate_id",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
        Index(
            "idx_isles_outbox_events_unpublished",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
        Index("idx_isles_outbox_events_published_at", "published_at"),
    )
    Table(
        INBOX,
        metadata,
        Column("event_id", Uuid, primary_key=True),
        Column("event_type", String(200), nullable=False),
        Column("source", String(200), nullable=False),
        Column("aggregate_id", String(100), nullable=False),
        Column("aggregate_version", Integer, nullable=False),
        Column("status", String(20), nullable=False),
        Column("processed_at", UTCDateTime, nullable=False, default=utcnow),
        Index("idx_isles_inbox_events_processed_at", "processed_at"),
    )
    Table(
        DEAD_LETTERS,
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("event_id", Uuid, nullable=False, index=True),
        Column("event_type", String(200), nullable=False),
        Column("aggregate_id", String(100), nullable=False),
        Column("aggregate_version", Integer, nullable=False),
        Column("payload", Text, nullable=False),
        Column("error", Text, nullable=False),
        Column("traceback", Text, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("first_failed_at", UTCDateTime, nullable=False),
        Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    )
    _add_saga_tables(metadata)
    Table(
        IDEMPOTENCY_KEYS,
        metadata,
        # The caller's Idempotency-Key; its first answer is kept and given again.
        Column("key", String(200), primary_key=True),
        Column("fingerprint", String(64), nullable=False),  # sha256 of method, path and body
        Column("status", String(20), nullable=False),  # completed | fenced
        Column("response_status", Integer, nullable=True),
        Column("response_body", Text, nullable=True),
        Column("response_headers", Text, nullable=True),
        Column("created_at", UTCDateTime, nullable=False, default=utcnow),
        Index("idx_isles_idempotency_keys_created_at", "created_at"),
    )


def _add_saga_tables(metadata: MetaData) -> None:
    Table(
        SAGAS,
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("saga_type", String(200), nullable=False),
        Column("status", String(20), nullable=False),
        Column("current_step", Integer, nullable=False),
        Column("data", Text, nullable=False),  # the saga's input, JSON
        Column("error", Text, nullable=True),  # why it failed: a problem document, JSON
        Column("tenant_id", String(100), nullable=False, default=""),
        # Which process drives it, until when (renewed while it does).
        Column("owner", String(64), nullable=True),
        Column("lease_until", UTCDateTime, nullable=True),
        Column("wake_at", UTCDateTime, nullable=True),  # a deferred step's deadline
        Column("version", Integer, nullable=False),  # grows with each write: a driver that lost its lease notices
        Column("created_at", UTCDateTime, nullable=False, default=utcnow),
        Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
        Column("finished_at", UTCDateTime, nullable=True),
        Index("idx_isles_sagas_status_updated_at", "status", "updated_at"),
        Index("idx_isles_sagas_saga_type_created_at", "saga_type", "created_at"),
    )
    Table(
        SAGA_STEPS,
        metadata,
        Column("saga_id", Uuid, ForeignKey(f"{SAGAS}.id", ondelete="CASCADE"), primary_key=True),
        Column("position", Integer, primary_key=True),
        Column("name", String(100), nullable=False),
        Column("status", String(20), nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("result", Text, nullable=True),  # JSON
        Column("error", Text, nullable=True),
        Column("compensation_attempts", Integer, nullable=False),
        Column("compensation_error", Text, nullable=True),
        # A deferred step's callback capability: random, the same for every attempt of
        # the step (a retried request must be the same request); it answers only a
        # step that is waiting.
        Column("callback_token", String(64), nullable=True),
        Column("started_at", UTCDateTime, nullable=True),
        Column("finished_at", UTCDateTime, nullable=True),
        Column("compensated_at", UTCDateTime, nullable=True),
    )


#: The kernel tables as one declaration, for queries. Each service's own metadata
#: carries identical copies (see :func:`new_metadata`) for its migrations.
KERNEL_METADATA = MetaData(naming_convention=NAMING_CONVENTION)
add_kernel_tables(KERNEL_METADATA)
outbox_table = KERNEL_METADATA.tables[OUTBOX]
inbox_table = KERNEL_METADATA.tables[INBOX]
dead_letters_table = KERNEL_METADATA.tables[DEAD_LETTERS]
sagas_table = KERNEL_METADATA.tables[SAGAS]
saga_steps_table = KERNEL_METADATA.tables[SAGA_STEPS]
idempotency_table = KERNEL_METADATA.tables[IDEMPOTENCY_KEYS]
