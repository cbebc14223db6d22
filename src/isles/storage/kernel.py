"""The kernel tables' schema steps: outbox, inbox, dead letters, sagas, saga steps,
idempotency keys -- the same in every service database.

Their history is the platform's (``isles/storage/histories/kernel/``, one revision per
step, its position in ``isles_kernel_version``); ``isles migrate`` runs it before the
service's own. A kernel change is a new step here and one revision there; services
write nothing for it.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from isles.storage.schema import DEAD_LETTERS, IDEMPOTENCY_KEYS, INBOX, OUTBOX, SAGA_STEPS, SAGAS, UTCDateTime

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


def _v3_up() -> None:
    """Sagas this service orchestrates, and the idempotency keys of requests it answered."""
    op.create_table(
        SAGAS,
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("saga_type", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("current_step", sa.Integer(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("tenant_id", sa.String(length=100), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", UTCDateTime(timezone=True), nullable=True),
        sa.Column("wake_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_isles_sagas"),
    )
    op.create_index("idx_isles_sagas_status_updated_at", SAGAS, ["status", "updated_at"])
    op.create_index("idx_isles_sagas_saga_type_created_at", SAGAS, ["saga_type", "created_at"])
    op.create_table(
        SAGA_STEPS,
        sa.Column("saga_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("compensation_attempts", sa.Integer(), nullable=False),
        sa.Column("compensation_error", sa.Text(), nullable=True),
        sa.Column("callback_token", sa.String(length=64), nullable=True),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("compensated_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["saga_id"], [f"{SAGAS}.id"], name="fk_isles_saga_steps_saga_id_isles_sagas", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("saga_id", "position", name="pk_isles_saga_steps"),
    )
    op.create_table(
        IDEMPOTENCY_KEYS,
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("response_headers", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_isles_idempotency_keys"),
    )
    op.create_index("idx_isles_idempotency_keys_created_at", IDEMPOTENCY_KEYS, ["created_at"])


def _v3_down() -> None:
    op.drop_table(IDEMPOTENCY_KEYS)
    op.drop_table(SAGA_STEPS)
    op.drop_table(SAGAS)


_STEPS: dict[int, tuple[Callable[[], None], Callable[[], None]]] = {
    1: (_v1_up, _v1_down),
    2: (_v2_up, _v2_down),
    3: (_v3_up, _v3_down),
}


def upgrade(version: int) -> None:
    """Apply kernel schema step ``version`` (1 creates the kernel tables)."""
    _STEPS[version][0]()


def downgrade(version: int) -> None:
    """Revert kernel schema step ``version``."""
    _STEPS[version][1]()
