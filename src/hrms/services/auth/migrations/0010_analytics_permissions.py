"""Permissions of the analytics service

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 20:30:00

Issue 23: reports:read (admin: the company's figures; manager: their department's) and
reports:write (admin: report definitions, schedules, rebuilds). Seeded like 0006's:
fixed ids (uuid5 of the name), each role's grants as
``hrms.contracts.permissions.MATRIX`` holds them.
"""
import uuid

from alembic import op
import sqlalchemy as sa

import isles

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_A, _M, _E = "admin", "manager", "employee"
_MATRIX = {
    "reports:read": ("Read headcount, turnover, leave and other figures (a manager: their department's)", (_A, _M)),
    "reports:write": ("Define, schedule and run reports; rebuild the analytics read models", (_A,)),
}
_NS = uuid.UUID("0f8a4c8e-8d2e-4a55-9b7e-5b1f3c2d7a10")  # 0002's


def upgrade() -> None:
    permissions = sa.table(
        "permissions",
        sa.column("id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("description", sa.String()),
        sa.column("created_at", isles.UTCDateTime(timezone=True)),
    )
    role_permissions = sa.table("role_permissions", sa.column("role_id", sa.Uuid()), sa.column("permission_id", sa.Uuid()))
    now = isles.utcnow()
    perm_ids = {name: uuid.uuid5(_NS, f"permission:{name}") for name in _MATRIX}
    op.bulk_insert(
        permissions, [{"id": perm_ids[n], "name": n, "description": d, "created_at": now} for n, (d, _r) in _MATRIX.items()]
    )
    op.bulk_insert(
        role_permissions,
        [
            {"role_id": uuid.uuid5(_NS, f"role:{r}"), "permission_id": perm_ids[p]}
            for p, (_d, holders) in _MATRIX.items()
            for r in holders
        ],
    )


def downgrade() -> None:
    ids = [uuid.uuid5(_NS, f"permission:{name}") for name in _MATRIX]
    for pid in ids:
        op.execute(sa.text("DELETE FROM role_permissions WHERE permission_id = :p").bindparams(sa.bindparam("p", pid, type_=sa.Uuid())))
        op.execute(sa.text("DELETE FROM permissions WHERE id = :p").bindparams(sa.bindparam("p", pid, type_=sa.Uuid())))
