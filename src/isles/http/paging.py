"""Paging: ``paging: PagingDep`` in a route, a :class:`Page` in its answer."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field

T = TypeVar("T")


class Paging(BaseModel):
    limit: int
    offset: int


def _paging(
    limit: Annotated[int, Query(ge=1, le=500, description="Items per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")] = 0,
) -> Paging:
    return Paging(limit=limit, offset=offset)


PagingDep = Annotated[Paging, Depends(_paging)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="How many items match in all.", examples=[137])
    limit: int = Field(examples=[50])
    offset: int = Field(examples=[0])
    next_cursor: str | None = Field(
        default=None,
        description="Where the next page starts (send it as cursor); null on the last page.",
        examples=["eyJrIjpbIkxvdmVsYWNlIiwiQWRhIl0sImlkIjoiM2ZhODVmNjQifQ"],
    )
