"""kernel: sagas, saga steps and idempotency keys

Revision ID: kernel_0003
Revises: kernel_0002
"""

from isles.storage import kernel

revision = "kernel_0003"
down_revision = "kernel_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    kernel.upgrade(3)


def downgrade() -> None:
    kernel.downgrade(3)
