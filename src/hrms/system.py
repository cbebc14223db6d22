"""The HR system: which services run together."""

from __future__ import annotations

from hrms import demo
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
        demo=demo.load,
    )
