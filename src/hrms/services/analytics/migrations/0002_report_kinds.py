"""report kinds: leave, allocation, utilization, teams, balances, sagas and attendance beside headcount

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 23:10:00
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

KINDS = "kind IN ('headcount', 'leave', 'allocation', 'utilization', 'teams', 'balances', 'sagas', 'attendance')"


def upgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_reports_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_reports_kind'), KINDS)


def downgrade() -> None:
    op.execute("DELETE FROM report_runs WHERE report_id IN (SELECT id FROM reports WHERE kind <> 'headcount')")
    op.execute("DELETE FROM reports WHERE kind <> 'headcount'")
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_reports_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_reports_kind'), "kind IN ('headcount')")
