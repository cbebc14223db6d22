"""schemathesis against every service's OpenAPI document, on a real ``isles up``
process (demo data loaded, the operator's token): generated requests, valid and
invalid, a bounded number per operation; no answer may be a server error."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import schemathesis.specs.openapi.schemas  # (see below)
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests import support

# schemathesis imports its OpenAPI machinery lazily, on the first ``from_url``.
# pytest rewrites a plugin's modules as they are imported, and CPython 3.11.7's
# compiler raises "AST constructor recursion depth mismatch" when a finalizer
# (a garbage-collected connection an earlier test left) runs in the middle of
# that compile. Importing here, at collection, keeps the compile out of the test.

pytestmark = [pytest.mark.integration, pytest.mark.services("all")]
SERVICES = (
    "auth",
    "company",
    "employee",
    "project",
    "notification",
    "tasks",
    "presence",
    "leave",
    "document",
    "contract",
)
#: Examples per operation: bounded so the whole run stays within a minute or two.
EXAMPLES = 25
#: No server error, and every answer as documented: its status, content type and body.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    data: Path = tmp_path_factory.mktemp("schemathesis")
    gc.collect()  # finalize what earlier tests on this worker left, before schemathesis compiles anything
    with support.isles_up("--data-dir", str(data), timeout=120) as (_proc, base):
        yield base, support.AUTH[base]


@pytest.mark.parametrize("service", SERVICES)
def test_no_server_errors(service: str, running: tuple[str, dict[str, str]], record_property: Any) -> None:
    base, headers = running
    schema = schemathesis.openapi.from_url(f"{base}/api/{service}/openapi.json")
    failures: list[str] = []
    operations = calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate(base_url=f"{base}/api/{service}", headers=headers, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # every operation is tried; all failures are reported
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    assert operations > 0
    assert calls >= operations * 2, "requests were generated for every operation"
    assert not failures, "\n\n".join(failures)
    record_property("summary", f"schemathesis {service}: {operations} operations, {calls} requests, no server error")
