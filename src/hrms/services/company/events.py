"""How the company service turns its rows into the events it publishes."""

from __future__ import annotations

from hrms.contracts.company import CompanyCreated, HeadcountChanged
from hrms.services.company.models import Company

PUBLISHES = (CompanyCreated, HeadcountChanged)


def created(c: Company) -> CompanyCreated:
    return CompanyCreated(id=c.id, name=c.name, is_active=c.is_active)


def headcount_changed(c: Company, delta: int) -> HeadcountChanged:
    return HeadcountChanged(id=c.id, headcount=c.headcount, delta=delta)
