"""schemathesis against the product service's document, on a real ``isles up --system
shop`` process (the demo catalogue loaded, the operator's token): generated requests,
valid and invalid, a bounded number per operation; no server error, every answer as
documented (status, content type, body)."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
EXAMPLES = 20
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    data: Path = tmp_path_factory.mktemp("schemathesis-product")
    gc.collect()
    env = {**os.environ, "ISLES_SYSTEM": "shop"}
    with support.isles_up("--data-dir", str(data), env=env, timeout=120) as (_proc, base):
        yield base, support.AUTH[base]


def test_no_server_errors(running: tuple[str, dict[str, str]], record_property: Any) -> None:
    base, headers = running
    schema = schemathesis.openapi.from_url(f"{base}/api/product/openapi.json")
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
            case.call_and_validate(base_url=f"{base}/api/product", headers=headers, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # every operation is tried; all failures are reported
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    assert operations == 22
    assert calls >= operations * 2
    assert not failures, "\n\n".join(failures)
    record_property("summary", f"schemathesis product: {operations} operations, {calls} requests, no server error")
