"""kernel: sagas, saga steps and idempotency keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from isles import kernel

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    kernel.upgrade(3)


def downgrade() -> None:
    kernel.downgrade(3)
