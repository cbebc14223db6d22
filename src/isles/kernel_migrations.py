"""The kernel tables' own schema steps, for every service's Alembic history.

Each service database carries the kernel tables (outbox, inbox, dead letters). Their
schema belongs to the platform, so a service's migrations call these steps instead
of spelling the tables out::

    from isles import kernel_migrations as kernel

    def upgrade() -> None:
        kernel.upgrade(1)      # in the service's first revision
        ...

    def downgrade() -> None:
        ...
        kernel.downgrade(1)

A later kernel change (``kernel.upgrade(2)``) is one short revision in each service.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from isles.schema import DEAD_LETTERS, INBOX, OUTBOX, UTCDateTime

_UNPUBLISHED = sa.text("published_at IS NULL")


def _v1_up() -> None:
    op.create_table(
        DEAD_LETTERS,
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("aggregate_id", sa.String(length=100), nullable=False),
        sa.Column("aggregate_version", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("traceback", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_isles_dead_letters"),
    )
    op.create_index("idx_isles_dead_letters_event_id", DEAD_LETTERS, ["event_id"])
    op.create_table(
        INBOX,
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("aggregate_id", sa.String(length=100), nullable=False),
        sa.Column("aggregate_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("processed_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_isles_inbox_events"),
    )
    op.create_index("idx_isles_inbox_events_processed_at", INBOX, ["processed_at"])
    op.create_table(
        OUTBOX,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("aggregate_type", sa.String(length=100), nullable=False),
        sa.Column("aggregate_id", sa.String(length=100), nullable=False),
        sa.Column("aggregate_version", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_isles_outbox_events"),
        sa.UniqueConstraint("event_id", name="uq_isles_outbox_events_event_id"),
    )
    op.create_index("idx_isles_outbox_events_published_at", OUTBOX, ["published_at"])
    op.create_index(
        "idx_isles_outbox_events_unpublished",
        OUTBOX,
        ["id"],
        postgresql_where=_UNPUBLISHED,
        sqlite_where=_UNPUBLISHED,
    )


def _v1_down() -> None:
    op.drop_table(OUTBOX)
    op.drop_table(INBOX)
    op.drop_table(DEAD_LETTERS)


def _v2_up() -> None:
    """Relay claims: several relays share an outbox by leasing rows."""
    with op.batch_alter_table(OUTBOX) as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("claimed_until", UTCDateTime(timezone=True), nullable=True))
    op.create_index(
        "idx_isles_outbox_events_aggregate_unpublished",
        OUTBOX,
        ["aggregate_type", "aggregate_id", "id"],
        postgresql_where=_UNPUBLISHED,
        sqlite_where=_UNPUBLISHED,
    )


def _v2_down() -> None:
    op.drop_index("idx_isles_outbox_events_aggregate_unpublished", table_name=OUTBOX)
    with op.batch_alter_table(OUTBOX) as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")


_STEPS: dict[int, tuple[Callable[[], None], Callable[[], None]]] = {1: (_v1_up, _v1_down), 2: (_v2_up, _v2_down)}
LATEST = max(_STEPS)


def upgrade(version: int) -> None:
    """Apply kernel schema step ``version`` (1 creates the kernel tables)."""
    _STEPS[version][0]()


def downgrade(version: int) -> None:
    """Revert kernel schema step ``version``."""
    _STEPS[version][1]()
