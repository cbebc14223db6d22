"""managers and profiles

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 16:02:20.041220
"""
from alembic import op
import sqlalchemy as sa
import isles


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('employee_profiles',
    sa.Column('employee_id', sa.Uuid(), nullable=False),
    sa.Column('company_id', sa.Uuid(), nullable=False),
    sa.Column('date_of_birth', sa.Date(), nullable=True),
    sa.Column('gender', sa.String(length=20), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('emergency_contact_name', sa.String(length=100), nullable=True),
    sa.Column('emergency_contact_phone', sa.String(length=50), nullable=True),
    sa.Column('skills', isles.StringList(), nullable=False),
    sa.Column('certifications', isles.StringList(), nullable=False),
    sa.Column('created_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_employee_profiles_employee_id_employees'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('employee_id', name=op.f('pk_employee_profiles'))
    )
    with op.batch_alter_table('employee_profiles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('idx_employee_profiles_company_id'), ['company_id'], unique=False)

    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.add_column(sa.Column('manager_id', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('idx_employees_manager_id'), ['manager_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_employees_manager_id_employees'), 'employees', ['manager_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_employees_manager_id_employees'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('idx_employees_manager_id'))
        batch_op.drop_column('manager_id')

    with op.batch_alter_table('employee_profiles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('idx_employee_profiles_company_id'))

    op.drop_table('employee_profiles')
