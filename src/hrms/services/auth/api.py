"""HTTP routes of the auth service (mounted at ``/api/auth``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from hrms.contracts.auth import UserView
from hrms.services.auth import service
from hrms.services.auth.models import User
from hrms.services.auth.schemas import UserCreate
from isles.api import Page, PagingDep, runtime_of
from isles.idempotency import Idempotent
from isles.runtime import ServiceRuntime
from isles.uow import UnitOfWork

router = APIRouter(tags=["users"])
Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]


def view(u: User) -> UserView:
    return UserView.model_validate(u, from_attributes=True)


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=UserView)
async def create_user(body: UserCreate, rt: Runtime, idem: Idempotent, request: Request) -> Response:
    """Create a user. Honours ``Idempotency-Key``: a retry gets the first answer."""

    async def work(uow: UnitOfWork) -> UserView:
        return view(await service.create_user(uow=uow, data=body))

    return await idem.run(rt.uow, work, status_code=201, headers=lambda u: {"Location": f"{request.url.path}/{u.id}"})


@router.get("/users", response_model=Page[UserView])
async def list_users(
    rt: Runtime, paging: PagingDep, company_id: Annotated[uuid.UUID | None, Query()] = None
) -> Page[UserView]:
    async with rt.db.read_session() as session:
        rows, total = await service.list_users(
            session=session, limit=paging.limit, offset=paging.offset, company_id=company_id
        )
    return Page(items=[view(u) for u in rows], total=total, limit=paging.limit, offset=paging.offset)


@router.get("/users/{user_id}", response_model=UserView)
async def get_user(user_id: uuid.UUID, rt: Runtime) -> UserView:
    async with rt.db.read_session() as session:
        return view(await service.get_user(session=session, user_id=user_id))


@router.delete("/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(user_id: uuid.UUID, rt: Runtime, idem: Idempotent) -> Response:
    """Delete a user. With ``Isles-Compensates`` (a saga undoing the user's creation),
    the creation's key is fenced: a creation arriving late is refused."""

    async def work(uow: UnitOfWork) -> None:
        await service.delete_user(uow=uow, user_id=user_id)

    return await idem.run(rt.uow, work, status_code=204)
