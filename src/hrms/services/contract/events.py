"""How the contract service turns a contract into the events it publishes
(``hrms.contracts.contract``)."""

from __future__ import annotations

from datetime import date
from typing import Any

from hrms.contracts.contract import (
    AGGREGATE,
    ContractActivated,
    ContractChanged,
    ContractCreated,
    ContractEnded,
    ContractEnding,
    ContractTerminated,
)
from hrms.services.contract.models import Contract
from isles import Event, UnitOfWork

PUBLISHES = (ContractCreated, ContractActivated, ContractChanged, ContractEnded, ContractTerminated, ContractEnding)


def _ids(c: Contract) -> dict[str, Any]:
    return {"id": c.id, "company_id": c.company_id, "employee_id": c.employee_id}


def _terms(c: Contract) -> dict[str, Any]:
    return {
        **_ids(c),
        "contract_type": c.contract_type,
        "position": c.position,
        "salary": c.salary,
        "currency": c.currency,
        "weekly_hours": c.weekly_hours,
        "start_date": c.start_date,
        "end_date": c.end_date,
    }


def created(c: Contract) -> ContractCreated:
    return ContractCreated(**_terms(c))


def activated(c: Contract) -> ContractActivated:
    return ContractActivated(**_terms(c))


def changed(c: Contract, changes: list[str]) -> ContractChanged:
    return ContractChanged(**_terms(c), changes=sorted(changes))


def ended(c: Contract) -> ContractEnded:
    assert c.end_date is not None
    return ContractEnded(**_ids(c), end_date=c.end_date, superseded_by=c.superseded_by)


def terminated(c: Contract) -> ContractTerminated:
    assert c.end_date is not None
    return ContractTerminated(**_ids(c), end_date=c.end_date, reason=c.termination_reason or "")


def ending(c: Contract, day: date, within: int) -> ContractEnding:
    assert c.end_date is not None
    return ContractEnding(
        **_ids(c), position=c.position, end_date=c.end_date, within_days=within, days_left=(c.end_date - day).days
    )


def emit(uow: UnitOfWork, c: Contract, event: Event) -> None:
    """Write ``event`` to the outbox and bump the contract's version."""
    uow.emit(event, aggregate=c, aggregate_type=AGGREGATE, tenant_id=str(c.company_id))
