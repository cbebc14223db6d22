"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa
import isles.schema


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
    sa.Column('created_at', isles.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', isles.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_employees')),
    sa.UniqueConstraint('email', name=op.f('uq_employees_email')),
    sa.UniqueConstraint('employee_id', name=op.f('uq_employees_employee_id'))
    )
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('idx_employees_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('idx_employees_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('idx_employees_user_id'), ['user_id'], unique=False)

    op.create_table('isles_dead_letters',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('event_type', sa.String(length=200), nullable=False),
    sa.Column('aggregate_id', sa.String(length=100), nullable=False),
    sa.Column('aggregate_version', sa.Integer(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('traceback', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('first_failed_at', isles.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', isles.schema.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_isles_dead_letters'))
    )
    with op.batch_alter_table('isles_dead_letters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('idx_isles_dead_letters_event_id'), ['event_id'], unique=False)

    op.create_table('isles_inbox_events',
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('event_type', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('aggregate_id', sa.String(length=100), nullable=False),
    sa.Column('aggregate_version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('processed_at', isles.schema.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_isles_inbox_events'))
    )
    with op.batch_alter_table('isles_inbox_events', schema=None) as batch_op:
        batch_op.create_index('idx_isles_inbox_events_processed_at', ['processed_at'], unique=False)

    op.create_table('isles_outbox_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('event_type', sa.String(length=200), nullable=False),
    sa.Column('aggregate_type', sa.String(length=100), nullable=False),
    sa.Column('aggregate_id', sa.String(length=100), nullable=False),
    sa.Column('aggregate_version', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.String(length=100), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('created_at', isles.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_at', isles.schema.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_isles_outbox_events')),
    sa.UniqueConstraint('event_id', name=op.f('uq_isles_outbox_events_event_id'))
    )
    with op.batch_alter_table('isles_outbox_events', schema=None) as batch_op:
        batch_op.create_index('idx_isles_outbox_events_published_at', ['published_at'], unique=False)
        batch_op.create_index('idx_isles_outbox_events_unpublished', ['id'], unique=False, postgresql_where=sa.text('published_at IS NULL'), sqlite_where=sa.text('published_at IS NULL'))



def downgrade() -> None:
    with op.batch_alter_table('isles_outbox_events', schema=None) as batch_op:
        batch_op.drop_index('idx_isles_outbox_events_unpublished', postgresql_where=sa.text('published_at IS NULL'), sqlite_where=sa.text('published_at IS NULL'))
        batch_op.drop_index('idx_isles_outbox_events_published_at')

    op.drop_table('isles_outbox_events')
    with op.batch_alter_table('isles_inbox_events', schema=None) as batch_op:
        batch_op.drop_index('idx_isles_inbox_events_processed_at')

    op.drop_table('isles_inbox_events')
    with op.batch_alter_table('isles_dead_letters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('idx_isles_dead_letters_event_id'))

    op.drop_table('isles_dead_letters')
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('idx_employees_user_id'))
        batch_op.drop_index(batch_op.f('idx_employees_department_id'))
        batch_op.drop_index(batch_op.f('idx_employees_company_id'))

    op.drop_table('employees')
