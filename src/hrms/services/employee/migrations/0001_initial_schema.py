"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa
import isles

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None



def upgrade() -> None:
    op.create_table('employees',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('employee_id', sa.String(length=50), nullable=False),
    sa.Column('company_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=255), nullable=False),
    sa.Column('phone', sa.String(length=50), nullable=True),
    sa.Column('position', sa.String(length=100), nullable=True),
    sa.Column('department_id', sa.Uuid(), nullable=True),
    sa.Column('hire_date', sa.Date(), nullable=False),
    sa.Column('salary', sa.Numeric(precision=10, scale=2), nullable=True),
    sa.Column('is_active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_employees')),
    sa.UniqueConstraint('email', name=op.f('uq_employees_email')),
    sa.UniqueConstraint('employee_id', name=op.f('uq_employees_employee_id'))
    )
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('idx_employees_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('idx_employees_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('idx_employees_user_id'), ['user_id'], unique=False)



def downgrade() -> None:

    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('idx_employees_user_id'))
        batch_op.drop_index(batch_op.f('idx_employees_department_id'))
        batch_op.drop_index(batch_op.f('idx_employees_company_id'))

    op.drop_table('employees')
