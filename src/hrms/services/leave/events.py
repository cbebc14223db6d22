"""How the leave service turns a request into the events it publishes
(``hrms.contracts.leave``); ledger entries are published by ``ledger.publish``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from hrms.contracts.leave import LeaveApproved, LeaveCancelled, LeaveRejected, LeaveRequested, LedgerEntryPosted
from hrms.services.leave.models import LeaveRequest

PUBLISHES = (LeaveRequested, LeaveApproved, LeaveRejected, LeaveCancelled, LedgerEntryPosted)


def _common(r: LeaveRequest) -> dict[str, Any]:
    return {
        "id": r.id,
        "company_id": r.company_id,
        "employee_id": r.employee_id,
        "leave_type_id": r.leave_type_id,
        "leave_type_name": r.leave_type_name,
        "start_date": r.start_date,
        "end_date": r.end_date,
        "first_day": r.first_day,
        "last_day": r.last_day,
        "days": r.days,
    }


def requested(r: LeaveRequest) -> LeaveRequested:
    return LeaveRequested(**_common(r), approver_id=r.approver_id, reason=r.reason)


def approved(r: LeaveRequest, by: uuid.UUID | None, at: datetime) -> LeaveApproved:
    return LeaveApproved(**_common(r), approved_by=by, approved_at=at, paid=r.paid)


def rejected(r: LeaveRequest, by: uuid.UUID | None, at: datetime, comment: str | None) -> LeaveRejected:
    return LeaveRejected(**_common(r), rejected_by=by, rejected_at=at, comment=comment)


def cancelled(r: LeaveRequest, by: uuid.UUID | None, at: datetime, was_approved: bool) -> LeaveCancelled:
    return LeaveCancelled(**_common(r), cancelled_by=by, cancelled_at=at, was_approved=was_approved)
