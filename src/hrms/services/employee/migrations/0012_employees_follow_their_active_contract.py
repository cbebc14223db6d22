"""employees follow their active contract; employees announced to the contract service

Issue 19: the contract service's ContractActivated/ContractChanged set an employee's
position and salary; ``contract_id`` names the active contract (a PATCH of position
or salary is refused meanwhile), ``contract_start`` and ``contract_version`` the
contract last applied (an older contract's event never overwrites a newer one's).

The contract service keeps a copy of the employees (``contract_employees``) from
employee events; employees made before it existed were never announced to it, so
this writes an EmployeeUpdated (no change, the current version, the whole replicated
state) per employee to the outbox, as revision 0010 did for the workforce services.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 04:14:33.074881
"""
import uuid

from alembic import op
import sqlalchemy as sa
import isles

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def _id(value: object) -> str | None:
    """A UUID as text (SQLite hands back its 32 hex digits)."""
    return None if value is None else str(uuid.UUID(str(value)))


def _announce() -> None:
    isles.all_tenants()
    rows = op.get_bind().execute(
        sa.text(
            "SELECT id, employee_id, company_id, user_id, first_name, last_name, email, position, "
            "department_id, manager_id, is_active, version FROM employees WHERE NOT pending ORDER BY created_at, id"
        )
    ).all()
    isles.announce(
        service="employee",
        event_type="employee.EmployeeUpdated",
        aggregate_type="employee",
        schema_version=2,
        records=[
            (
                _id(r.id),
                r.version,
                _id(r.company_id),
                {
                    "id": _id(r.id),
                    "first_name": r.first_name,
                    "last_name": r.last_name,
                    "email": r.email,
                    "is_active": bool(r.is_active),
                    "employee_number": r.employee_id,
                    "company_id": _id(r.company_id),
                    "position": r.position,
                    "department_id": _id(r.department_id),
                    "user_id": _id(r.user_id),
                    "manager_id": _id(r.manager_id),
                    "changes": [],
                },
            )
            for r in rows
        ],
    )


def upgrade() -> None:
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.add_column(sa.Column('contract_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('contract_start', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('contract_version', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('idx_employees_contract_id'), ['contract_id'], unique=False)
    # The change history (0011) keeps every column of the table.
    with op.batch_alter_table('employees_history', schema=None) as batch_op:
        batch_op.add_column(sa.Column('contract_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('contract_start', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('contract_version', sa.Integer(), nullable=True))
    _announce()


# The announcement is not taken back (the copies keep what they learned); the columns go.
def downgrade() -> None:
    with op.batch_alter_table('employees_history', schema=None) as batch_op:
        batch_op.drop_column('contract_version')
        batch_op.drop_column('contract_start')
        batch_op.drop_column('contract_id')
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('idx_employees_contract_id'))
        batch_op.drop_column('contract_version')
        batch_op.drop_column('contract_start')
        batch_op.drop_column('contract_id')
