"""Sensitive employee fields encrypted

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 19:59:34.815169

Issue 16, finding 5: salary, date of birth, address and emergency contacts are
stored as AES-GCM ciphertext (isles.Encrypted), so their columns become TEXT. Values
already there stay readable as they are until `isles keys rotate-data --service
employee` encrypts them (docs/security.md, "Field encryption").
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_COLUMNS = {
    'employees': [('salary', sa.NUMERIC(precision=10, scale=2))],
    'employee_profiles': [
        ('date_of_birth', sa.DATE()),
        ('address', sa.TEXT()),
        ('emergency_contact_name', sa.VARCHAR(length=100)),
        ('emergency_contact_phone', sa.VARCHAR(length=50)),
    ],
}


def upgrade() -> None:
    for table, columns in _COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, before in columns:
                if isinstance(before, sa.TEXT):
                    continue  # already TEXT: its values are encrypted as they are written
                batch_op.alter_column(
                    name, existing_type=before, type_=sa.Text(), existing_nullable=True, postgresql_using=f'{name}::text'
                )


def downgrade() -> None:
    # Back to plain types: refused (a cast error) while a column holds ciphertext;
    # decrypt first (there is no command for that: restore from a backup instead).
    for table, columns in _COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, before in columns:
                if isinstance(before, sa.TEXT):
                    continue
                cast = before.compile(dialect=op.get_bind().dialect)
                batch_op.alter_column(
                    name, existing_type=sa.Text(), type_=before, existing_nullable=True, postgresql_using=f'{name}::{cast}'
                )
