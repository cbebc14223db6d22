"""Strict queries: a query parameter a route does not take is refused (422 naming it),
never ignored -- ``?q=mary`` on a route without search must not quietly answer with
everything. Every service app has :func:`strict_query` as an app-wide dependency, and
:func:`no_nul_characters` (text PostgreSQL cannot store is a 422, not a 500)."""

from __future__ import annotations

import contextlib
import json
from typing import Any
from urllib.parse import parse_qsl

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


NUL = "\x00"


def _nul_fields(value: Any, path: list[str]) -> list[str]:
    """Where ``value`` (parsed JSON) holds a NUL character: each field, as problems name them."""
    if isinstance(value, str):
        return [".".join(path) or "body"] if NUL in value else []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            found += [".".join([*path, str(key)])] if NUL in str(key) else _nul_fields(item, [*path, str(key)])
        return found
    if isinstance(value, list):
        return [f for i, item in enumerate(value) for f in _nul_fields(item, [*path, str(i)])]
    return []


async def no_nul_characters(request: Request) -> None:
    """Refuse a NUL character (U+0000) in a path or query parameter or a body's text
    (422 naming each field): PostgreSQL cannot store one in text, so it would otherwise
    reach the database and fail there (a 500), while SQLite stores it."""
    fields = [name for name, value in request.path_params.items() if NUL in str(value)]
    fields += sorted({name for name, value in request.query_params.multi_items() if NUL in name + value})
    kind = request.headers.get("content-type", "")
    # JSON and urlencoded forms only: a multipart upload's file is bytes (and streamed,
    # never read whole here); its text fields are the route's to check.
    form = kind.startswith("application/x-www-form-urlencoded")
    if request.method not in ("GET", "HEAD", "DELETE", "OPTIONS") and ("json" in kind or form):
        body = await request.body()
        if b"\\u0000" in body or b"%00" in body or b"\x00" in body:
            if "json" in kind:
                with contextlib.suppress(ValueError):
                    fields += _nul_fields(json.loads(body), [])
            else:
                fields += sorted({k for k, v in parse_qsl(body.decode("latin-1")) if NUL in k + v})
    if fields:
        raise invalid(
            [FieldError(name, "text may not contain a NUL character (U+0000)", "nul_character") for name in fields],
            detail=f"NUL character(s) in: {', '.join(fields)}",
        )
