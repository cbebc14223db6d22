"""Company use cases."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.company import AGGREGATE
from hrms.services.company import events
from hrms.services.company.models import Company
from hrms.services.company.schemas import CompanyCreate
from isles.problems import FieldError, Problem, invalid, not_found
from isles.uow import UnitOfWork


async def create_company(*, uow: UnitOfWork, data: CompanyCreate) -> Company:
    company = Company(id=uuid.uuid4(), headcount=0, is_active=True, version=0, **data.model_dump())
    uow.session.add(company)
    uow.emit(events.created(company), aggregate=company, aggregate_type=AGGREGATE, tenant_id=str(company.id))
    await uow.commit()
    return company


async def change_headcount(*, uow: UnitOfWork, company_id: uuid.UUID, delta: int) -> Company:
    """Add ``delta`` to the headcount (never below zero). Publishes HeadcountChanged."""
    company = await uow.session.get(Company, company_id, with_for_update=True)
    if company is None:
        raise not_found("company", company_id)
    if delta == 0:
        raise invalid([FieldError("delta", "must not be zero", "zero")])
    if company.headcount + delta < 0:
        raise Problem(
            409,
            f"headcount {company.headcount} cannot drop by {-delta}",
            slug="conflict",
            errors=[FieldError("delta", "would make the headcount negative", "negative_headcount")],
        )
    company.headcount += delta
    uow.emit(
        events.headcount_changed(company, delta), aggregate=company, aggregate_type=AGGREGATE, tenant_id=str(company.id)
    )
    await uow.commit()
    return company


async def get_company(*, session: AsyncSession, company_id: uuid.UUID) -> Company:
    company = await session.get(Company, company_id)
    if company is None:
        raise not_found("company", company_id)
    return company


async def list_companies(*, session: AsyncSession, limit: int, offset: int) -> tuple[list[Company], int]:
    total = await session.scalar(select(func.count()).select_from(Company))
    rows = await session.scalars(select(Company).order_by(Company.name, Company.id).limit(limit).offset(offset))
    return list(rows), int(total or 0)
