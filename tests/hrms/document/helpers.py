"""Building blocks of the document tests: a company with an admin, a manager, their
report and a colleague in another department (each with a login), and uploads
through the public API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from isles import ACROSS_TENANTS
from isles.runtime.system import SystemRuntime
from isles.storage.schema import outbox_table
from tests.hrms.helpers import headers_of, new_company, ok, user_with_password

DOCS = "/api/document/documents"
PDF = b"%PDF-1.7\n" + b"a contract, in a few bytes\n" * 40 + b"%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@dataclass
class Office:
    company: str
    admin: dict[str, Any]
    manager: dict[str, Any]
    worker: dict[str, Any]
    colleague: dict[str, Any]
    department: str
    as_admin: dict[str, str]
    as_manager: dict[str, str]
    as_worker: dict[str, str]
    as_colleague: dict[str, str]


async def office(hrms: SystemRuntime, api: httpx.AsyncClient, name: str = "Paperwork") -> Office:
    """A company: an admin, a manager, a worker reporting to the manager, and a
    colleague (an employee of the Research department, reporting to no one)."""
    company = (await new_company(api, name))["id"]
    dept = ok(await api.post("/api/company/departments", json={"name": "Research", "company_id": company}), 201)
    admin = await user_with_password(api, company, "admin", first_name="Ad", last_name="Min")
    manager = await user_with_password(api, company, "manager", first_name="Grace", last_name="Hopper")
    worker = await user_with_password(
        api, company, "employee", first_name="Ada", last_name="Lovelace", manager_id=manager["id"]
    )
    colleague = await user_with_password(
        api, company, "employee", first_name="Alan", last_name="Turing", department_id=dept["id"]
    )
    await hrms.settle()  # the document service has heard of them
    return Office(
        company,
        admin,
        manager,
        worker,
        colleague,
        dept["id"],
        await headers_of(api, admin),
        await headers_of(api, manager),
        await headers_of(api, worker),
        await headers_of(api, colleague),
    )


async def upload(
    api: httpx.AsyncClient,
    headers: dict[str, str],
    content: bytes = PDF,
    media_type: str = "application/pdf",
    filename: str = "contract.pdf",
    **fields: Any,
) -> httpx.Response:
    """POST /documents as multipart/form-data (a file part and the fields)."""
    data = {"title": "Employment contract", "category": "contract", **fields}
    files = {"file": (filename, content, media_type)}
    return await api.post(DOCS, data={k: str(v) for k, v in data.items()}, files=files, headers=headers)


async def new_version(
    api: httpx.AsyncClient,
    headers: dict[str, str],
    document_id: str,
    content: bytes = PDF,
    media_type: str = "application/pdf",
    filename: str = "contract-v2.pdf",
) -> httpx.Response:
    files = {"file": (filename, content, media_type)}
    return await api.post(f"{DOCS}/{document_id}/versions", files=files, headers=headers)


async def document_events(hrms: SystemRuntime, document_id: str) -> list[tuple[str, dict[str, Any]]]:
    q = (
        select(outbox_table.c.event_type, outbox_table.c.payload)
        .where(outbox_table.c.aggregate_id == document_id)
        .order_by(outbox_table.c.id)
    )
    async with hrms["document"].db.read_session(tenant=ACROSS_TENANTS) as session:
        rows = (await session.execute(q)).all()
    return [(r.event_type, json.loads(r.payload)["data"]) for r in rows]


def fields(r: httpx.Response) -> list[str]:
    return [e["field"] for e in r.json().get("errors", [])]
