"""row-level security on the tenant tables (PostgreSQL): a transaction sees and
writes only the rows of the company in ``isles.tenant``

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from isles import disable_row_security, enable_row_security
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# (table, column holding its company): frozen as of this revision.
TABLES = (
    ("notification_users", "company_id"),
    ("notification_employees", "company_id"),
    ("notification_templates", "company_id"),
    ("notifications", "company_id"),
    ("delivery_logs", "company_id"),
)


def upgrade() -> None:
    for table, column in TABLES:
        enable_row_security(table, column)


def downgrade() -> None:
    for table, _column in reversed(TABLES):
        disable_row_security(table)
