"""schemathesis against the tasks service's OpenAPI document, as
tests/hrms/test_schemathesis.py does for the other services (its SERVICES list is
shared; this module runs the same test for ``tasks`` until the list names it)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.hrms import test_schemathesis as shared
from tests.hrms.test_schemathesis import running  # noqa: F401  (the real `isles up`, a module fixture)

pytestmark = pytest.mark.integration


def test_no_server_errors(running: tuple[str, dict[str, str]], record_property: Any) -> None:  # noqa: F811
    shared.test_no_server_errors("tasks", running, record_property)
