"""What the security matrices of every system share (``tests/hrms/test_security_matrix.py``,
``tests/shop/test_security_matrix.py``): the routes of a running system, read from its
apps (so a new route is covered the day it is added), the permission each one
declares, a minimal valid body for each from its OpenAPI document, and path filling."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Mount

from isles.runtime.system import SystemRuntime

SQLISH = "x'); DROP TABLE employees; -- \" OR 1=1 /*"
#: A saga step's callback authenticates with its own callback token, not a bearer token.
CALLBACK = re.compile(r"/sagas/\{saga_id\}/steps/\{step\}/callback$")
#: A JSON body just over the platform's default limit (1 MiB): 413.
OVERSIZED = b"[" + b"1," * 600_000 + b"1]"
MALFORMED = b'{"unclosed": '


def service_apps(runtime: SystemRuntime) -> dict[str, FastAPI]:
    """Each service's own app, by service name, as the gateway mounts them."""
    return {
        r.path.removeprefix("/api/"): r.app
        for r in runtime.app.routes
        if isinstance(r, Mount) and r.path.startswith("/api/") and isinstance(r.app, FastAPI)
    }


def permission_of(route: APIRoute) -> str | None:
    """The permission the route's dependencies ``require`` (None: it checks in its body, or none)."""
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        name = getattr(dep.call, "__name__", "")
        if name.startswith("require_"):
            return name.removeprefix("require_").replace("_", ":", 1)
        stack.extend(dep.dependencies)
    return None


def flat(items: list[Any]) -> list[Any]:
    """Routes, with those of included routers (FastAPI keeps them nested) unfolded."""
    out: list[Any] = []
    for item in items:
        nested = getattr(item, "original_router", None)
        out.extend(flat(list(nested.routes)) if nested is not None else [item])
    return out


def routes(runtime: SystemRuntime) -> list[tuple[str, APIRoute, dict[str, Any]]]:
    """(service, route, the service's OpenAPI document) for every documented route but
    the saga callbacks."""
    found = []
    for name, app in service_apps(runtime).items():
        doc = app.openapi()
        for route in flat(list(app.routes)):
            if isinstance(route, APIRoute) and route.path in doc["paths"] and not CALLBACK.search(route.path):
                found.append((name, route, doc))
    return found


def operation(doc: dict[str, Any], route: APIRoute, method: str) -> dict[str, Any]:
    op: dict[str, Any] = doc["paths"][route.path][method.lower()]
    return op


def body_schema(op: dict[str, Any]) -> dict[str, Any] | None:
    content = op.get("requestBody", {}).get("content", {})
    schema: dict[str, Any] | None = content.get("application/json", {}).get("schema")
    return schema


def fill(path: str, values: Mapping[str, str], default: str = "") -> str:
    """``path`` with each ``{name}`` replaced by ``values[name]`` (else ``default``)."""
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), default), path)


def parameters(path: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", path))


def payload(token: str) -> str:
    """A JWT's claims, as JSON text (unverified)."""
    part = token.split(".")[1]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()


class Example:
    """A minimal valid JSON value for a schema of an OpenAPI document.

    ``known``: values for properties by name, wherever they are (e.g. ``product_id`` in
    an order's lines); ``documented``: start from the schema's first documented example
    where it has one (its ``known`` properties replaced), else from its required fields."""

    def __init__(
        self, doc: dict[str, Any], known: Mapping[str, Any] | None = None, *, documented: bool = False
    ) -> None:
        self.doc = doc
        self.known = dict(known or {})
        self.documented = documented

    def substitute(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.known[k] if k in self.known else self.substitute(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.substitute(v) for v in value]
        return value

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def value(self, schema: dict[str, Any], text: str = "Example") -> Any:
        schema = self.resolve(schema)
        if self.documented and schema.get("examples"):
            return self.substitute(schema["examples"][0])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [o for o in schema[key] if self.resolve(o).get("type") != "null"]
                return self.value(options[0], text)
        if "enum" in schema:
            return schema["enum"][0]
        if "default" in schema and schema.get("type") != "object":
            return schema["default"]
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            props = schema.get("properties", {})
            return {
                k: self.known[k] if k in self.known else self.value(props[k], text) for k in schema.get("required", [])
            }
        if kind == "array":
            return [self.value(schema["items"], text) for _ in range(schema.get("minItems", 0))]
        if kind == "integer":
            return max(1, schema.get("minimum", 1))
        if kind == "number":
            return 1
        if kind == "boolean":
            return True
        fmt = schema.get("format")
        if fmt == "uuid":
            return str(uuid.uuid4())
        if fmt == "date":
            return "2024-01-01"
        if fmt == "date-time":
            return "2024-01-01T00:00:00Z"
        if "@" in schema.get("pattern", ""):
            return f"{uuid.uuid4().hex[:8]}@example.com"
        if "pattern" in schema and schema.get("examples"):  # a code (a currency): its documented example
            return schema["examples"][0]
        return text.ljust(schema.get("minLength", 1), "x")[: schema.get("maxLength", 10_000)]

    def strings(self, schema: dict[str, Any], text: str) -> Any:
        """Like :meth:`value`, with every optional text field present and ``text`` in each."""
        schema = self.resolve(schema)
        props = schema.get("properties", {})
        body = self.value(schema, text)
        if not isinstance(body, dict):
            return body
        for key, prop in props.items():
            p = self.resolve(prop)
            options = [self.resolve(o) for o in p.get("anyOf", [p])]
            if any(o.get("type") == "string" and "format" not in o and "enum" not in o for o in options):
                body[key] = text
        return body


__all__ = [
    "CALLBACK",
    "MALFORMED",
    "OVERSIZED",
    "SQLISH",
    "Example",
    "body_schema",
    "fill",
    "flat",
    "operation",
    "parameters",
    "payload",
    "permission_of",
    "routes",
    "service_apps",
]
