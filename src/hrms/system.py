"""The HR system: which services run together."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hrms.services import (
    analytics,
    auth,
    company,
    contract,
    document,
    employee,
    leave,
    notification,
    presence,
    project,
    tasks,
)
from isles import System

if TYPE_CHECKING:
    import httpx


async def _demo(client: httpx.AsyncClient) -> list[str]:
    """The demo data (imported when loaded: a command that only reads the
    declarations does not import the demo's HTTP client)."""
    from hrms import demo

    return await demo.load(client)


def build() -> System:
    return System(
        name="hrms",
        services=[
            auth.build(),
            company.build(),
            employee.build(),
            project.build(),
            notification.build(),
            tasks.build(),
            leave.build(),
            presence.build(),
            document.build(),
            contract.build(),
            analytics.build(),
        ],
        demo=_demo,
    )
