"""Small pieces every service API shares: paging, and reaching the service runtime."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Generic, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel

if TYPE_CHECKING:
    from isles.runtime.system import ServiceRuntime

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
    total: int
    limit: int
    offset: int


def runtime_of(request: Request) -> ServiceRuntime:
    """The runtime of the service whose app received ``request``."""
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime
