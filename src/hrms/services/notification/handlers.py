"""What the notification service keeps and does on other services' events.

Two replicas first (seed 002's "event-driven sync", seed 004's replicated user):
``notification_users`` from auth's user events — a changed email lands here, so the
next message goes to the new address — and ``notification_employees`` from the
employee service's. Then messages: a welcome on UserCreated (an invitation with a
one-time set-password link for a user without a password), a reset-password link when
one is asked for, a notice to the new address on an email change, and one on every
AssignmentCreated. Each is queued in the
event's own inbox transaction, once per event and person.
"""

from __future__ import annotations

import uuid

from hrms.contracts.auth import PasswordResetRequested, UserCreated, UserDeactivated, UserUpdated
from hrms.contracts.employee import EmployeeCreated, EmployeeDeactivated, EmployeeUpdated
from hrms.contracts.project import AssignmentCreated
from hrms.services.notification import service
from hrms.services.notification.models import Recipient, RecipientEmployee
from isles import Handler, HandlerContext, ReplicaTable

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
    },
    columns=("company_id", "email", "first_name", "last_name", "is_active", "email_notifications"),
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


async def assignment_created(ctx: HandlerContext, event: AssignmentCreated) -> None:
    employee = await ctx.uow.session.get(RecipientEmployee, event.employee_id)
    if employee is None or employee.user_id is None:
        raise RecipientUnknown(f"employee {event.employee_id} is not known here yet")
    await service.enqueue(
        uow=ctx.uow,
        user_id=uuid.UUID(str(employee.user_id)),
        key="assignment_created",
        source_event_id=ctx.envelope.id,
        values={
            "project_name": event.project_name,
            "role": event.role,
            "allocation": event.allocation,
            "start_date": event.start_date.isoformat(),
        },
    )


REPLICAS = (recipients, recipient_employees)
HANDLERS: tuple[Handler, ...] = (
    Handler(event=UserCreated, fn=welcome, name="welcome"),
    Handler(event=UserUpdated, fn=email_changed, name="email changed"),
    Handler(event=PasswordResetRequested, fn=password_reset, name="password reset"),
    Handler(event=AssignmentCreated, fn=assignment_created, name="assignment created"),
)
