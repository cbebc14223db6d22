"""Issue 15, 6 and 7: each service's OpenAPI document is valid, says which routes need a
token (Swagger UI's Authorize), documents every error as the problem document the
routes really answer, and declares the headers the routes honour."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import jsonschema_rs
import pytest
from openapi_spec_validator import validate

from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import new_employee, ok

pytestmark = pytest.mark.integration
SERVICES = ("auth", "company", "employee", "project", "notification")
#: Routes without a bearer token: logging in, and a saga step's callback (it carries
#: the step's own callback token instead).
PUBLIC = {("post", "/login"), ("post", "/refresh"), ("post", "/sagas/{saga_id}/steps/{step}/callback")}


async def _documents(api: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    return {name: ok(await api.get(f"/api/{name}/openapi.json")) for name in SERVICES}


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in doc["paths"].items() for method, op in item.items()]


def _problem_validator(doc: dict[str, Any]) -> Any:
    schema = {**doc["components"]["schemas"]["Problem"], "components": doc["components"]}
    return jsonschema_rs.validator_for(schema)


async def test_every_document_is_valid_and_tells_its_security_and_problems(api: httpx.AsyncClient) -> None:
    for name, doc in (await _documents(api)).items():
        validate(doc)  # OpenAPI 3.1, with every $ref resolving
        schemes = doc["components"]["securitySchemes"]
        assert schemes["bearer"] == {
            "type": "http",
            "scheme": "bearer",
            "description": "An access token: POST /api/auth/login (a user) or `isles token` (the operator).",
        }
        text = str(doc)
        assert "HTTPValidationError" not in text, f"{name}: FastAPI's 422 shape is not what the service answers"
        for method, path, op in _operations(doc):
            where = f"{name} {method.upper()} {path}"
            secured = bool(op.get("security"))
            assert secured == ((method, path) not in PUBLIC), where
            errors = {int(code): r for code, r in op["responses"].items() if int(code) >= 400}
            if secured:
                assert {401, 403} <= set(errors), where
            if op.get("requestBody"):
                assert {400, 413, 415, 422} <= set(errors), where
            if "{" in path:
                assert 404 in errors, where
            for code, response in errors.items():
                content = response.get("content", {})
                assert list(content) == ["application/problem+json"], f"{where} {code}"
                assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}


async def test_the_headers_the_routes_honour_are_declared(api: httpx.AsyncClient) -> None:
    docs = await _documents(api)
    patch = docs["employee"]["paths"]["/employees/{employee_id}"]["patch"]
    assert "If-Match" in {p["name"] for p in patch["parameters"] if p["in"] == "header"}
    assert "412" in patch["responses"]
    hire = docs["employee"]["paths"]["/employees"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in hire["parameters"] if p["in"] == "header"}
    headers = {p["name"] for doc in docs.values() for _m, _p, op in _operations(doc) for p in op.get("parameters", [])}
    assert "Isles-Compensates" not in headers, "a saga's internal header is no parameter of the documents"


async def test_the_documented_problem_is_what_the_routes_answer(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    docs = await _documents(api)
    problem = _problem_validator(docs["employee"])
    employee = await new_employee(api)
    url = f"/api/employee/employees/{employee['id']}"
    answers = {
        401: await api.get(url, headers={"Authorization": ""}),
        404: await api.get(f"/api/employee/employees/{uuid.uuid4()}"),
        412: await api.patch(url, json={"position": "X"}, headers={"If-Match": '"999"'}),
        415: await api.post("/api/employee/employees", content=b"{}", headers={"content-type": "text/plain"}),
        422: await api.post("/api/employee/employees", json={"email": "nope"}),
        400: await api.post("/api/employee/employees", content=b"{", headers={"content-type": "application/json"}),
    }
    async with hrms.client(token=None) as anonymous:
        answers[401] = await anonymous.get(url)
    for status, answer in answers.items():
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        body = answer.json()
        assert problem.is_valid(body), (status, body)
        assert body["status"] == status


async def test_emails_and_phones_have_real_examples(api: httpx.AsyncClient) -> None:
    """Issue 15, 7 (in part): Swagger shows a usable example, not one built from a regular expression."""
    docs = await _documents(api)
    hire = docs["employee"]["components"]["schemas"]["EmployeeCreate"]["properties"]
    assert hire["email"]["examples"] == ["ada.lovelace@example.com"]
    assert hire["phone"]["anyOf"][0]["examples"] == ["+44 20 7946 0958"]
