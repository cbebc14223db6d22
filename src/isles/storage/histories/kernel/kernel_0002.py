"""kernel: relay claims: several relays share the outbox by leasing rows

Revision ID: kernel_0002
Revises: kernel_0001
"""

from isles.storage import kernel

revision = "kernel_0002"
down_revision = "kernel_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    kernel.upgrade(2)


def downgrade() -> None:
    kernel.downgrade(2)
