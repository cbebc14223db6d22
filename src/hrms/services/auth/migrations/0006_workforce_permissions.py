"""Permissions of the leave, presence and tasks services

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 22:40:00

Issue 17: the permission matrix grows to cover the workforce services (leave,
presence, tasks). Seeded like 0002's: fixed ids (uuid5 of the name), each role's
grants as ``hrms.contracts.permissions.MATRIX`` holds them.
"""
import uuid

from alembic import op
import sqlalchemy as sa

import isles

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_A, _M, _E = "admin", "manager", "employee"
_MATRIX = {
    "leave:read": ('Read leave types, calendars, balances and requests (an employee: their own)', (_A, _M, _E)),
    "leave:request": ("Request leave and cancel one's own requests", (_A, _M, _E)),
    "leave:approve": ("Approve or reject leave requests (a manager: their reports')", (_A, _M)),
    "leave:manage": ('Manage leave types, work weeks, holidays, allocations and adjustments; run accruals', (_A,)),
    "presence:read": ("Read check-ins and attendance (an employee: their own; a manager: their reports')", (_A, _M, _E)),
    "presence:checkin": ('Check in and out (oneself) by web, mobile or NFC tag', (_A, _M, _E)),
    "presence:manage": ('Manage places, NFC tags, shifts and their assignments; correct check-ins; compute days', (_A,)),
    "tasks:read": ('Read tasks (an employee: those they created or are assigned)', (_A, _M, _E)),
    "tasks:write": ('Create, assign and progress tasks (an employee: those they created or are assigned)', (_A, _M, _E)),
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
