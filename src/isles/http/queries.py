"""Strict queries: a query parameter a route does not take is refused (422 naming it),
never ignored -- ``?q=mary`` on a route without search must not quietly answer with
everything. Every service app has :func:`strict_query` as an app-wide dependency."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute

from isles.core.problems import FieldError, invalid

_ALLOWED: dict[int, frozenset[str]] = {}


def _query_names(dependant: Any) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def allowed_query(route: APIRoute) -> frozenset[str]:
    """The query parameters ``route`` takes (its own and its dependencies')."""
    key = id(route)
    if key not in _ALLOWED:
        _ALLOWED[key] = frozenset(_query_names(route.dependant))
    return _ALLOWED[key]


async def strict_query(request: Request) -> None:
    """Refuse query parameters the route does not declare (each named, with what it takes)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    allowed = allowed_query(route)
    unknown = sorted({name for name in request.query_params if name not in allowed})
    if unknown:
        takes = f"it takes {', '.join(sorted(allowed))}" if allowed else "it takes none"
        raise invalid(
            [
                FieldError(name, f"this route has no query parameter {name!r}; {takes}", "unknown_parameter")
                for name in unknown
            ],
            detail=f"unknown query parameter(s): {', '.join(unknown)}",
        )
