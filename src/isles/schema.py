"""Kernel tables that live in every service's own database, and shared column types.

Every service database carries the same three kernel tables: the outbox (events
written with the change that caused them), the inbox (events this service has
already applied) and the dead letters (events it gave up on, with the error).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    Uuid,
    text,
)
from sqlalchemy.engine import Dialect

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
KERNEL_TABLES = (OUTBOX, INBOX, DEAD_LETTERS)


def utcnow() -> datetime:
    return datetime.now(UTC)


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


#: The kernel tables as one declaration, for queries. Each service's own metadata
#: carries identical copies (see :func:`new_metadata`) for its migrations.
KERNEL_METADATA = MetaData(naming_convention=NAMING_CONVENTION)
add_kernel_tables(KERNEL_METADATA)
outbox_table = KERNEL_METADATA.tables[OUTBOX]
inbox_table = KERNEL_METADATA.tables[INBOX]
dead_letters_table = KERNEL_METADATA.tables[DEAD_LETTERS]
