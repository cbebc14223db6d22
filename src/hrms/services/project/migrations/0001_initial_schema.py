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
    op.create_table('employee_copies',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_employee_copies'))
    )

    op.create_table('projects',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('client', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('assigned_count', sa.Integer(), nullable=False),
    sa.Column('completed_at', isles.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('active', 'completed')", name=op.f('ck_projects_status_known')),
    sa.CheckConstraint('assigned_count >= 0 AND assigned_count <= capacity', name=op.f('ck_projects_assigned_within_capacity')),
    sa.CheckConstraint('capacity >= 0', name=op.f('ck_projects_capacity_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_projects'))
    )
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('idx_projects_name'), ['name'], unique=False)

    op.create_table('assignments',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('employee_id', sa.Uuid(), nullable=False),
    sa.Column('project_id', sa.Uuid(), nullable=False),
    sa.Column('project_name', sa.String(length=100), nullable=False),
    sa.Column('employee_name', sa.String(length=200), nullable=False),
    sa.Column('employee_active', sa.Boolean(), nullable=False),
    sa.Column('employee_version', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=100), nullable=False),
    sa.Column('allocation', sa.Integer(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('deleted_at', isles.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('allocation BETWEEN 1 AND 100', name=op.f('ck_assignments_allocation_percent')),
    sa.CheckConstraint('end_date IS NULL OR end_date >= start_date', name=op.f('ck_assignments_dates_ordered')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_assignments_project_id_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignments'))
    )
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('idx_assignments_deleted_at'), ['deleted_at'], unique=False)
        batch_op.create_index(batch_op.f('idx_assignments_employee_id'), ['employee_id'], unique=False)
        batch_op.create_index(batch_op.f('idx_assignments_project_id'), ['project_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('idx_assignments_project_id'))
        batch_op.drop_index(batch_op.f('idx_assignments_employee_id'))
        batch_op.drop_index(batch_op.f('idx_assignments_deleted_at'))

    op.drop_table('assignments')
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('idx_projects_name'))

    op.drop_table('projects')

    op.drop_table('employee_copies')
