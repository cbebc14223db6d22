"""schemathesis against every shop service's OpenAPI document, on one real ``isles up
--system shop`` process (the demo data loaded, the operator's token): generated
requests, valid and invalid, a bounded number per operation; no server error, every
answer as documented (status, content type, body). The services are those the
gateway's index lists, so a service (the order service) is covered the day it is merged."""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import schemathesis.specs.openapi.schemas  # imported at collection: see tests/hrms/test_schemathesis.py
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests import support

pytestmark = pytest.mark.integration
#: Examples per operation: bounded so the whole shop runs in about a minute.
EXAMPLES = 20
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: The services with routes since issue 18's first half (``>=``: the order service comes).
BUILT = {"user", "product"}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str], str]]:
    """``isles up --system shop`` on SQLite files, or on PostgreSQL databases of its own
    (dropped afterwards)."""
    data: Path = tmp_path_factory.mktemp("schemathesis-shop")
    gc.collect()
    env = {**os.environ, "ISLES_SYSTEM": "shop"}
    prefix = f"isles_t_{uuid.uuid4().hex[:12]}"
    if request.param == "postgres":
        support.require_postgres()
        env["ISLES_DATABASE_URL"] = f"{support.PG_SERVER}/{prefix}_{{service}}"
    try:
        with support.isles_up("--data-dir", str(data), env=env, timeout=120) as (_proc, base):
            yield base, support.AUTH[base], "postgresql" if request.param == "postgres" else "sqlite"
    finally:
        if request.param == "postgres":
            for service in ("user", "product", "order"):
                support.drop_in_background(f"{support.PG_SERVER}/{prefix}_{service}")


def exercise(operation: Any, api: str, headers: dict[str, str]) -> int:
    """Run the operation's bounded examples against ``api``; the number of requests made
    (raises what schemathesis found)."""
    calls = 0

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        nonlocal calls
        calls += 1
        case.call_and_validate(base_url=api, headers=headers, checks=CHECKS)

    run()
    return calls


def test_no_server_errors_in_any_shop_service(running: tuple[str, dict[str, str], str], record_property: Any) -> None:
    base, headers, backend = running
    index = httpx.get(f"{base}/", timeout=10).json()
    assert index["system"] == "shop"
    failures: list[str] = []
    covered: dict[str, tuple[int, int]] = {}
    for service, links in sorted(index["services"].items()):
        schema = schemathesis.openapi.from_url(f"{base}{links['openapi']}")
        operations = calls = 0
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1
            try:
                made = exercise(operation, f"{base}{links['api']}", headers)
            except Exception as exc:  # every operation is tried; all failures are reported
                failures.append(f"{service} {operation.label}: {str(exc)[:2000]}")
                continue
            assert made >= 2, f"{service} {operation.label}: requests were generated"
            calls += made
        if operations:
            covered[service] = (operations, calls)
    assert set(covered) >= BUILT, covered
    assert sum(ops for ops, _ in covered.values()) >= 39
    assert not failures, "\n\n".join(failures)
    record_property(
        "summary",
        f"schemathesis shop ({backend}): "
        + "; ".join(f"{s} {ops} operations, {n} requests" for s, (ops, n) in covered.items())
        + "; no server error",
    )
