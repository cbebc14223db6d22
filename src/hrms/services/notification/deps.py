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
from isles.access import require
from isles.security import Principal

ReadNotifications = Annotated[Principal, Depends(require("notifications:read"))]
WriteTemplates = Annotated[Principal, Depends(require("templates:write"))]
ReadUsers = Annotated[Principal, Depends(require("users:read"))]


def only_user(caller: Principal) -> uuid.UUID | None:
    """The user whose notifications alone ``caller`` may see, or None for all of the company's."""
    if caller.kind != "user" or caller.has_role(ADMIN):
        return None
    return caller.user_id
