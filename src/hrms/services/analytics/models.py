"""The analytics service's tables (seed 001's ``analytics_service_db``).

* ``analytics_events``: the archive: every event of every HR service, as published
  (``isles.EventArchive``), written in the inbox transaction that takes it.
* ``isles_read_models``: each read model's active generation and version.
* ``headcount_people`` and ``headcount_spans``: the headcount read model: per
  employee, when they were hired and left; and the spans of their employment in one
  department (``[starts_on, ends_on)``: a transfer ends one span and starts the next).
  Rows carry the model's generation (a rebuild writes the next one, then swaps).

The read models' id columns lead no index of their own (``isles: ignore[ISL302]``):
their rows are found by (generation, company_id) and by their key.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import CheckConstraint, Date, Index, Integer, String, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from isles import TenantOwned, new_metadata

metadata = new_metadata()


class Base(DeclarativeBase):
    metadata = metadata


# isles: ignore[ISL303] a read model: a rebuild writes its rows again, the events' times are in them
class HeadcountPerson(TenantOwned, Base):
    """An employee as the headcount model knows them (from employee events, up to ``version``)."""

    __tablename__ = "headcount_people"

    generation: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # isles: ignore[ISL302] see the module
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)  # isles: ignore[ISL302] see the module
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)  # isles: ignore[ISL302] see the module
    hired_on: Mapped[date] = mapped_column(Date, nullable=False)
    left_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __table_args__ = (Index("idx_headcount_people_generation_company_id", "generation", "company_id"),)


# isles: ignore[ISL303] a read model: a rebuild writes its rows again, the events' times are in them
class HeadcountSpan(TenantOwned, Base):
    """An employee counted in ``department_id`` from ``starts_on`` until ``ends_on``
    (excluded; open while null)."""

    __tablename__ = "headcount_spans"

    generation: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # isles: ignore[ISL302] see the module
    starts_on: Mapped[date] = mapped_column(Date, primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)  # isles: ignore[ISL302] see the module
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)  # isles: ignore[ISL302] see the module
    ends_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    started_by: Mapped[str] = mapped_column(String(10), nullable=False)  # hire | return | transfer
    ended_by: Mapped[str | None] = mapped_column(String(10), nullable=True)  # left | transfer

    __table_args__ = (
        CheckConstraint("started_by IN ('hire', 'return', 'transfer')", name="started_by"),
        CheckConstraint("ended_by IN ('left', 'transfer')", name="ended_by"),
        Index("idx_headcount_spans_generation_company_id_starts_on", "generation", "company_id", "starts_on"),
    )
