"""The company service: companies (seed 001) and their headcount.

The smallest real version, for the CreateEmployee saga; the HR-core issue adds
settings, departments and teams.
"""

from __future__ import annotations

from pathlib import Path

from isles.service import Service


def build() -> Service:
    from hrms.services.company.api import router
    from hrms.services.company.events import PUBLISHES
    from hrms.services.company.handlers import HANDLERS
    from hrms.services.company.models import metadata

    return Service(
        name="company",
        metadata=metadata,
        router=router,
        migrations=Path(__file__).parent / "migrations",
        publishes=PUBLISHES,
        handlers=HANDLERS,
        description="Companies and their headcount. Owns the company_service database.",
    )
