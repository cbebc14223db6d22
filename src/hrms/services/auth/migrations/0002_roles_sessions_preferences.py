"""roles, permissions (the seeded matrix), user_roles, sessions, user_preferences;
users gain pending and login throttling

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
import uuid

from alembic import op
import sqlalchemy as sa
import isles

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Frozen copy of hrms.contracts.permissions as of this revision (a migration never
# imports code that may change after it).
_ROLES = {
    "admin": "Administers one company: its users, structure, employees and projects.",
    "manager": "Leads a team or department: manages its people and projects.",
    "employee": "Sees the company, their own record and their own assignments.",
}
_A, _M, _E = "admin", "manager", "employee"
_MATRIX = {
    "companies:read": ("Read the own company, its settings, departments and teams", (_A, _M, _E)),
    "companies:write": ("Change the own company, its settings, departments and teams", (_A,)),
    "teams:write": ("Change team memberships", (_A, _M)),
    "users:read": ("Read the company's users", (_A, _M)),
    "users:write": ("Create (sign up), change and deactivate users", (_A,)),
    "roles:assign": ("Give users roles", (_A,)),
    "sessions:revoke": ("Revoke other users' sessions", (_A,)),
    "employees:read": ("Read employees (an employee: only themself)", (_A, _M, _E)),
    "employees:write": ("Create, change and deactivate employees (a manager: their team's)", (_A, _M)),
    "profiles:write": ("Change employee profiles (an employee: their own)", (_A, _M, _E)),
    "projects:read": ("Read projects", (_A, _M, _E)),
    "projects:write": ("Create, change and complete projects", (_A, _M)),
    "assignments:read": ("Read assignments (an employee: their own)", (_A, _M, _E)),
    "assignments:write": ("Assign employees to projects and remove them", (_A, _M)),
    "notifications:read": ("Read notifications (an employee: their own)", (_A, _M, _E)),
    "templates:write": ("Change notification templates", (_A,)),
    "sagas:read": ("Read the company's sagas", (_A,)),
    "sagas:retry": ("Retry a saga (an operator's go-ahead)", (_A,)),
}
_NS = uuid.UUID("0f8a4c8e-8d2e-4a55-9b7e-5b1f3c2d7a10")


def _ts() -> sa.Column:
    return sa.Column("created_at", isles.UTCDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("pending", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("locked_until", isles.UTCDateTime(timezone=True), nullable=True))
    roles = op.create_table(
        "roles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        _ts(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roles")),
        sa.UniqueConstraint("name", name=op.f("uq_roles_name")),
    )
    permissions = op.create_table(
        "permissions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        _ts(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permissions")),
        sa.UniqueConstraint("name", name=op.f("uq_permissions_name")),
    )
    role_permissions = op.create_table(
        "role_permissions",
        sa.Column("role_id", sa.Uuid(), nullable=False),
        sa.Column("permission_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["role_id"], ["roles.id"], name=op.f("fk_role_permissions_role_id_roles"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["permission_id"], ["permissions.id"], name=op.f("fk_role_permissions_permission_id_permissions"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("role_id", "permission_id", name=op.f("pk_role_permissions")),
    )
    op.create_index(op.f("idx_role_permissions_permission_id"), "role_permissions", ["permission_id"], unique=False)
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("assigned_at", isles.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_roles_user_id_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["role_id"], ["roles.id"], name=op.f("fk_user_roles_role_id_roles"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "role_id", name=op.f("pk_user_roles")),
    )
    op.create_index(op.f("idx_user_roles_role_id"), "user_roles", ["role_id"], unique=False)
    op.create_index(op.f("idx_user_roles_company_id"), "user_roles", ["company_id"], unique=False)
    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=255), nullable=False),
        sa.Column("expires_at", isles.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", isles.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", isles.UTCDateTime(timezone=True), nullable=True),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        _ts(),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_sessions_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sessions_token_hash")),
    )
    op.create_index("idx_sessions_expires_at", "sessions", ["expires_at"], unique=False)
    op.create_index(op.f("idx_sessions_user_id"), "sessions", ["user_id"], unique=False)
    op.create_index(op.f("idx_sessions_company_id"), "sessions", ["company_id"], unique=False)
    op.create_table(
        "user_preferences",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("email_notifications", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("theme", sa.String(length=20), server_default="light", nullable=False),
        _ts(),
        sa.Column("updated_at", isles.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_preferences_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_preferences")),
        sa.UniqueConstraint("user_id", name=op.f("uq_user_preferences_user_id")),
    )
    op.create_index(op.f("idx_user_preferences_company_id"), "user_preferences", ["company_id"], unique=False)
    now = isles.utcnow()
    role_ids = {name: uuid.uuid5(_NS, f"role:{name}") for name in _ROLES}
    perm_ids = {name: uuid.uuid5(_NS, f"permission:{name}") for name in _MATRIX}
    op.bulk_insert(roles, [{"id": role_ids[n], "name": n, "description": d, "created_at": now} for n, d in _ROLES.items()])
    op.bulk_insert(
        permissions, [{"id": perm_ids[n], "name": n, "description": d, "created_at": now} for n, (d, _r) in _MATRIX.items()]
    )
    op.bulk_insert(
        role_permissions,
        [{"role_id": role_ids[r], "permission_id": perm_ids[p]} for p, (_d, holders) in _MATRIX.items() for r in holders],
    )
    # Users made before this revision keep working as employees.
    op.execute(
        sa.text(
            "INSERT INTO user_roles (user_id, role_id, company_id, assigned_at) "
            "SELECT id, :role, company_id, created_at FROM users"
        ).bindparams(sa.bindparam("role", role_ids["employee"], type_=sa.Uuid()))
    )
    op.execute(
        sa.text(
            "INSERT INTO user_preferences (id, user_id, company_id, email_notifications, theme, created_at, updated_at) "
            "SELECT id, id, company_id, :t, 'light', created_at, created_at FROM users"
        ).bindparams(sa.bindparam("t", True, type_=sa.Boolean()))
    )


def downgrade() -> None:
    op.drop_table("user_preferences")
    op.drop_table("sessions")
    op.drop_table("user_roles")
    op.drop_table("role_permissions")
    op.drop_table("permissions")
    op.drop_table("roles")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("locked_until")
        batch.drop_column("failed_logins")
        batch.drop_column("pending")
