"""Use cases of contracts: create, change, delete a draft, activate, terminate, and the
reads of a contract's history."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.services.contract import events
from hrms.services.contract.models import (
    ACTIVE,
    DATED_TYPES,
    DRAFT,
    ENDED,
    SCHEDULED,
    TERMINATED,
    Contract,
    ContractEmployee,
)
from hrms.services.contract.schemas import ContractCreate
from isles import FieldError, ListSpec, Problem, UniqueViolation, UnitOfWork, conflict, invalid, not_found, utcnow

#: Terms an active (or scheduled) contract may still change; a draft may change all.
LIVE_TERMS = ("end_date", "weekly_hours", "salary", "currency", "position", "notice_period_days", "signed_document_id")
#: The terms the employee service copies: a change of them publishes ContractChanged.
PUBLISHED_TERMS = ("position", "salary", "currency", "weekly_hours", "end_date")


def _two_active(employee_id: uuid.UUID, other: uuid.UUID | None = None) -> Problem:
    also = f" ({other})" if other else ""
    return conflict("employee_id", f"employee {employee_id} has an active contract already{also}")


async def commit(uow: UnitOfWork, employee_id: uuid.UUID) -> None:
    """Commit; the database's one-active-contract rule answers 409 naming employee_id."""
    try:
        await uow.commit()
    except UniqueViolation as exc:
        raise _two_active(employee_id) from exc


async def create_contract(*, uow: UnitOfWork, data: ContractCreate, company_id: uuid.UUID) -> Contract:
    """A DRAFT contract of an active employee of the company (else 422 naming employee_id)."""
    person = await uow.session.get(ContractEmployee, data.employee_id)
    if person is None or person.company_id != company_id or not person.is_active:
        raise invalid([FieldError("employee_id", f"no active employee {data.employee_id}", "not_found")])
    contract = Contract(
        id=uuid.uuid4(),
        company_id=company_id,
        status=DRAFT,
        version=0,
        **data.model_dump(exclude={"company_id"}),
    )
    uow.session.add(contract)
    events.emit(uow, contract, events.created(contract))
    await uow.commit()
    return contract


async def get_contract(session: AsyncSession, contract_id: uuid.UUID, *, lock: bool = False) -> Contract:
    contract = await session.get(Contract, contract_id, with_for_update=lock)
    if contract is None or contract.deleted_at is not None:
        raise not_found("contract", contract_id)
    return contract


async def update_contract(*, uow: UnitOfWork, contract_id: uuid.UUID, changes: Mapping[str, Any]) -> Contract:
    """Change a contract's terms (an ACTIVE one's change reaches the employee:
    ContractChanged). Ended and terminated contracts do not change (409)."""
    contract = await get_contract(uow.session, contract_id, lock=True)
    if contract.status in (ENDED, TERMINATED):
        raise conflict("status", f"contract {contract_id} is {contract.status} and no longer changes")
    for key, value in changes.items():
        if value is None and key not in ("end_date", "signed_document_id"):
            raise invalid([FieldError(key, f"{key} cannot be null", "null")])
        if contract.status != DRAFT and key not in LIVE_TERMS and value != getattr(contract, key):
            raise conflict(key, f"only a draft's {key} changes (the contract is {contract.status})")
    changed = [k for k, v in changes.items() if getattr(contract, k) != v]
    if not changed:
        return contract
    for key in changed:
        setattr(contract, key, changes[key])
    if contract.contract_type in DATED_TYPES and contract.end_date is None:
        raise invalid([FieldError("end_date", f"required for a {contract.contract_type} contract", "missing")])
    if contract.end_date is not None and contract.end_date <= contract.start_date:
        raise invalid([FieldError("end_date", "must be after start_date", "invalid")])
    published = [k for k in changed if k in PUBLISHED_TERMS]
    if contract.status == ACTIVE and published:
        events.emit(uow, contract, events.changed(contract, published))
    else:
        contract.version += 1
    await uow.commit()
    return contract


async def delete_draft(*, uow: UnitOfWork, contract_id: uuid.UUID) -> None:
    """Soft-delete a DRAFT (409 for any other: a contract in force is ended, not deleted)."""
    contract = await get_contract(uow.session, contract_id, lock=True)
    if contract.status != DRAFT:
        raise conflict("status", f"only a draft is deleted; contract {contract_id} is {contract.status}")
    contract.deleted_at = utcnow()
    contract.version += 1
    await uow.commit()


async def active_of(session: AsyncSession, company_id: uuid.UUID, employee_id: uuid.UUID) -> Contract | None:
    found: Contract | None = await session.scalar(
        select(Contract)
        .where(Contract.company_id == company_id, Contract.employee_id == employee_id, Contract.status == ACTIVE)
        .with_for_update()
    )
    return found


async def start(uow: UnitOfWork, contract: Contract) -> bool:
    """Put ``contract`` in force now, ending the active contract it supersedes (one
    with an earlier start) on the day before its start. False: another active
    contract of the employee does not start earlier, so this one cannot supersede it."""
    current = await active_of(uow.session, contract.company_id, contract.employee_id)
    if current is not None:
        if current.start_date >= contract.start_date:
            return False
        current.status = ENDED
        current.end_date = contract.start_date - timedelta(days=1)
        current.superseded_by = contract.id
        events.emit(uow, current, events.ended(current))
        await uow.session.flush()  # the old one is no longer ACTIVE before the new one is
    contract.status = ACTIVE
    events.emit(uow, contract, events.activated(contract))
    return True


async def activate(*, uow: UnitOfWork, contract_id: uuid.UUID, today: date) -> Contract:
    """A signed DRAFT comes into force: ACTIVE if it has started (superseding the
    employee's older active contract), else SCHEDULED for the daily job to start on
    its start date. 409 naming employee_id if the employee's active contract starts
    on the same day or later."""
    contract = await get_contract(uow.session, contract_id, lock=True)
    if contract.status != DRAFT:
        raise conflict("status", f"contract {contract_id} is {contract.status}, not DRAFT")
    if contract.end_date is not None and contract.end_date < today:
        raise invalid([FieldError("end_date", "the contract has ended already", "past")])
    if contract.start_date > today:
        contract.status = SCHEDULED
        contract.version += 1
    elif not await start(uow, contract):
        current = await active_of(uow.session, contract.company_id, contract.employee_id)
        raise _two_active(contract.employee_id, current.id if current else None)
    await commit(uow, contract.employee_id)
    return contract


async def terminate(*, uow: UnitOfWork, contract_id: uuid.UUID, on: date, reason: str) -> Contract:
    """End an ACTIVE or SCHEDULED contract early: TERMINATED, its last day ``on``."""
    contract = await get_contract(uow.session, contract_id, lock=True)
    if contract.status not in (ACTIVE, SCHEDULED):
        raise conflict("status", f"contract {contract_id} is {contract.status}: only one in force is terminated")
    if on < contract.start_date:
        raise invalid([FieldError("date", "must not be before the contract's start_date", "invalid")])
    contract.status = TERMINATED
    contract.end_date = on
    contract.terminated_on = on
    contract.termination_reason = reason
    events.emit(uow, contract, events.terminated(contract))
    await uow.commit()
    return contract


CONTRACTS = ListSpec(
    sort={"start_date": Contract.start_date, "created_at": Contract.created_at, "status": Contract.status},
    default=("start_date",),
    key=Contract.id,
    search=(Contract.position,),
)


def contracts_where(
    *, employee_id: uuid.UUID | None, status: str | None, include_deleted: bool, scope: Any
) -> Select[Any]:
    q = select(Contract)
    if not include_deleted:
        q = q.where(Contract.deleted_at.is_(None))
    if employee_id is not None:
        q = q.where(Contract.employee_id == employee_id)
    if status is not None:
        q = q.where(Contract.status == status)
    if scope is not None:
        q = q.where(scope)
    return q
