"""Who may call what in the company service: every rule in one place.

A company's users see their own company only (the tenant-scoped session has no
other); creating companies is the operator's (``companies:create`` is no role's).
Admins change the company, its settings, departments and teams
(``companies:write``). Team memberships need ``teams:write``: an admin's for any team
of the company, a manager's for the teams they lead (as the team's lead, a member with
role ``lead``, or the manager of the team's department).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.permissions import ADMIN
from hrms.services.company import service
from hrms.services.company.models import Team
from isles import Principal, Problem, require

CreateCompanies = Annotated[Principal, Depends(require("companies:create"))]
ReadCompanies = Annotated[Principal, Depends(require("companies:read"))]
WriteCompanies = Annotated[Principal, Depends(require("companies:write"))]
WriteTeams = Annotated[Principal, Depends(require("teams:write"))]


async def check_team_scope(session: AsyncSession, caller: Principal, team: Team) -> None:
    """403 unless ``caller`` may change ``team``'s members."""
    if caller.kind != "user" or caller.has_role(ADMIN):
        return
    employee = await service.employee_of_user(session, caller.user_id) if caller.user_id else None
    if employee is None or team.id not in await service.teams_led_by(session, employee):
        raise Problem(
            403,
            f"only an admin or a lead of team {team.id} may change its members",
            slug="forbidden",
            extra={"permission": "teams:write"},
        )
