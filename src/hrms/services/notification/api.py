"""HTTP routes of the notification service (mounted at ``/api/notification``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from hrms.services.notification import service, templates
from hrms.services.notification.deps import ReadNotifications, ReadUsers, WriteTemplates, check_visible, only_user
from hrms.services.notification.models import Notification, NotificationStatus, Template
from hrms.services.notification.schemas import (
    DeliveryView,
    NotificationView,
    RecipientView,
    TemplatePut,
    TemplateView,
)
from isles import FieldError, Listing, Page, TenantData, check_tenant, invalid

router = APIRouter()
TemplateKey = Annotated[Literal["welcome", "email_changed", "assignment_created"], Path(description="Which message.")]


def notification_view(n: Notification, deliveries: list[DeliveryView] | None = None) -> NotificationView:
    view = NotificationView.model_validate(n, from_attributes=True)
    return view.model_copy(update={"deliveries": deliveries or []})


def template_view(key: str, own: Template | None) -> TemplateView:
    default = templates.DEFAULTS[key]
    return TemplateView(
        key=key,
        subject=own.subject if own else default.subject,
        body=own.body if own else default.body,
        placeholders=sorted(default.placeholders),
        description=default.description,
        custom=own is not None,
        updated_at=own.updated_at if own else None,
    )


NotificationList = Annotated[Listing, Depends(service.NOTIFICATIONS.dependency)]


@router.get("/notifications", response_model=Page[NotificationView], tags=["notifications"])
async def list_notifications(
    request: Request,
    caller: ReadNotifications,
    listing: NotificationList,
    status: Annotated[NotificationStatus | None, Query()] = None,
    user_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[NotificationView]:
    """The company's notifications, newest first (anyone but an admin: their own).
    ``q`` finds subjects and addresses; ``sort`` orders (e.g. ``created_at``, oldest
    first); ``cursor`` pages."""
    mine = only_user(caller)
    if mine is not None:
        user_id = mine if user_id in (None, mine) else uuid.UUID(int=0)
    async with TenantData(request, caller).read() as session:
        rows, total, cursor = await listing.fetch(session, service.notifications_where(user_id=user_id, status=status))
    return listing.page([notification_view(n) for n in rows], total, cursor)


@router.get("/notifications/{notification_id}", response_model=NotificationView, tags=["notifications"])
async def get_notification(notification_id: uuid.UUID, request: Request, caller: ReadNotifications) -> NotificationView:
    """A notification with every delivery attempt."""
    async with TenantData(request, caller).read() as session:
        n = check_visible(caller, await service.get_notification(session=session, notification_id=notification_id))
        logs = [
            DeliveryView.model_validate(d, from_attributes=True) for d in await service.delivery_logs(session, n.id)
        ]
        return notification_view(n, logs)


@router.post("/notifications/{notification_id}/retry", response_model=NotificationView, tags=["notifications"])
async def retry_notification(notification_id: uuid.UUID, request: Request, caller: WriteTemplates) -> NotificationView:
    """Queue a FAILED or BOUNCED notification again (after fixing the address, say)."""
    async with TenantData(request, caller).uow() as uow:
        return notification_view(await service.retry(uow=uow, notification_id=notification_id))


@router.get("/templates", response_model=list[TemplateView], tags=["templates"])
async def list_templates(
    request: Request, caller: ReadNotifications, company_id: Annotated[uuid.UUID | None, Query()] = None
) -> list[TemplateView]:
    """Every message and the text the company sends: its own, or the default."""
    company = check_tenant(caller, company_id) if caller.tenant or company_id else None
    async with TenantData(request, caller).read() as session:
        own = await service.company_templates(session, company)
    return [template_view(key, own.get(key)) for key in templates.DEFAULTS]


@router.put("/templates/{key}", response_model=TemplateView, tags=["templates"])
async def put_template(
    key: TemplateKey,
    body: TemplatePut,
    request: Request,
    caller: WriteTemplates,
    company_id: Annotated[uuid.UUID | None, Query(description="The operator names the company.")] = None,
) -> TemplateView:
    """The company's own text for a message. Placeholders: ``$name`` of those listed."""
    company = check_tenant(caller, company_id)
    errors = []
    for field in ("subject", "body"):
        try:
            templates.check(key, getattr(body, field))
        except templates.TemplateError as exc:
            errors.append(FieldError(field, str(exc), "placeholder"))
    if errors:
        raise invalid(errors)
    async with TenantData(request, caller).uow() as uow:
        own = await service.put_template(uow=uow, company_id=company, key=key, subject=body.subject, body=body.body)
        return template_view(key, own)


@router.delete("/templates/{key}", status_code=204, tags=["templates"])
async def delete_template(
    key: TemplateKey,
    request: Request,
    caller: WriteTemplates,
    company_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Response:
    """Back to the default text."""
    company = check_tenant(caller, company_id)
    async with TenantData(request, caller).uow() as uow:
        await service.delete_template(uow=uow, company_id=company, key=key)
    return Response(status_code=204)


@router.get("/recipients/{user_id}", response_model=RecipientView, tags=["recipients"])
async def get_recipient(user_id: uuid.UUID, request: Request, caller: ReadUsers) -> RecipientView:
    """This service's copy of a user (email and name), as the last auth event left it."""
    async with TenantData(request, caller).read() as session:
        return RecipientView.model_validate(
            await service.get_recipient(session=session, user_id=user_id), from_attributes=True
        )
