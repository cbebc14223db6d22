"""Who may call what in the project service: every rule in one place.

The tenant-scoped session shows a caller only its company's projects and
assignments; writes need ``projects:write`` / ``assignments:write``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from isles.access import require
from isles.security import Principal

ReadProjects = Annotated[Principal, Depends(require("projects:read"))]
WriteProjects = Annotated[Principal, Depends(require("projects:write"))]
ReadAssignments = Annotated[Principal, Depends(require("assignments:read"))]
WriteAssignments = Annotated[Principal, Depends(require("assignments:write"))]
