"""What the notification service keeps and does on other services' events.

Two replicas first (seed 002's "event-driven sync", seed 004's replicated user):
``notification_users`` from auth's user events — a changed email lands here, so the
next message goes to the new address — and ``notification_employees`` from the
employee service's. Then messages: a welcome on UserCreated (an invitation with a
one-time set-password link for a user without a password), a reset-password link when
one is asked for, a notice to the new address on an email change, one on every
AssignmentCreated, a leave request's receipt to the requester and the request to its
approver (the manager, else the company's admins), the decision to the requester, a
task to its new assignee and its completion to its creator, a document about to
expire to its employee and the company's admins (HR), a contract's coming end
to its employee and the company's admins, a scheduled report's run to its recipients. Each is queued in the
event's own inbox transaction, once per event and person.
"""

from __future__ import annotations

import uuid

from hrms.contracts.analytics import ReportReady
from hrms.contracts.auth import PasswordResetRequested, UserCreated, UserDeactivated, UserUpdated
from hrms.contracts.contract import ContractEnding
from hrms.contracts.document import DocumentExpiring
from hrms.contracts.employee import EmployeeCreated, EmployeeDeactivated, EmployeeUpdated
from hrms.contracts.leave import LeaveApproved, LeaveCancelled, LeaveRejected, LeaveRequested
from hrms.contracts.project import AssignmentCreated
from hrms.contracts.tasks import TaskAssigned, TaskCompleted
from hrms.services.notification import service
from hrms.services.notification.models import Recipient, RecipientEmployee
from isles import Event, Handler, HandlerContext, ReplicaTable

USER_EVENTS = (UserCreated, UserUpdated, UserDeactivated)
EMPLOYEE_EVENTS = (EmployeeCreated, EmployeeUpdated, EmployeeDeactivated)


class RecipientUnknown(Exception):
    """An event names an employee this service has not heard of yet: try again later
    (the employee's own event is on its way)."""


recipients = ReplicaTable(
    table=Recipient.__table__,  # type: ignore[arg-type]
    source="auth.users",
    events=USER_EVENTS,
    project=lambda e: {
        "company_id": e.company_id,
        "email": e.email,
        "first_name": e.first_name,
        "last_name": e.last_name,
        "is_active": e.is_active,
        "email_notifications": getattr(e, "email_notifications", True),  # UserDeactivated has none
        "roles": list(getattr(e, "roles", [])),  # nor roles: an inactive user holds none here
    },
    columns=("company_id", "email", "first_name", "last_name", "is_active", "email_notifications", "roles"),
)

recipient_employees = ReplicaTable(
    table=RecipientEmployee.__table__,  # type: ignore[arg-type]
    source="employee.employees",
    events=EMPLOYEE_EVENTS,
    project=lambda e: {
        "company_id": e.company_id,
        "user_id": e.user_id,
        "full_name": e.full_name,
        "is_active": e.is_active,
    },
    columns=("company_id", "user_id", "full_name", "is_active"),
)


async def welcome(ctx: HandlerContext, event: UserCreated) -> None:
    """A welcome; for a user without a password, an invitation with a link to set one."""
    key = "invitation" if event.invited else "welcome"
    await service.enqueue(uow=ctx.uow, user_id=event.id, key=key, source_event_id=ctx.envelope.id)


async def password_reset(ctx: HandlerContext, event: PasswordResetRequested) -> None:
    await service.enqueue(uow=ctx.uow, user_id=event.id, key="password_reset", source_event_id=ctx.envelope.id)


async def email_changed(ctx: HandlerContext, event: UserUpdated) -> None:
    if "email" in event.changes:
        await service.enqueue(uow=ctx.uow, user_id=event.id, key="email_changed", source_event_id=ctx.envelope.id)


async def user_of(ctx: HandlerContext, employee_id: uuid.UUID) -> uuid.UUID:
    """The user an employee is; not known yet: try the event again later."""
    employee = await ctx.uow.session.get(RecipientEmployee, employee_id)
    if employee is None or employee.user_id is None:
        raise RecipientUnknown(f"employee {employee_id} is not known here yet")
    return uuid.UUID(str(employee.user_id))


async def assignment_created(ctx: HandlerContext, event: AssignmentCreated) -> None:
    await service.enqueue(
        uow=ctx.uow,
        user_id=await user_of(ctx, event.employee_id),
        key="assignment_created",
        source_event_id=ctx.envelope.id,
        values={
            "project_name": event.project_name,
            "role": event.role,
            "allocation": event.allocation,
            "start_date": event.start_date.isoformat(),
        },
    )


def _leave_values(event: LeaveRequested | LeaveApproved | LeaveRejected | LeaveCancelled) -> dict[str, str]:
    half = {"full": "", "morning": " (morning)", "afternoon": " (afternoon)"}
    return {
        "leave_type": event.leave_type_name,
        "start_date": event.start_date.isoformat() + half[event.first_day],
        "end_date": event.end_date.isoformat() + half[event.last_day],
        "days": f"{event.days.normalize():f}",
    }


async def leave_requested(ctx: HandlerContext, event: LeaveRequested) -> None:
    """The requester gets a receipt; the approver (their manager, else the company's
    admins) is asked to decide."""
    requester = await user_of(ctx, event.employee_id)
    employee = await ctx.uow.session.get(RecipientEmployee, event.employee_id)
    values = {**_leave_values(event), "requester": employee.full_name if employee else ""}
    await service.enqueue(
        uow=ctx.uow, user_id=requester, key="leave_requested", source_event_id=ctx.envelope.id, values=values
    )
    approvers = (
        [await user_of(ctx, event.approver_id)]
        if event.approver_id is not None
        else await service.admins_of(ctx.uow.session, event.company_id)
    )
    for approver in approvers:
        if approver != requester:
            await service.enqueue(
                uow=ctx.uow,
                user_id=approver,
                key="leave_request_waiting",
                source_event_id=ctx.envelope.id,
                values=values,
            )


async def leave_decided(ctx: HandlerContext, event: LeaveApproved | LeaveRejected | LeaveCancelled) -> None:
    key: dict[type[Event], str] = {
        LeaveApproved: "leave_approved",
        LeaveRejected: "leave_rejected",
        LeaveCancelled: "leave_cancelled",
    }
    values = _leave_values(event)
    if isinstance(event, LeaveRejected):
        values["comment"] = event.comment or ""
    await service.enqueue(
        uow=ctx.uow,
        user_id=await user_of(ctx, event.employee_id),
        key=key[type(event)],
        source_event_id=ctx.envelope.id,
        values=values,
    )


def _task_values(event: TaskAssigned | TaskCompleted) -> dict[str, str]:
    return {"title": event.title}


async def task_assigned(ctx: HandlerContext, event: TaskAssigned) -> None:
    """The new assignee hears of it (not when they assigned it to themself)."""
    if event.assigned_by is not None and event.assigned_by == event.assignee_id:
        return
    values = {**_task_values(event), "priority": event.priority, "due_date": str(event.due_date or "none")}
    await service.enqueue(
        uow=ctx.uow,
        user_id=await user_of(ctx, event.assignee_id),
        key="task_assigned",
        source_event_id=ctx.envelope.id,
        values=values,
    )


async def task_completed(ctx: HandlerContext, event: TaskCompleted) -> None:
    """The creator hears that their task is done (unless they did it themself)."""
    if event.creator_id is None or event.creator_id == event.completed_by:
        return
    await service.enqueue(
        uow=ctx.uow,
        user_id=await user_of(ctx, event.creator_id),
        key="task_completed",
        source_event_id=ctx.envelope.id,
        values=_task_values(event),
    )


async def document_expiring(ctx: HandlerContext, event: DocumentExpiring) -> None:
    """The document's employee (if it is someone's) and the company's admins hear of
    it, each once."""
    owner = await ctx.uow.session.get(RecipientEmployee, event.employee_id) if event.employee_id else None
    values = {
        "title": event.title,
        "category": event.category,
        "owner": owner.full_name if owner is not None else "the company",
        "expires_on": event.expires_on.isoformat(),
        "days_left": str(event.days_left),
    }
    people = [await user_of(ctx, event.employee_id)] if event.employee_id is not None else []
    for admin in await service.admins_of(ctx.uow.session, event.company_id):
        if admin not in people:
            people.append(admin)
    for user_id in people:
        await service.enqueue(
            uow=ctx.uow, user_id=user_id, key="document_expiring", source_event_id=ctx.envelope.id, values=values
        )


async def contract_ending(ctx: HandlerContext, event: ContractEnding) -> None:
    """The employee and the company's admins hear that a contract ends soon (30 days
    ahead, then 7: one event each)."""
    employee = await ctx.uow.session.get(RecipientEmployee, event.employee_id)
    values = {
        "position": event.position,
        "end_date": event.end_date.isoformat(),
        "days_left": str(event.days_left),
        "employee": employee.full_name if employee else "",
    }
    worker = await user_of(ctx, event.employee_id)
    await service.enqueue(
        uow=ctx.uow, user_id=worker, key="contract_ending", source_event_id=ctx.envelope.id, values=values
    )
    for admin in await service.admins_of(ctx.uow.session, event.company_id):
        if admin != worker:
            await service.enqueue(
                uow=ctx.uow, user_id=admin, key="contract_ending_hr", source_event_id=ctx.envelope.id, values=values
            )


async def report_ready(ctx: HandlerContext, event: ReportReady) -> None:
    """A scheduled report's run goes to its recipients — those who are users of the
    report's company (a user id of another company is never mailed its figures)."""
    values = {
        "report": event.report_name,
        "period_start": event.period_start.isoformat(),
        "period_end": event.period_end.isoformat(),
        "summary": event.summary,
        "csv_path": event.csv_path,
        "chart_path": event.chart_path,
    }
    for user_id in dict.fromkeys(event.recipients):
        recipient = await ctx.uow.session.get(Recipient, user_id)
        if recipient is None or recipient.company_id != event.company_id:
            continue
        await service.enqueue(
            uow=ctx.uow, user_id=user_id, key="report_ready", source_event_id=ctx.envelope.id, values=values
        )


REPLICAS = (recipients, recipient_employees)
HANDLERS: tuple[Handler, ...] = (
    Handler(event=UserCreated, fn=welcome, name="welcome"),
    Handler(event=UserUpdated, fn=email_changed, name="email changed"),
    Handler(event=PasswordResetRequested, fn=password_reset, name="password reset"),
    Handler(event=AssignmentCreated, fn=assignment_created, name="assignment created"),
    Handler(event=LeaveRequested, fn=leave_requested, name="leave requested"),
    Handler(event=LeaveApproved, fn=leave_decided, name="leave approved"),
    Handler(event=LeaveRejected, fn=leave_decided, name="leave rejected"),
    Handler(event=LeaveCancelled, fn=leave_decided, name="leave cancelled"),
    Handler(event=TaskAssigned, fn=task_assigned, name="task assigned"),
    Handler(event=TaskCompleted, fn=task_completed, name="task completed"),
    Handler(event=DocumentExpiring, fn=document_expiring, name="document expiring"),
    Handler(event=ContractEnding, fn=contract_ending, name="contract ending"),
    Handler(event=ReportReady, fn=report_ready, name="report ready"),
)
