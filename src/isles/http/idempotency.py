"""Idempotency keys: a retried request gets the first answer and changes nothing twice.

A route takes the :data:`Idempotent` dependency and runs its use case through it::

    @router.post("/users", status_code=201)
    async def create_user(body: UserCreate, rt: Runtime, idem: Idempotent) -> Response:
        return await idem.run(rt.uow, lambda uow: service.create_user(uow=uow, data=body), status_code=201)

With an ``Idempotency-Key`` header, the key's record is written in the *same
transaction* as the use case's change, with the answer; a second request with the
key gets that answer again (header ``Idempotent-Replayed: true``), the same key with
another body is refused (422), and two concurrent requests with one key apply once.
A 4xx answer is kept too, so a retry is refused the same way.

A compensation names the call it undoes in ``Isles-Compensates``: the undone call's
key is *fenced* in the same transaction, so a late arrival of that call is refused
(409) instead of applied after its undo; and if that call never took effect, the
compensation does nothing and says so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from isles.clients.service import COMPENSATES_HEADER, IDEMPOTENCY_HEADER
from isles.core.clock import utcnow
from isles.core.problems import FieldError, Problem
from isles.http.access import optional_principal
from isles.http.problems import MEDIA_TYPE
from isles.security.tokens import Principal
from isles.storage.db import ServiceDatabase
from isles.storage.schema import idempotency_table
from isles.storage.uow import UnitOfWork

_t = idempotency_table
MAX_KEY_LENGTH = 200
REPLAYED_HEADER = "Idempotent-Replayed"
COMPLETED = "completed"
FENCED = "fenced"
_PENDING = "pending"
# Answers that say "not now" rather than "no": a retry may get another answer.
_NOT_KEPT = frozenset({408, 423, 425, 429})


@dataclass(frozen=True)
class KeyRecord:
    key: str
    fingerprint: str
    status: str
    response_status: int | None
    response_body: str | None
    response_headers: str | None

    @property
    def took_effect(self) -> bool:
        """The keyed call was applied (answered 2xx), so there is something to undo."""
        return self.status == COMPLETED and self.response_status is not None and 200 <= self.response_status < 300

    def result(self) -> Any:
        return json.loads(self.response_body) if self.response_body else None


# Statements built once (Core, on the kernel's table): the row's values are the
# parameters, so one compiled form serves every request.
_INSERT_NEW = {
    "postgresql": postgresql.insert(_t).on_conflict_do_nothing(index_elements=[_t.c.key]),
    "sqlite": sqlite.insert(_t).on_conflict_do_nothing(index_elements=[_t.c.key]),
}
_FIND = select(_t).where(_t.c.key == bindparam("b_key"))
_COMPLETE = update(_t).where(_t.c.key == bindparam("b_key"))


async def _insert_new(session: AsyncSession, **row: Any) -> bool:
    """Insert the key's row unless the key exists. On PostgreSQL a concurrent
    transaction inserting the same key makes this wait for its outcome."""
    stmt = _INSERT_NEW[session.get_bind().dialect.name]
    result = await session.execute(stmt, {"created_at": utcnow(), **row})
    return bool(getattr(result, "rowcount", 0))


async def find(session: AsyncSession, key: str) -> KeyRecord | None:
    row = (await session.execute(_FIND, {"b_key": key})).first()
    if row is None:
        return None
    return KeyRecord(row.key, row.fingerprint, row.status, row.response_status, row.response_body, row.response_headers)


async def fence(session: AsyncSession, key: str) -> KeyRecord | None:
    """Close ``key`` for good, in the caller's transaction. Returns the record of the
    call made with it, or None if no such call took place (and none will now)."""
    if await _insert_new(session, key=key, fingerprint="", status=FENCED):
        return None
    return await find(session, key)


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\0".join([method.upper().encode(), path.encode(), body])).hexdigest()


def _check_key(value: str | None, header: str) -> str | None:
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_KEY_LENGTH or not value.isprintable() or not value.isascii():
        raise Problem(
            422,
            f"{header} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
            slug="validation-error",
            title="Unprocessable Content",
            errors=[FieldError(header, f"1 to {MAX_KEY_LENGTH} printable ASCII characters", "invalid_header")],
        )
    return value


Work = Callable[[UnitOfWork], Awaitable[Any]]


class _Refused(Exception):
    """A 4xx problem raised by the use case (not by the key checks)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.problem = problem


Headers = Callable[[Any], Mapping[str, str]]


@dataclass(frozen=True)
class IdempotentRequest:
    """A request's ``Idempotency-Key`` and ``Isles-Compensates`` headers; see :meth:`run`."""

    key: str | None
    compensates: str | None
    fingerprint: str
    path: str

    async def run(
        self,
        new_uow: Callable[[], UnitOfWork],
        work: Work,
        *,
        status_code: int = 200,
        headers: Headers | None = None,
    ) -> Response:
        """Run ``work(uow)`` (a use case; its ``commit`` is held until the key's record
        is written) and answer with what it returns, encoded as JSON."""
        try:
            return await self._run(new_uow, work, status_code, headers)
        except _Refused as refused:
            problem = refused.problem
            if self.key is not None and problem.status not in _NOT_KEPT:
                await self._keep_refusal(new_uow, self.key, problem)
            raise problem from refused.__cause__

    async def _run(
        self, new_uow: Callable[[], UnitOfWork], work: Work, status_code: int, headers: Headers | None
    ) -> Response:
        async with new_uow() as uow:
            uow.hold()
            session = uow.session
            if self.key is not None and not await _insert_new(
                session, key=self.key, fingerprint=self.fingerprint, status=_PENDING
            ):
                record = await find(session, self.key)
                assert record is not None  # it conflicted, and keys are never deleted in a transaction
                return self._replay(record)
            undone = await fence(session, self.compensates) if self.compensates is not None else None
            if self.compensates is not None and (undone is None or not undone.took_effect):
                response = self._nothing_to_undo()
            else:
                try:
                    body = await work(uow)
                except Problem as problem:
                    if 400 <= problem.status < 500:
                        raise _Refused(problem) from problem
                    raise
                response = self._answer(status_code, body, headers)
            if self.key is not None:
                await self._record(session, self.key, response)
            await uow.release()
        return response

    async def _record(self, session: AsyncSession, key: str, response: Response) -> None:
        kept = {k: v for k, v in response.headers.items() if k.lower() in ("location", "content-type")}
        await session.execute(
            _COMPLETE,
            {
                "b_key": key,
                "status": COMPLETED,
                "response_status": response.status_code,
                "response_body": bytes(response.body).decode(),
                "response_headers": json.dumps(kept),
            },
        )

    async def _keep_refusal(self, new_uow: Callable[[], UnitOfWork], key: str, problem: Problem) -> None:
        """Keep a 4xx answer for the key, so a retry is refused the same way."""
        async with new_uow() as uow:
            await _insert_new(
                uow.session,
                key=key,
                fingerprint=self.fingerprint,
                status=COMPLETED,
                response_status=problem.status,
                response_body=json.dumps(problem.body(self.path)),
                response_headers=json.dumps({"content-type": MEDIA_TYPE}),
            )
            await uow.commit()

    def _replay(self, record: KeyRecord) -> Response:
        if record.status == FENCED:
            raise Problem(
                409,
                f"the call with this {IDEMPOTENCY_HEADER} was cancelled by a compensation before it arrived",
                slug="idempotency-key-fenced",
                errors=[FieldError(IDEMPOTENCY_HEADER, "cancelled by a compensation", "fenced")],
            )
        if record.fingerprint != self.fingerprint:
            raise Problem(
                422,
                f"this {IDEMPOTENCY_HEADER} was used for another request; use a new key for a new request",
                slug="idempotency-key-reused",
                title="Unprocessable Content",
                errors=[FieldError(IDEMPOTENCY_HEADER, "used before with a different request", "reused")],
            )
        headers = json.loads(record.response_headers or "{}")
        headers[REPLAYED_HEADER] = "true"
        return Response(
            content=record.response_body or "",
            status_code=record.response_status or 200,
            headers=headers,
        )

    @staticmethod
    def _answer(status_code: int, body: Any, headers: Headers | None) -> Response:
        extra = dict(headers(body)) if headers is not None else {}
        if status_code == 204:
            return Response(status_code=204, headers=extra)
        return JSONResponse(jsonable_encoder(body), status_code=status_code, headers=extra)

    def _nothing_to_undo(self) -> Response:
        return JSONResponse(
            {"compensated": False, "detail": f"the call {self.compensates} never took effect: nothing to undo"},
            status_code=200,
        )


def scoped_key(key: str, identity: str) -> str:
    """The key as stored: keys are the caller's own, so the same key from another
    caller (``Principal.identity``) is another key."""
    return "k1:" + hashlib.sha256(f"{identity}\0{key}".encode()).hexdigest()


def _scoped(key: str | None, principal: Principal | None) -> str | None:
    if key is None or principal is None:
        return key
    return scoped_key(key, principal.identity)


async def idempotent_request(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            description="Any unique string (1-200 printable characters): a retried request with the same key and "
            "body gets the first one's answer, and the change happens once.",
        ),
    ] = None,
    compensates: Annotated[
        str | None,
        Header(
            alias=COMPENSATES_HEADER,
            description="For a saga's compensation: the Idempotency-Key of the call it undoes.",
            include_in_schema=False,
        ),
    ] = None,
) -> IdempotentRequest:
    principal = optional_principal(request)
    key = _scoped(_check_key(idempotency_key, IDEMPOTENCY_HEADER), principal)
    undoes = _scoped(_check_key(compensates, COMPENSATES_HEADER), principal)
    body = await request.body() if key is not None else b""
    return IdempotentRequest(
        key=key,
        compensates=undoes,
        fingerprint=fingerprint(request.method, request.url.path, body),
        path=request.url.path,
    )


Idempotent = Annotated[IdempotentRequest, Depends(idempotent_request)]


async def prune(db: ServiceDatabase, retention: timedelta) -> int:
    """Forget keys older than ``retention``. Returns how many."""
    cutoff = utcnow() - retention
    async with db.writing() as session, session.begin():
        result = await session.execute(delete(_t).where(_t.c.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
