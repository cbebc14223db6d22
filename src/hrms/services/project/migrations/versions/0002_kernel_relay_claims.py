"""kernel: relay claims (several relays share the outbox)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from isles import kernel

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    kernel.upgrade(2)


def downgrade() -> None:
    kernel.downgrade(2)
