"""What the analytics service archives: every event every HR service publishes (each
contract module's events), and the read models kept from them."""

from __future__ import annotations

import inspect
from types import ModuleType

from hrms.contracts import auth, company, contract, document, employee, leave, presence, project, tasks
from hrms.services.analytics import attendance, balances, headcount, sagas, workforce
from hrms.services.analytics.models import metadata
from isles import Event, EventArchive, SagaFinished

CONTRACTS: tuple[ModuleType, ...] = (auth, company, contract, document, employee, leave, presence, project, tasks)


def published_events(modules: tuple[ModuleType, ...] = CONTRACTS) -> list[type[Event]]:
    """The event classes the contract modules declare (their private bases left out)."""
    found: list[type[Event]] = []
    for module in modules:
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, Event)
                and value.__module__ == module.__name__
                and not name.startswith("_")
            ):
                found.append(value)
    return found


ARCHIVE = EventArchive(
    metadata,
    [*published_events(), SagaFinished],
    name="analytics_events",
    read_models=[
        headcount.MODEL,
        workforce.LEAVE_MODEL,
        workforce.ALLOCATION_MODEL,
        workforce.TEAMS_MODEL,
        balances.MODEL,
        sagas.MODEL,
        attendance.MODEL,
    ],
)
