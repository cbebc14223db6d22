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
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Date, Float, Index, Integer, String, Table, Uuid
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from hrms.services.analytics.models import Base
from hrms.services.analytics.upserts import upserts
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


async def finished(session: AsyncSession, pairs: Sequence[tuple[Envelope, Any]], generation: int) -> None:
    """A batch's saga ends, set-wise: the newest end of each saga in the batch (of
    those with a company: one across tenants is in no company's figure), then one
    upsert for them all that leaves a row holding a newer end as it is (a retried saga
    ends again at a higher version; an end may come again)."""
    newest: dict[uuid.UUID, tuple[int, dict[str, Any]]] = {}
    for env, event in pairs:
        if event.tenant is None:
            continue
        held = newest.get(event.saga_id)
        if held is None or env.aggregateversion >= held[0]:
            newest[event.saga_id] = (env.aggregateversion, _values(event, env, generation))
    if newest:
        await session.execute(_UPSERTS[session.get_bind().dialect.name], [values for _, values in newest.values()])


def _values(event: SagaFinished, env: Envelope, generation: int) -> dict[str, Any]:
    return {
        "generation": generation,
        "saga_id": event.saga_id,
        "company_id": event.tenant,
        "saga": event.saga,
        "service": event.service,
        "status": event.status,
        "started_at": event.started_at,
        "finished_at": event.finished_at,
        "finished_on": event.finished_at.date(),
        "duration_seconds": event.duration_seconds,
        "steps": event.steps,
        "completed_steps": event.completed_steps,
        "compensated_steps": list(event.compensated_steps),
        "failed_step": event.failed_step,
        "error": event.error,
        "attempts": event.attempts,
        "version": env.aggregateversion,
    }


# a row holding a newer end is left as it is
_UPSERTS = upserts(
    cast(Table, SagaOutcome.__table__),
    ("generation", "saga_id"),
    where=lambda table, excluded: table.c.version <= excluded.version,
)


MODEL = ReadModel(
    name=NAME,
    version=1,
    tables=[SagaOutcome.__table__],  # type: ignore[list-item]
    apply=finished,
    events=[SagaFinished],
)
