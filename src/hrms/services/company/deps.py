"""Who may call what in the company service: every rule in one place.

A company's users see their own company only (the tenant-scoped session has no
other); creating companies is the operator's (``companies:create`` is no role's).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from isles.access import require
from isles.security import Principal

CreateCompanies = Annotated[Principal, Depends(require("companies:create"))]
ReadCompanies = Annotated[Principal, Depends(require("companies:read"))]
WriteCompanies = Annotated[Principal, Depends(require("companies:write"))]
