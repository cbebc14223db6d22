"""The document service (issue 19): documents of a company and its employees,
every upload a new version whose content is in the platform's blob store (streamed
both ways), access by role, ownership, management and grants, a change history of
the metadata, reminders of documents about to expire, and HR's review of a
deactivated employee's documents. Keeps the employees it needs (``document_users``)
from employee events."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from isles import Service

if TYPE_CHECKING:
    from fastapi import APIRouter

#: The POST paths whose bodies stream to the blob store (see ``api.receive``).
UPLOADS = (r"/documents", r"/documents/[^/]+/versions")


def _api() -> APIRouter:
    from hrms.services.document.api import router

    return router


def build() -> Service:
    from hrms.services.document.events import PUBLISHES
    from hrms.services.document.handlers import HANDLERS, REPLICAS
    from hrms.services.document.jobs import JOBS
    from hrms.services.document.models import metadata

    return Service(
        name="document",
        metadata=metadata,
        router=_api,
        migrations=Path(__file__).parent / "migrations",
        publishes=PUBLISHES,
        handlers=HANDLERS,
        replicas=REPLICAS,
        jobs=JOBS,
        uploads=UPLOADS,
        description="Documents and their versions (content in the blob store), access grants, expiry reminders.",
    )
