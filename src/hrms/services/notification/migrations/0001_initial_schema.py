"""initial schema: notification users and employees, templates,
notifications (status enum notification_status), delivery logs

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa
import isles

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notification_employees',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('company_id', sa.Uuid(), nullable=True),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_employees'))
    )
    with op.batch_alter_table('notification_employees', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('idx_notification_employees_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('idx_notification_employees_user_id'), ['user_id'], unique=False)

    op.create_table('notification_templates',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('company_id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_templates')),
    sa.UniqueConstraint('company_id', 'key', name=op.f('uq_notification_templates_company_id_key'))
    )
    with op.batch_alter_table('notification_templates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('idx_notification_templates_company_id'), ['company_id'], unique=False)

    op.create_table('notification_users',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('company_id', sa.Uuid(), nullable=False),
    sa.Column('email', sa.String(length=255), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_users'))
    )
    with op.batch_alter_table('notification_users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('idx_notification_users_company_id'), ['company_id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('company_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('email', sa.String(length=255), nullable=False),
    sa.Column('template_key', sa.String(length=100), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('QUEUED', 'SENDING', 'DELIVERED', 'FAILED', 'BOUNCED', name='notification_status'), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('source_event_id', sa.String(length=100), nullable=False),
    sa.Column('sent_at', isles.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('source_event_id', 'user_id', name=op.f('uq_notifications_source_event_id_user_id'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('idx_notifications_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('idx_notifications_created_at'), ['created_at'], unique=False)
        batch_op.create_index('idx_notifications_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('idx_notifications_user_id'), ['user_id'], unique=False)

    op.create_table('delivery_logs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('notification_id', sa.Uuid(), nullable=False),
    sa.Column('company_id', sa.Uuid(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('QUEUED', 'SENDING', 'DELIVERED', 'FAILED', 'BOUNCED', name='notification_status'), nullable=False),
    sa.Column('sender', sa.String(length=50), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('created_at', isles.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'], name=op.f('fk_delivery_logs_notification_id_notifications'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_logs'))
    )
    with op.batch_alter_table('delivery_logs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('idx_delivery_logs_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('idx_delivery_logs_notification_id'), ['notification_id'], unique=False)



def downgrade() -> None:
    for table in ("delivery_logs", "notifications", "notification_users", "notification_templates", "notification_employees"):
        op.drop_table(table)  # their indexes go with them
    sa.Enum(name="notification_status").drop(op.get_bind(), checkfirst=True)
