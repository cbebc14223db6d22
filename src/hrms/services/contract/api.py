"""HTTP routes of the contract service (mounted at ``/api/contract``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from hrms.contracts.contract import ContractStatus
from hrms.services.contract import jobs, service
from hrms.services.contract.deps import ReadContracts, WriteContracts, check_sees, scope_of
from hrms.services.contract.models import Contract
from hrms.services.contract.schemas import (
    ContractCreate,
    ContractOut,
    ContractUpdate,
    HistoryEntry,
    JobResult,
    JobRun,
    Termination,
)
from isles import Listing, Page, TenantData, as_of, check_tenant, history_of, not_found

router = APIRouter(tags=["contracts"])
_STATE: dict[int | str, dict[str, Any]] = {409: {"description": "The contract is not in a state that allows it."}}
_ACTIVE: dict[int | str, dict[str, Any]] = {
    409: {"description": "Not a draft, or the employee has an active contract that it cannot supersede."}
}


def view(c: Contract) -> ContractOut:
    return ContractOut.model_validate(c, from_attributes=True)


@router.post("/contracts", status_code=201, response_model=ContractOut)
async def create_contract(
    body: ContractCreate, request: Request, response: Response, caller: WriteContracts
) -> ContractOut:
    """Make a DRAFT contract for an active employee of the company. Publishes ContractCreated."""
    company_id = check_tenant(caller, body.company_id)
    async with TenantData(request, caller).uow() as uow:
        contract = await service.create_contract(uow=uow, data=body, company_id=company_id)
    response.headers["Location"] = f"{request.url.path}/{contract.id}"
    return view(contract)


ContractList = Annotated[Listing, Depends(service.CONTRACTS.dependency)]


@router.get("/contracts", response_model=Page[ContractOut])
async def list_contracts(
    request: Request,
    caller: ReadContracts,
    listing: ContractList,
    employee_id: Annotated[uuid.UUID | None, Query()] = None,
    status: Annotated[ContractStatus | None, Query()] = None,
    include_deleted: Annotated[bool, Query()] = False,
) -> Page[ContractOut]:
    """The contracts the caller may see (an admin: the company's; a manager: their own
    and their reports'; an employee: their own). Deleted drafts only if asked."""
    async with TenantData(request, caller).read() as session:
        scope = await scope_of(session, caller)
        where = service.contracts_where(
            employee_id=employee_id,
            status=status,
            include_deleted=include_deleted,
            scope=scope.where(Contract.employee_id),
        )
        rows, total, cursor = await listing.fetch(session, where)
    return listing.page([view(c) for c in rows], total, cursor)


@router.get("/contracts/{contract_id}", response_model=ContractOut)
async def get_contract(
    contract_id: uuid.UUID,
    request: Request,
    caller: ReadContracts,
    as_of_: Annotated[
        datetime | None, Query(alias="as_of", description="The contract as it was at this time (its history).")
    ] = None,
) -> ContractOut:
    """A contract; with ``as_of``, its terms and state at that time (404 if it did not
    exist yet)."""
    async with TenantData(request, caller).read() as session:
        contract = await service.get_contract(session, contract_id)
        check_sees(await scope_of(session, caller), contract.employee_id, contract_id)
        if as_of_ is None:
            return view(contract)
        then = await as_of(session, Contract, contract_id, as_of_)
    if then is None:
        raise not_found("contract", contract_id)
    return ContractOut.model_validate(dict(then))


@router.get("/contracts/{contract_id}/history", response_model=list[HistoryEntry])
async def contract_history(contract_id: uuid.UUID, request: Request, caller: ReadContracts) -> list[HistoryEntry]:
    """Every version of the contract, oldest first (the current one last), with who
    changed it and why."""
    async with TenantData(request, caller).read() as session:
        contract = await service.get_contract(session, contract_id)
        check_sees(await scope_of(session, caller), contract.employee_id, contract_id)
        versions = await history_of(session, Contract, contract_id)
    return [
        HistoryEntry(
            valid_from=v.valid_from,
            valid_to=v.valid_to,
            changed_by=v.changed_by,
            change_reason=v.change_reason,
            operation=v.operation,
            contract=ContractOut.model_validate(dict(v.values)),
        )
        for v in versions
    ]


@router.patch("/contracts/{contract_id}", response_model=ContractOut, responses=_STATE)
async def update_contract(
    contract_id: uuid.UUID, body: ContractUpdate, request: Request, caller: WriteContracts
) -> ContractOut:
    """Change a contract's terms: a draft's any, an active one's all but its type and
    start date (ContractChanged: the employee follows). Ended ones do not change."""
    async with TenantData(request, caller).uow() as uow:
        contract = await service.update_contract(
            uow=uow, contract_id=contract_id, changes=body.model_dump(exclude_unset=True)
        )
    return view(contract)


@router.delete("/contracts/{contract_id}", status_code=204, responses=_STATE)
async def delete_contract(contract_id: uuid.UUID, request: Request, caller: WriteContracts) -> Response:
    """Delete a DRAFT (kept, marked deleted: listed with ``include_deleted``)."""
    async with TenantData(request, caller).uow() as uow:
        await service.delete_draft(uow=uow, contract_id=contract_id)
    return Response(status_code=204)


@router.post("/contracts/{contract_id}/activate", response_model=ContractOut, responses=_ACTIVE)
async def activate_contract(contract_id: uuid.UUID, request: Request, caller: WriteContracts) -> ContractOut:
    """The draft is signed: ACTIVE if its start date has come (ending the employee's
    older active contract), else SCHEDULED until the daily job starts it.
    Publishes ContractActivated (and ContractEnded for the one superseded)."""
    async with TenantData(request, caller).uow() as uow:
        contract = await service.activate(uow=uow, contract_id=contract_id, today=date.today())
    return view(contract)


@router.post("/contracts/{contract_id}/terminate", response_model=ContractOut, responses=_STATE)
async def terminate_contract(
    contract_id: uuid.UUID, body: Termination, request: Request, caller: WriteContracts
) -> ContractOut:
    """End an active or scheduled contract early (TERMINATED). Publishes ContractTerminated."""
    async with TenantData(request, caller).uow() as uow:
        contract = await service.terminate(uow=uow, contract_id=contract_id, on=body.date, reason=body.reason)
    return view(contract)


@router.post("/jobs/advance", response_model=JobResult, tags=["jobs"], responses=_ACTIVE)
async def run_advance(body: JobRun, request: Request, caller: WriteContracts) -> JobResult:
    """Run the daily job for ``day`` over the company's contracts (again: does nothing more)."""
    company = check_tenant(caller, body.company_id)
    async with TenantData(request, caller).uow() as uow:
        done = await jobs.advance(uow, body.day, company)
        await uow.commit()
    return JobResult(
        job="advance",
        day=body.day,
        summary=done.summary(body.day),
        activated=done.activated,
        ended=done.ended,
        notices=done.notices,
    )
