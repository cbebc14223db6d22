"""initial schema: tasks and task_users (seed 004), row-level security on both

Revision ID: 0001
Revises: 
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
import isles

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('task_users',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('company_id', sa.Uuid(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_users'))
    )
    isles.enable_row_security('task_users', 'company_id')
    with op.batch_alter_table('task_users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('idx_task_users_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('idx_task_users_user_id'), ['user_id'], unique=False)

    op.create_table('tasks',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('company_id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('priority', sa.String(length=10), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('creator_id', sa.Uuid(), nullable=True),
    sa.Column('assignee_id', sa.Uuid(), nullable=True),
    sa.Column('needs_reassignment', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', isles.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("(status = 'DONE') = (completed_at IS NOT NULL)", name=op.f('ck_tasks_completed_when_done')),
    sa.CheckConstraint("priority IN ('low', 'medium', 'high', 'urgent')", name=op.f('ck_tasks_priority_known')),
    sa.CheckConstraint("status IN ('TODO', 'IN_PROGRESS', 'DONE', 'CANCELLED')", name=op.f('ck_tasks_status_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks'))
    )
    isles.enable_row_security('tasks', 'company_id')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('idx_tasks_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_index('idx_tasks_assignee_id_status', ['assignee_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('idx_tasks_company_id'), ['company_id'], unique=False)
        batch_op.create_index('idx_tasks_company_id_needs_reassignment', ['company_id', 'needs_reassignment'], unique=False)
        batch_op.create_index('idx_tasks_company_id_status_created_at', ['company_id', 'status', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('idx_tasks_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('idx_tasks_creator_id'), ['creator_id'], unique=False)
        batch_op.create_index(batch_op.f('idx_tasks_due_date'), ['due_date'], unique=False)
        batch_op.create_index(batch_op.f('idx_tasks_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('idx_tasks_status'))
        batch_op.drop_index(batch_op.f('idx_tasks_due_date'))
        batch_op.drop_index(batch_op.f('idx_tasks_creator_id'))
        batch_op.drop_index(batch_op.f('idx_tasks_created_at'))
        batch_op.drop_index('idx_tasks_company_id_status_created_at')
        batch_op.drop_index('idx_tasks_company_id_needs_reassignment')
        batch_op.drop_index(batch_op.f('idx_tasks_company_id'))
        batch_op.drop_index('idx_tasks_assignee_id_status')
        batch_op.drop_index(batch_op.f('idx_tasks_assignee_id'))

    isles.disable_row_security('tasks')
    op.drop_table('tasks')
    with op.batch_alter_table('task_users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('idx_task_users_user_id'))
        batch_op.drop_index(batch_op.f('idx_task_users_company_id'))

    isles.disable_row_security('task_users')
    op.drop_table('task_users')
