"""Demo data for a first start, created through the public APIs like any client would."""

from __future__ import annotations

import httpx

_PEOPLE = [
    ("E-1001", "Ada", "Lovelace", "Engineering lead"),
    ("E-1002", "Grace", "Hopper", "Architect"),
    ("E-1003", "Alan", "Turing", "Data scientist"),
    ("E-1004", "Katherine", "Johnson", "Analyst"),
    ("E-1005", "Edsger", "Dijkstra", "Backend engineer"),
    ("E-1006", "Barbara", "Liskov", "Backend engineer"),
]
_PROJECTS = [("Payroll revamp", "Internal", 4), ("Atlas onboarding", "Atlas Corp", 3), ("Mobile app", "Orion Ltd", 2)]
_ASSIGN = [
    (0, 0, "Lead", 50),
    (1, 0, "Architect", 30),
    (4, 0, "Developer", 100),
    (2, 1, "Analyst", 50),
    (3, 1, "Analyst", 50),
    (5, 2, "Developer", 80),
    (0, 2, "Reviewer", 20),
    (1, 1, "Advisor", 10),
]


def _ok(response: httpx.Response) -> dict[str, object]:
    response.raise_for_status()
    body: dict[str, object] = response.json()
    return body


async def load(client: httpx.AsyncClient) -> list[str]:
    """Load the demo data unless the system already holds employees. Returns what to print."""
    existing = _ok(await client.get("/api/employee/employees", params={"limit": 1}))
    if existing["total"]:
        return []
    company = _ok(await client.post("/api/company/companies", json={"name": "Acme Corp", "industry": "Software"}))
    employees = []
    for number, first, last, position in _PEOPLE:
        # Each goes through the CreateEmployee saga: a user in auth, the employee, headcount + 1.
        body: dict[str, object] = {
            "employee_number": number,
            "company_id": company["id"],
            "first_name": first,
            "last_name": last,
            "email": f"{first}.{last}@example.com".lower(),
            "position": position,
            "hire_date": "2024-01-15",
        }
        employees.append(_ok(await client.post("/api/employee/employees", json=body)))
    projects = [
        _ok(await client.post("/api/project/projects", json={"name": n, "client": c, "capacity": cap}))
        for n, c, cap in _PROJECTS
    ]
    for e, p, role, allocation in _ASSIGN:
        assignment: dict[str, object] = {
            "employee_id": employees[e]["id"],
            "project_id": projects[p]["id"],
            "role": role,
            "allocation": allocation,
            "start_date": "2025-01-01",
        }
        _ok(await client.post("/api/project/assignments", json=assignment))
    return [
        f"demo data: company {company['name']}, {len(employees)} employees (and their users), "
        f"{len(projects)} projects, {len(_ASSIGN)} assignments"
    ]
