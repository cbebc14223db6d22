"""employee copies know their user

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 16:39:53.625302
"""
from alembic import op
import sqlalchemy as sa
import isles


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('employee_copies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_id', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('idx_employee_copies_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('employee_copies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('idx_employee_copies_user_id'))
        batch_op.drop_column('user_id')

