"""kernel: the kernel tables: outbox, inbox, dead letters

Revision ID: kernel_0001
Revises: None
"""

from isles.storage import kernel

revision = "kernel_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    kernel.upgrade(1)


def downgrade() -> None:
    kernel.downgrade(1)
