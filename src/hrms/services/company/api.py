"""HTTP routes of the company service (mounted at ``/api/company``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from hrms.contracts.company import CompanyView, HeadcountView
from hrms.services.company import service
from hrms.services.company.deps import CreateCompanies, ReadCompanies, WriteCompanies
from hrms.services.company.models import Company
from hrms.services.company.schemas import CompanyCreate, HeadcountChange
from isles.access import TenantData
from isles.api import Page, PagingDep, runtime_of
from isles.idempotency import Idempotent
from isles.runtime import ServiceRuntime
from isles.uow import UnitOfWork

router = APIRouter(tags=["companies"])
Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]


def view(c: Company) -> CompanyView:
    return CompanyView.model_validate(c, from_attributes=True)


@router.post("/companies", status_code=status.HTTP_201_CREATED, response_model=CompanyView)
async def create_company(
    body: CompanyCreate, rt: Runtime, idem: Idempotent, request: Request, caller: CreateCompanies
) -> Response:
    """Create a company (a tenant; the operator's). Publishes CompanyCreated. Honours
    ``Idempotency-Key``."""

    async def work(uow: UnitOfWork) -> CompanyView:
        return view(await service.create_company(uow=uow, data=body))

    return await idem.run(rt.uow, work, status_code=201, headers=lambda c: {"Location": f"{request.url.path}/{c.id}"})


@router.get("/companies", response_model=Page[CompanyView])
async def list_companies(request: Request, caller: ReadCompanies, paging: PagingDep) -> Page[CompanyView]:
    """The caller's company (every company for the operator)."""
    async with TenantData(request, caller).read() as session:
        rows, total = await service.list_companies(session=session, limit=paging.limit, offset=paging.offset)
    return Page(items=[view(c) for c in rows], total=total, limit=paging.limit, offset=paging.offset)


@router.get("/companies/{company_id}", response_model=CompanyView)
async def get_company(company_id: uuid.UUID, request: Request, caller: ReadCompanies) -> CompanyView:
    async with TenantData(request, caller).read() as session:
        return view(await service.get_company(session=session, company_id=company_id))


@router.post("/companies/{company_id}/headcount", response_model=HeadcountView)
async def change_headcount(
    company_id: uuid.UUID, body: HeadcountChange, idem: Idempotent, request: Request, caller: WriteCompanies
) -> Response:
    """Add ``delta`` to the headcount. Publishes HeadcountChanged. With an
    ``Idempotency-Key`` a retry changes nothing twice; with ``Isles-Compensates`` it
    undoes that call, or nothing if that call never took effect."""

    async def work(uow: UnitOfWork) -> HeadcountView:
        c = await service.change_headcount(uow=uow, company_id=company_id, delta=body.delta)
        return HeadcountView(id=c.id, headcount=c.headcount, version=c.version)

    return await idem.run(TenantData(request, caller).uow, work)
