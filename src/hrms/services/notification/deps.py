"""Who may call what in the notification service: every rule in one place.

Reading notifications needs ``notifications:read``: an admin sees the company's, anyone
else only their own. Templates need ``templates:write`` to change; every caller of the
company may read them (``notifications:read``). The local user copies are read with
``users:read``. Retrying a failed notification is an admin's (``templates:write``:
the permission of who owns the company's messages).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from hrms.contracts.permissions import ADMIN
from hrms.services.notification.models import Notification
from isles import Principal, not_found, require

ReadNotifications = Annotated[Principal, Depends(require("notifications:read"))]
WriteTemplates = Annotated[Principal, Depends(require("templates:write"))]
ReadUsers = Annotated[Principal, Depends(require("users:read"))]


def only_user(caller: Principal) -> uuid.UUID | None:
    """The user whose notifications alone ``caller`` may see, or None for all of the company's."""
    if caller.kind != "user" or caller.has_role(ADMIN):
        return None
    return caller.user_id


def check_visible(caller: Principal, notification: Notification) -> Notification:
    """``notification`` if ``caller`` may read it, else 404 (as if it were not there)."""
    user = only_user(caller)
    if user is not None and notification.user_id != user:
        raise not_found("notification", notification.id)
    return notification
