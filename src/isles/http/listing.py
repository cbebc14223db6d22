"""Lists, one convention for every service: ``sort=field,-field`` from an allowed list,
``q`` text search where the list has searchable columns, and pages by ``limit`` with
either ``offset`` (small lists) or ``cursor`` (any list: the ``next_cursor`` of the page
before, stable while rows are added).

A service declares each list once::

    EMPLOYEES = ListSpec(
        sort={"last_name": Employee.last_name, "hire_date": Employee.hire_date},
        default=("last_name",),
        key=Employee.id,
        search=(Employee.first_name, Employee.last_name, Employee.email),
    )
    EmployeeList = Annotated[Listing, Depends(EMPLOYEES.dependency)]

    @router.get("/employees", response_model=Page[EmployeeView])
    async def list_employees(request: Request, caller: Reader, listing: EmployeeList) -> Page[EmployeeView]:
        async with TenantData(request, caller).read() as session:
            rows, total, cursor = await listing.fetch(session, select(Employee).where(...))
        return listing.page([view(e) for e in rows], total, cursor)

Unknown sort fields, a ``q`` on a list without search, a cursor another list (or
another sort) gave: each is a 422 naming the parameter.
"""

import base64
import binascii
import enum
import inspect
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import TypeDecorator

from isles.core.problems import FieldError, invalid
from isles.storage.crypto import is_encrypted

if TYPE_CHECKING:
    from isles.http.paging import Page

T = TypeVar("T")
MAX_LIMIT = 500


def _bad(parameter: str, message: str, code: str = "invalid") -> Exception:
    return invalid([FieldError(parameter, message, code)])


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, enum.Enum):  # rebuilt from its value by _typed
        return value.value
    return value


def _python_type(attribute: InstrumentedAttribute[Any]) -> type:
    """The Python type of a column's values (through a TypeDecorator to its impl)."""
    sql_type: Any = attribute.property.columns[0].type
    while isinstance(sql_type, TypeDecorator):
        sql_type = sql_type.impl_instance
    kind: type = sql_type.python_type
    return kind


def _typed(attribute: InstrumentedAttribute[Any], value: Any) -> Any:
    kind = _python_type(attribute)
    if value is None or isinstance(value, kind):
        return value
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is date:
        return date.fromisoformat(value)
    return kind(value)


@dataclass
class Listing:
    """One request's way through a list (what :class:`ListSpec` parsed)."""

    spec: "ListSpec"
    limit: int
    offset: int
    sort: list[tuple[str, bool]]  # (field, descending)
    q: str | None = None
    after: list[Any] | None = None  # the cursor's values: the last row of the page before

    @property
    def sort_text(self) -> str:
        return ",".join(("-" if desc else "") + name for name, desc in self.sort)

    def _columns(self) -> list[tuple[InstrumentedAttribute[Any], bool]]:
        return [(self.spec.sort[name], desc) for name, desc in self.sort] + [(self.spec.key, False)]

    def _after(self) -> Any:
        assert self.after is not None
        columns = self._columns()
        values = [_typed(column, value) for (column, _), value in zip(columns, self.after, strict=True)]
        alternatives = []
        for i, (column, desc) in enumerate(columns):
            equal = [c == v for (c, _), v in zip(columns[:i], values[:i], strict=True)]
            beyond = column < values[i] if desc else column > values[i]
            alternatives.append(and_(*equal, beyond))
        return or_(*alternatives)

    def where(self) -> Any:
        """The search condition (None without ``q``)."""
        if not self.q:
            return None
        pattern = "%" + self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return or_(*(column.ilike(pattern, escape="\\") for column in self.spec.search))

    async def fetch(self, session: AsyncSession, statement: Select[Any]) -> tuple[list[Any], int, str | None]:
        """The page of ``statement``'s rows (ORM entities), how many match in all, and
        the cursor of the next page (None on the last)."""
        condition = self.where()
        if condition is not None:
            statement = statement.where(condition)
        total = int(await session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0)
        order = [column.desc() if desc else column.asc() for column, desc in self._columns()]
        page = statement.order_by(None).order_by(*order)
        page = page.where(self._after()) if self.after is not None else page.offset(self.offset)
        rows = list((await session.scalars(page.limit(self.limit + 1))).all())
        more, rows = len(rows) > self.limit, rows[: self.limit]
        cursor = None
        if more and rows:
            last = rows[-1]
            values = [_plain(getattr(last, column.key)) for column, _ in self._columns()]
            raw = json.dumps({"s": self.sort_text, "q": self.q, "v": values}, separators=(",", ":")).encode()
            cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return rows, total, cursor

    def page(self, items: list[T], total: int, next_cursor: str | None) -> "Page[T]":
        from isles.http.paging import Page

        return Page(items=items, total=total, limit=self.limit, offset=self.offset, next_cursor=next_cursor)


@dataclass
class ListSpec:
    """How one list may be sorted and searched (see the module)."""

    sort: Mapping[str, InstrumentedAttribute[Any]]
    default: Sequence[str]
    key: InstrumentedAttribute[Any]
    search: Sequence[InstrumentedAttribute[Any]] = ()

    def __post_init__(self) -> None:
        for name, column in [*self.sort.items(), *((str(c.key), c) for c in self.search)]:
            if is_encrypted(column.property.columns[0]):
                raise ValueError(f"{name} is encrypted: it cannot be sorted or searched (its ciphertext says nothing)")
        for name, column in self.sort.items():
            if column.property.columns[0].nullable:
                raise ValueError(f"sort field {name}: a nullable column cannot order a cursor")
        unknown = [d.lstrip("-") for d in self.default if d.lstrip("-") not in self.sort]
        if unknown:
            raise ValueError(f"default sort {unknown} is not among {sorted(self.sort)}")
        # The listed class's encrypted attributes, to say why a sort by one is refused.
        mapper = self.key.parent
        self._encrypted = frozenset(
            str(attr.key) for attr in mapper.column_attrs if any(is_encrypted(c) for c in attr.columns)
        )

    def parse(self, *, limit: int, offset: int, sort: str | None, cursor: str | None, q: str | None) -> Listing:
        order: list[tuple[str, bool]] = []
        for part in (sort or ",".join(self.default)).split(","):
            name = part.strip()
            desc = name.startswith("-")
            name = name.lstrip("-").strip()
            allowed = ", ".join(sorted(self.sort))
            if name in self._encrypted:
                raise _bad(
                    "sort",
                    f"cannot sort by {name!r}: it is stored encrypted; sort by {allowed} (a leading - for descending)",
                    "encrypted",
                )
            if name not in self.sort:
                raise _bad(
                    "sort", f"cannot sort by {name!r}: sort by {allowed} (a leading - for descending)", "unknown"
                )
            if name in {n for n, _ in order}:
                raise _bad("sort", f"{name!r} is named twice")
            order.append((name, desc))
        query = (q or "").strip() or None
        if query is not None and len(query) > 100:
            raise _bad("q", "at most 100 characters", "too_long")
        listing = Listing(self, limit=limit, offset=offset, sort=order, q=query)
        if cursor is not None:
            if offset:
                raise _bad("cursor", "give a cursor or an offset, not both", "conflict")
            listing.after = self._decode(cursor, listing)
        return listing

    def _decode(self, cursor: str, listing: Listing) -> list[Any]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            data = json.loads(raw)
            values = data["v"]
            if not isinstance(values, list) or len(values) != len(listing.sort) + 1:
                raise ValueError("values")
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise _bad("cursor", "not a cursor this list gave (use the next_cursor of a page)") from None
        if data.get("s") != listing.sort_text or data.get("q") != listing.q:
            raise _bad("cursor", "this cursor was given for another sort or search: keep sort and q as they were")
        try:
            for (column, _), value in zip(listing._columns(), values, strict=True):
                _typed(column, value)
        except (ValueError, TypeError):
            raise _bad("cursor", "not a cursor this list gave (use the next_cursor of a page)") from None
        return values

    @cached_property
    def dependency(self) -> Any:
        """The route's dependency parsing the list's query parameters (made when first
        asked for: a command that only loads the declarations never imports FastAPI)."""
        from fastapi import Query

        spec = self
        sortable = ", ".join(sorted(self.sort))

        def dependency(
            limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = 50,
            offset: Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip (small lists).")] = 0,
            sort: Annotated[
                str | None,
                Query(
                    max_length=200,
                    description=f"Fields to sort by, comma-separated, a leading - for descending: {sortable}. "
                    f"Default: {','.join(self.default)}.",
                    examples=[",".join(self.default)],
                ),
            ] = None,
            cursor: Annotated[
                str | None, Query(max_length=2000, description="The next_cursor of the page before.")
            ] = None,
            q: Annotated[
                str | None,
                Query(
                    max_length=100,
                    description="Text to find (case-insensitive) in: " + ", ".join(c.key for c in self.search),
                ),
            ] = None,
        ) -> Listing:
            return spec.parse(limit=limit, offset=offset, sort=sort, cursor=cursor, q=q)

        if not self.search:  # a list without search takes no q (an unknown parameter is a 422)
            signature = inspect.signature(dependency)
            dependency.__signature__ = signature.replace(  # type: ignore[attr-defined]
                parameters=[p for p in signature.parameters.values() if p.name != "q"]
            )
        return dependency
