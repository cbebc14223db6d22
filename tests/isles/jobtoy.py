"""A one-service toy with jobs, for the scheduler and ``isles jobs`` tests: ``tick``
(daily) and ``month`` (monthly) count their runs per day in ``ticks``, idempotently
(one row per job and day); ``manual`` runs by command only."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter
from sqlalchemy import Date, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from isles.service.context import ServiceContext
from isles.service.declaration import Service, System
from isles.service.jobs import Job, JobRun
from isles.storage.schema import new_metadata

metadata = new_metadata()


class Base(DeclarativeBase):
    metadata = metadata


class Tick(Base):
    __tablename__ = "ticks"
    job: Mapped[str] = mapped_column(String(20), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)


def _counting(name: str) -> JobRun:
    async def run(ctx: ServiceContext, day: date) -> str:
        async with ctx.uow() as uow:
            if await uow.session.get(Tick, (name, day)) is not None:
                return "already done"
            uow.session.add(Tick(job=name, day=day))
            await uow.commit()
        return "1 tick"

    return run


async def ticks(ctx: ServiceContext) -> list[tuple[str, date]]:
    async with ctx.db.read_session() as session:
        return [(t.job, t.day) for t in await session.scalars(select(Tick).order_by(Tick.job, Tick.day))]


def build() -> System:
    clock = Service(
        name="clock",
        metadata=metadata,
        router=APIRouter(),
        migrations=None,
        jobs=(
            Job("tick", run=_counting("tick"), schedule="daily", description="a tick a day"),
            Job("month", run=_counting("month"), schedule="monthly", description="a tick a month"),
            Job("manual", run=_counting("manual"), schedule=None, description="by command only"),
        ),
    )
    return System(name="jobtoy", services=[clock])
