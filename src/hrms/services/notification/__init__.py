"""The notification service (seeds 001, 002, 004): templates, notifications and their
delivery logs, and local copies of users and employees kept from events. Messages are
queued from events and delivered by a background dispatcher through a pluggable
sender (files by default, SMTP in production)."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

from isles import Service, Worker

if TYPE_CHECKING:
    from fastapi import APIRouter

    from hrms.services.notification.service import LinkMaker
    from isles import ServiceContext


def link_maker(rt: ServiceContext) -> LinkMaker:
    """Makes a mail's one-time set-password link: a call to the auth service, with this
    service's own token (``users:invite``) for the user's company."""
    from hrms.contracts.auth import AuthClient, LinkPurpose

    async def links(company_id: uuid.UUID, user_id: uuid.UUID, purpose: str) -> tuple[str, datetime]:
        client = AuthClient(rt.client("auth", tenant=str(company_id)))
        link = await client.password_link(user_id, cast(LinkPurpose, purpose))
        return link.url, link.expires_at

    return links


def dispatcher(rt: ServiceContext) -> Worker:
    """Delivers due notifications: woken by a commit that queued (or re-queued) one,
    and polls for retries that come due."""
    from hrms.services.notification.models import Notification
    from hrms.services.notification.service import dispatch
    from isles import sender_from

    sender = sender_from(rt.settings)
    links = link_maker(rt)
    return Worker(
        "dispatcher", lambda: dispatch(rt.db, sender, links=links), poll_interval=1.0, watches=(Notification,)
    )


def _api() -> APIRouter:
    from hrms.services.notification.api import router

    return router


def build() -> Service:
    from hrms.services.notification.handlers import HANDLERS, REPLICAS
    from hrms.services.notification.models import metadata

    return Service(
        name="notification",
        metadata=metadata,
        router=_api,
        migrations=Path(__file__).parent / "migrations",
        handlers=HANDLERS,
        replicas=REPLICAS,
        workers=(dispatcher,),
        permissions=("users:invite",),  # the one-time links in invitation and reset mails
        description="Notifications from events, templates, delivery logs. Owns the notification_service database.",
    )
