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

from hrms.system import build as build_hrms
from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import PASSWORD, bearer, default_company, new_employee, ok, user_with_password

pytestmark = [pytest.mark.integration, pytest.mark.services("all")]
SERVICES = tuple(s.name for s in build_hrms().services)  # every service of the system
#: Routes without a bearer token: logging in, and a saga step's callback (it carries
#: the step's own callback token instead).
PUBLIC = {
    ("post", "/login"),
    ("post", "/refresh"),
    ("post", "/password/forgot"),
    ("post", "/password/set"),
    ("get", "/password/set"),
    ("post", "/sagas/{saga_id}/steps/{step}/callback"),
}


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


async def test_swagger_authorize_logs_in_with_the_password_flow(api: httpx.AsyncClient) -> None:
    """Issue 15, 6: Authorize offers OAuth 2's password flow at /api/auth/login, and the
    login answers the form Swagger UI posts with a token the other services take."""
    for name, doc in (await _documents(api)).items():
        schemes = doc["components"]["securitySchemes"]
        assert schemes["password"]["flows"] == {"password": {"tokenUrl": "/api/auth/login", "scopes": {}}}, name
        for method, path, op in _operations(doc):
            if op.get("security"):
                assert op["security"] == [{"bearer": []}, {"password": []}], f"{name} {method} {path}"
    login_body = (await _documents(api))["auth"]["paths"]["/login"]["post"]["requestBody"]["content"]
    assert set(login_body) == {"application/json", "application/x-www-form-urlencoded"}
    assert set(login_body["application/x-www-form-urlencoded"]["schema"]["required"]) == {"username", "password"}

    company = await default_company(api)
    user = await user_with_password(api, company, role="manager")
    form = {"grant_type": "password", "username": user["email"], "password": PASSWORD, "scope": ""}
    token = ok(await api.post("/api/auth/login", data=form))
    assert token["token_type"] == "Bearer"
    me = ok(await api.get("/api/auth/me", headers=bearer(token["access_token"])))
    assert me["user"]["email"] == user["email"]
    assert ok(await api.get("/api/employee/employees", headers=bearer(token["access_token"])))["total"] >= 0

    wrong = await api.post("/api/auth/login", data={**form, "password": "not the password at all"})
    assert wrong.status_code == 401, wrong.text
    grant = await api.post("/api/auth/login", data={**form, "grant_type": "client_credentials"})
    _refused(grant, "grant_type")
    missing = await api.post("/api/auth/login", data={"grant_type": "password", "password": PASSWORD})
    _refused(missing, "username")
    extra = await api.post("/api/auth/login", data={**form, "role": "admin"})
    _refused(extra, "role")
    plain = await api.post("/api/auth/login", content=b"hello", headers={"content-type": "text/plain"})
    assert plain.status_code == 415, plain.text
    malformed = await api.post("/api/auth/login", content=b"{", headers={"content-type": "application/json"})
    assert malformed.status_code == 400, malformed.text
    as_json = ok(await api.post("/api/auth/login", json={"email": user["email"], "password": PASSWORD}))
    assert as_json["access_token"]
    bad_email = await api.post("/api/auth/login", json={"email": "nope", "password": "x"})
    _refused(bad_email, "email")


def _refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field, response.text


#: Problems carry a whole-document example of their own (``example``, as RFC 9457 shows).
PLATFORM_SCHEMAS = {"Problem", "FieldError"}


def _target(ref: str, schemas: dict[str, Any]) -> dict[str, Any]:
    target: dict[str, Any] = schemas[ref.removeprefix("#/components/schemas/")]
    return target


def _needs_none(prop: dict[str, Any], schemas: dict[str, Any]) -> bool:
    """A boolean, an enum or a constant: Swagger UI's own example is a real value."""
    if "$ref" in prop:
        prop = _target(prop["$ref"], schemas)
    return prop.get("type") in ("boolean", "null") or "enum" in prop or "const" in prop


def _has_example(prop: dict[str, Any], schemas: dict[str, Any]) -> bool:
    if "examples" in prop or _needs_none(prop, schemas):
        return True
    if "$ref" in prop:
        return "examples" in _target(prop["$ref"], schemas)
    if "anyOf" in prop:
        return all(_has_example(branch, schemas) for branch in prop["anyOf"])
    if prop.get("type") == "array" and "$ref" in prop.get("items", {}):
        return _has_example(prop["items"], schemas)
    return False


def _nullable(prop: dict[str, Any]) -> bool:
    return prop.get("type") == "null" or any(branch.get("type") == "null" for branch in prop.get("anyOf", []))


def _validator(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """What an example of ``schema`` must pass. A model's example may leave out a field
    that may be null: the document cannot show a null (FastAPI leaves None out)."""
    properties = schema.get("properties", {})
    required = [field for field in schema.get("required", []) if not _nullable(properties.get(field, {}))]
    relaxed = {**schema, "required": required} if "required" in schema else schema
    return jsonschema_rs.validator_for({**relaxed, "components": components}, validate_formats=True)


def _with_examples(schema: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    """Every (sub)schema of ``schema`` that gives examples, with where it is."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(schema, dict):
        if "examples" in schema:
            found.append((where, schema))
        for key, value in schema.items():
            if key != "examples":
                found += _with_examples(value, f"{where}.{key}")
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            found += _with_examples(value, f"{where}[{i}]")
    return found


async def test_every_model_has_real_examples_that_are_valid(api: httpx.AsyncClient) -> None:
    """Issue 15, 7: Swagger UI's example bodies read like real HR data, not values made up
    from a type or a regular expression: every field of every request and response model
    has an example (its own, or in its model's example, or that of the model it refers
    to; a boolean or an enum needs none), and every example is valid where it stands (so
    what Swagger UI sends with "Try it out" passes validation)."""
    docs = await _documents(api)
    missing: list[str] = []
    invalid: list[str] = []
    checked = 0
    for name, doc in docs.items():
        schemas: dict[str, Any] = doc["components"]["schemas"]
        models = {title: schema for title, schema in schemas.items() if title not in PLATFORM_SCHEMAS}
        for method, path, op in _operations(doc):  # a body written in the route, not a component
            inline = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if "properties" in inline:
                models[f"{method.upper()} {path}"] = inline
        for title, schema in models.items():
            model_examples = schema.get("examples", [])
            properties: dict[str, Any] = schema.get("properties", {})
            for field, prop in properties.items():
                checked += 1
                if not (_has_example(prop, schemas) or any(field in example for example in model_examples)):
                    missing.append(f"{name} {title}.{field}")
        for where, sub in _with_examples({**schemas, **models}, name):
            validator = _validator(sub, doc["components"])
            for example in sub["examples"]:
                errors = [e.message for e in validator.iter_errors(example)]
                if errors:
                    invalid.append(f"{where}: {example!r}: {errors}")
    assert checked > 200
    assert not missing, "fields without an example:\n" + "\n".join(missing)
    assert not invalid, "examples their own schema refuses:\n" + "\n".join(invalid)
