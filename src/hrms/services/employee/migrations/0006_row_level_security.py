"""row-level security on the tenant tables (PostgreSQL): a transaction sees and
writes only the rows of the company in ``isles.tenant``

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""
from isles import disable_row_security, enable_row_security
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# (table, column holding its company): frozen as of this revision.
TABLES = (
    ("employees", "company_id"),
    ("employee_profiles", "company_id"),
)


def upgrade() -> None:
    for table, column in TABLES:
        enable_row_security(table, column)


def downgrade() -> None:
    for table, _column in reversed(TABLES):
        disable_row_security(table)
