"""The sagas read model (issue 23: the platform's own health): each saga that ended, as
the orchestrating service announced it (``isles.SagaFinished``: completed,
compensated, or failed: a compensation gave up), one row per saga. A saga an operator
retried and that ended again is announced again at a newer version: the newest wins.

Sagas of no company (started across tenants, by the operator) are not kept: no
company's figures show them.

The figure is :func:`hrms.services.analytics.sagas_queries.figures`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, Float, Index, Integer, String, Uuid
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from hrms.services.analytics.models import Base
from isles import Envelope, ReadModel, SagaFinished, StringList, TenantOwned, UTCDateTime

NAME = "sagas"


class SagaOutcome(TenantOwned, Base):
    """A saga as it last ended (the newest ``SagaFinished`` of it)."""

    # isles: ignore[ISL303] a read model: a rebuild writes its rows again, the events' times are in them
    __tablename__ = "saga_outcomes"

    generation: Mapped[int] = mapped_column(Integer, primary_key=True)
    saga_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # isles: ignore[ISL302] see models.py
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)  # isles: ignore[ISL302] see models.py
    saga: Mapped[str] = mapped_column(String(100), nullable=False)
    service: Mapped[str] = mapped_column(String(100), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_on: Mapped[date] = mapped_column(Date, nullable=False)  # the UTC day it ended: its period
    duration_seconds: Mapped[float] = mapped_column(Float, nullable=False)
    steps: Mapped[int] = mapped_column(Integer, nullable=False)
    completed_steps: Mapped[int] = mapped_column(Integer, nullable=False)
    compensated_steps: Mapped[list[str]] = mapped_column(StringList, nullable=False)
    failed_step: Mapped[str | None] = mapped_column(String(100), nullable=True)
    error: Mapped[str | None] = mapped_column(String(100), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __table_args__ = (
        Index("idx_saga_outcomes_generation_company_id_finished_on", "generation", "company_id", "finished_on"),
    )


async def finished(session: AsyncSession, event: SagaFinished, env: Envelope, generation: int) -> None:
    if event.tenant is None:
        return  # across tenants: no company's figure
    row = await session.get(SagaOutcome, (generation, event.saga_id))
    if row is not None and row.version > env.aggregateversion:
        return  # an older end of a saga retried since
    if row is None:
        row = SagaOutcome(generation=generation, saga_id=event.saga_id)
        session.add(row)
    row.company_id, row.saga, row.service, row.status = event.tenant, event.saga, event.service, event.status
    row.started_at, row.finished_at = event.started_at, event.finished_at
    row.finished_on = event.finished_at.date()
    row.duration_seconds = event.duration_seconds
    row.steps, row.completed_steps = event.steps, event.completed_steps
    row.compensated_steps = list(event.compensated_steps)
    row.failed_step, row.error = event.failed_step, event.error
    row.attempts, row.version = event.attempts, env.aggregateversion


MODEL = ReadModel(
    name=NAME,
    version=1,
    tables=[SagaOutcome.__table__],  # type: ignore[list-item]
    handlers={SagaFinished: finished},
)
