"""Demo data for a first start (seed 004's "Seeding": two companies, 4 teams, an
admin, a manager and employees in each), created through the public APIs as the
operator.

The admins' and managers' password is made on first start, printed, and kept in
``<data dir>/demo-credentials.txt``; nothing secret lives in the repository.
"""

from __future__ import annotations

import secrets

import httpx

from hrms.services.leave import demo as leave_demo
from hrms.services.presence import demo as presence_demo
from hrms.services.tasks import demo as tasks_demo

#: The workforce services' demo data (seed 004's sample records per service), loaded
#: after the companies and their people: ``load(client, companies) -> lines``.
WORKFORCE = {"tasks": tasks_demo.load, "leave": leave_demo.load, "presence": presence_demo.load}

# (number, first, last, position, role)
_COMPANIES: dict[str, tuple[str, list[tuple[str, str, str, str, str]]]] = {
    "Acme Corp": (
        "acme.example.com",
        [
            ("E-1001", "Ada", "Lovelace", "Engineering lead", "admin"),
            ("E-1002", "Grace", "Hopper", "Architect", "manager"),
            ("E-1003", "Alan", "Turing", "Data scientist", "employee"),
            ("E-1004", "Katherine", "Johnson", "Analyst", "employee"),
            ("E-1005", "Edsger", "Dijkstra", "Backend engineer", "employee"),
            ("E-1006", "Barbara", "Liskov", "Backend engineer", "employee"),
        ],
    ),
    "Globex Ltd": (
        "globex.example.com",
        [
            ("G-2001", "Hedy", "Lamarr", "Managing director", "admin"),
            ("G-2002", "Claude", "Shannon", "Research manager", "manager"),
            ("G-2003", "Frances", "Allen", "Compiler engineer", "employee"),
        ],
    ),
}
# department per company; its manager is the company's manager (index 1)
_DEPARTMENTS = {"Acme Corp": ["Engineering", "Analytics"], "Globex Ltd": ["Research"]}
# employee index -> department (the admin, index 0, is in none)
_IN_DEPARTMENT = {"Acme Corp": {1: 0, 2: 1, 3: 1, 4: 0, 5: 0}, "Globex Ltd": {1: 0, 2: 0}}
# (team, department, members by employee index); led by the company's manager
_TEAMS = {
    "Acme Corp": [("Platform", 0, [4, 5]), ("Data", 1, [2, 3])],
    "Globex Ltd": [("Compilers", 0, [2]), ("Signals", 0, [1])],
}
_PROJECTS = {
    "Acme Corp": [("Payroll revamp", "Internal", 4), ("Atlas onboarding", "Atlas Corp", 3), ("Mobile app", "Orion", 2)],
    "Globex Ltd": [("Signal lab", "Internal", 3)],
}
_ASSIGN = {
    "Acme Corp": [
        (0, 0, "Lead", 50),
        (1, 0, "Architect", 30),
        (4, 0, "Developer", 100),
        (2, 1, "Analyst", 50),
        (3, 1, "Analyst", 50),
        (5, 2, "Developer", 80),
        (0, 2, "Reviewer", 20),
        (1, 1, "Advisor", 10),
    ],
    "Globex Ltd": [(1, 0, "Lead", 50), (2, 0, "Engineer", 100)],
}
#: How many employees and teams the demo data holds (tests read it).
EMPLOYEES = sum(len(people) for _d, people in _COMPANIES.values())
TEAMS = sum(len(teams) for teams in _TEAMS.values())


def _ok(response: httpx.Response) -> dict[str, object]:
    response.raise_for_status()
    body: dict[str, object] = response.json()
    return body


async def load(client: httpx.AsyncClient) -> list[str]:
    """Load the demo data unless the system already holds employees. Returns what to print."""
    existing = _ok(await client.get("/api/employee/employees", params={"limit": 1}))
    if existing["total"]:
        return []
    password = "demo-" + secrets.token_urlsafe(12)
    logins: list[str] = []
    totals = [0, 0, 0, 0]
    made: list[dict[str, object]] = []
    for company_name, (domain, people) in _COMPANIES.items():
        company = _ok(await client.post("/api/company/companies", json={"name": company_name, "industry": "Software"}))
        made.append(company)
        employees: list[dict[str, object]] = []
        departments = [
            _ok(await client.post("/api/company/departments", json={"name": n, "company_id": company["id"]}))
            for n in _DEPARTMENTS[company_name]
        ]
        roles_with_login: set[str] = set()
        for i, (number, first, last, position, role) in enumerate(people):
            # Each goes through the CreateEmployee saga: a user in auth, then the employee.
            department = _IN_DEPARTMENT[company_name].get(i)
            body: dict[str, object] = {
                "employee_number": number,
                "company_id": company["id"],
                "first_name": first,
                "last_name": last,
                "email": f"{first}.{last}@{domain}".lower(),
                "position": position,
                "hire_date": "2024-01-15",
                "roles": [role],
                "department_id": departments[department]["id"] if department is not None else None,
                "manager_id": employees[1]["id"] if i > 1 else None,  # everyone reports to the manager
            }
            employee = _ok(await client.post("/api/employee/employees", json=body))
            employees.append(employee)
            if role not in roles_with_login:  # the admin, the manager and one employee per company
                roles_with_login.add(role)
                reset = {"new_password": password}
                (await client.post(f"/api/auth/users/{employee['user_id']}/password", json=reset)).raise_for_status()
                logins.append(f"{role:<8} {body['email']}  ({company_name})")
        manager = employees[1]["id"]
        for dept in departments:
            _ok(await client.patch(f"/api/company/departments/{dept['id']}", json={"manager_id": manager}))
        for team_name, d, members in _TEAMS[company_name]:
            team = _ok(
                await client.post(
                    "/api/company/teams",
                    json={
                        "name": team_name,
                        "department_id": departments[d]["id"],
                        "lead_id": manager,
                        "company_id": company["id"],
                    },
                )
            )
            for m in members:
                _ok(await client.put(f"/api/company/teams/{team['id']}/members/{employees[m]['id']}", json={}))
        projects = [
            _ok(
                await client.post(
                    "/api/project/projects", json={"name": n, "client": c, "capacity": cap, "company_id": company["id"]}
                )
            )
            for n, c, cap in _PROJECTS[company_name]
        ]
        for e, p, role_name, allocation in _ASSIGN[company_name]:
            assignment: dict[str, object] = {
                "employee_id": employees[e]["id"],
                "project_id": projects[p]["id"],
                "role": role_name,
                "allocation": allocation,
                "start_date": "2025-01-01",
            }
            _ok(await client.post("/api/project/assignments", json=assignment))
        teams = len(_TEAMS[company_name])
        totals = [totals[0] + 1, totals[1] + len(employees), totals[2] + len(projects), totals[3] + teams]
    more: list[str] = []
    for service, load_more in WORKFORCE.items():
        # Their services learn of the new people from events: where events do not flow
        # (a relay paused, say), their demo data is skipped, not the start.
        try:
            more += await load_more(client, made)
        except (httpx.HTTPError, RuntimeError) as exc:
            more.append(f"  {service}: demo data skipped ({str(exc).splitlines()[0]})")
    return [
        f"demo data: {totals[0]} companies, {totals[3]} teams, {totals[1]} employees (and their users), "
        f"{totals[2]} projects",
        *more,
        f"log in (POST /api/auth/login) with password {password} as:",
        *(f"    {line}" for line in logins),
    ]
