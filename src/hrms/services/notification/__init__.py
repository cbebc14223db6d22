"""The notification service (seeds 001, 002, 004): templates, notifications and their
delivery logs, and local copies of users and employees kept from events. Messages are
queued from events and delivered by a background dispatcher through a pluggable
sender (files by default, SMTP in production)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from isles import Service, Worker

if TYPE_CHECKING:
    from isles import ServiceContext


def dispatcher(rt: ServiceContext) -> Worker:
    """Delivers due notifications: woken by a commit that queued (or re-queued) one,
    and polls for retries that come due."""
    from hrms.services.notification.models import Notification
    from hrms.services.notification.service import dispatch
    from isles import sender_from

    sender = sender_from(rt.settings)
    return Worker("dispatcher", lambda: dispatch(rt.db, sender), poll_interval=1.0, watches=(Notification,))


def build() -> Service:
    from hrms.services.notification.api import router
    from hrms.services.notification.handlers import HANDLERS, REPLICAS
    from hrms.services.notification.models import metadata

    return Service(
        name="notification",
        metadata=metadata,
        router=router,
        migrations=Path(__file__).parent / "migrations",
        handlers=HANDLERS,
        replicas=REPLICAS,
        workers=(dispatcher,),
        description="Notifications from events, templates, delivery logs. Owns the notification_service database.",
    )
