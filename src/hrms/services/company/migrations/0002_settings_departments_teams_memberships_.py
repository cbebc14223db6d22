"""settings, departments, teams, memberships, employee copies

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 16:02:18.205362
"""
from alembic import op
import sqlalchemy as sa
import isles


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('employee_copies',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('company_id', sa.Uuid(), nullable=True),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('department_id', sa.Uuid(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_employee_copies'))
    )
    with op.batch_alter_table('employee_copies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('idx_employee_copies_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('idx_employee_copies_user_id'), ['user_id'], unique=False)

    op.create_table('company_settings',
    sa.Column('company_id', sa.Uuid(), nullable=False),
    sa.Column('setting_key', sa.String(length=100), nullable=False),
    sa.Column('setting_value', sa.Text(), nullable=True),
    sa.Column('created_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_company_settings_company_id_companies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('company_id', 'setting_key', name=op.f('pk_company_settings'))
    )
    op.create_table('departments',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('company_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('manager_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_departments_company_id_companies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_departments')),
    sa.UniqueConstraint('company_id', 'name', name=op.f('uq_departments_company_id_name'))
    )
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('idx_departments_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('idx_departments_manager_id'), ['manager_id'], unique=False)

    op.create_table('teams',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('company_id', sa.Uuid(), nullable=False),
    sa.Column('department_id', sa.Uuid(), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('lead_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_teams_company_id_companies'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_teams_department_id_departments'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teams')),
    sa.UniqueConstraint('company_id', 'name', name=op.f('uq_teams_company_id_name'))
    )
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('idx_teams_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('idx_teams_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('idx_teams_lead_id'), ['lead_id'], unique=False)

    op.create_table('team_memberships',
    sa.Column('team_id', sa.Uuid(), nullable=False),
    sa.Column('employee_id', sa.Uuid(), nullable=False),
    sa.Column('company_id', sa.Uuid(), nullable=False),
    sa.Column('role', sa.String(length=50), nullable=False),
    sa.Column('created_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_team_memberships_company_id_companies'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_memberships_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('team_id', 'employee_id', name=op.f('pk_team_memberships'))
    )
    with op.batch_alter_table('team_memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('idx_team_memberships_company_id'), ['company_id'], unique=False)
        batch_op.create_index('idx_team_memberships_employee_id', ['employee_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('team_memberships', schema=None) as batch_op:
        batch_op.drop_index('idx_team_memberships_employee_id')
        batch_op.drop_index(batch_op.f('idx_team_memberships_company_id'))

    op.drop_table('team_memberships')
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('idx_teams_lead_id'))
        batch_op.drop_index(batch_op.f('idx_teams_department_id'))
        batch_op.drop_index(batch_op.f('idx_teams_company_id'))

    op.drop_table('teams')
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('idx_departments_manager_id'))
        batch_op.drop_index(batch_op.f('idx_departments_company_id'))

    op.drop_table('departments')
    op.drop_table('company_settings')
    with op.batch_alter_table('employee_copies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('idx_employee_copies_user_id'))
        batch_op.drop_index(batch_op.f('idx_employee_copies_company_id'))

    op.drop_table('employee_copies')
