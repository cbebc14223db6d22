"""The permission matrix of the HR system: which role may do what.

The auth service keeps it as data (``roles``, ``permissions``, ``role_permissions``,
seeded from this table by its migration) and writes the permissions of a user's roles
into the user's access token; each service checks the one permission a route needs in
its ``deps.py``. Narrower rules (an employee sees only their own record, a manager
only their team's) are each service's scope rules, also in its ``deps.py``.

Services' own calls carry the permissions the service declares it needs; the
operator (``isles token``) has all of them.
"""

from __future__ import annotations

from typing import Literal

ADMIN, MANAGER, EMPLOYEE = "admin", "manager", "employee"
RoleName = Literal["admin", "manager", "employee"]
ROLES = {
    ADMIN: "Administers one company: its users, structure, employees and projects.",
    MANAGER: "Leads a team or department: manages its people and projects.",
    EMPLOYEE: "Sees the company, their own record and their own assignments.",
}

#: permission -> (description, roles holding it)
MATRIX: dict[str, tuple[str, tuple[str, ...]]] = {
    "companies:read": ("Read the own company, its settings, departments and teams", (ADMIN, MANAGER, EMPLOYEE)),
    "companies:write": ("Change the own company, its settings, departments and teams", (ADMIN,)),
    "teams:write": ("Change team memberships", (ADMIN, MANAGER)),
    "users:read": ("Read the company's users", (ADMIN, MANAGER)),
    "users:write": ("Create (sign up), change and deactivate users", (ADMIN,)),
    "roles:assign": ("Give users roles", (ADMIN,)),
    "sessions:revoke": ("Revoke other users' sessions", (ADMIN,)),
    "employees:read": ("Read employees (an employee: only themself)", (ADMIN, MANAGER, EMPLOYEE)),
    "employees:write": ("Create, change and deactivate employees (a manager: their team's)", (ADMIN, MANAGER)),
    "profiles:write": ("Change employee profiles (an employee: their own)", (ADMIN, MANAGER, EMPLOYEE)),
    "projects:read": ("Read projects", (ADMIN, MANAGER, EMPLOYEE)),
    "projects:write": ("Create, change and complete projects", (ADMIN, MANAGER)),
    "assignments:read": ("Read assignments (an employee: their own)", (ADMIN, MANAGER, EMPLOYEE)),
    "assignments:write": ("Assign employees to projects and remove them", (ADMIN, MANAGER)),
    "notifications:read": ("Read notifications (an employee: their own)", (ADMIN, MANAGER, EMPLOYEE)),
    "templates:write": ("Change notification templates", (ADMIN,)),
    "sagas:read": ("Read the company's sagas", (ADMIN,)),
    "sagas:retry": ("Retry a saga (an operator's go-ahead)", (ADMIN,)),
    "leave:read": (
        "Read leave types, calendars, balances and requests (an employee: their own)",
        (ADMIN, MANAGER, EMPLOYEE),
    ),
    "leave:request": ("Request leave and cancel one's own requests", (ADMIN, MANAGER, EMPLOYEE)),
    "leave:approve": ("Approve or reject leave requests (a manager: their reports')", (ADMIN, MANAGER)),
    "leave:manage": ("Manage leave types, work weeks, holidays, allocations and adjustments; run accruals", (ADMIN,)),
    "presence:read": (
        "Read check-ins and attendance (an employee: their own; a manager: their reports')",
        (ADMIN, MANAGER, EMPLOYEE),
    ),
    "presence:checkin": ("Check in and out (oneself) by web, mobile or NFC tag", (ADMIN, MANAGER, EMPLOYEE)),
    "presence:manage": (
        "Manage places, NFC tags, shifts and their assignments; correct check-ins; compute days",
        (ADMIN,),
    ),
    "tasks:read": ("Read tasks (an employee: those they created or are assigned)", (ADMIN, MANAGER, EMPLOYEE)),
    "tasks:write": (
        "Create, assign and progress tasks (an employee: those they created or are assigned)",
        (ADMIN, MANAGER, EMPLOYEE),
    ),
    "documents:read": (
        "Read documents (an employee: their own and those granted; a manager: also their reports' by category)",
        (ADMIN, MANAGER, EMPLOYEE),
    ),
    "documents:write": (
        "Upload documents and new versions, change and delete them (others than admins: their own or granted)",
        (ADMIN, MANAGER, EMPLOYEE),
    ),
    "documents:manage": ("Grant access to documents; review a deactivated employee's documents", (ADMIN,)),
    "contracts:read": (
        "Read employment contracts and their history (an employee: their own; a manager: their reports')",
        (ADMIN, MANAGER, EMPLOYEE),
    ),
    "contracts:write": ("Create, change, activate, terminate contracts; run the contract job", (ADMIN,)),
    "reports:read": (
        "Read headcount, turnover, leave and other figures (a manager: their department's)",
        (ADMIN, MANAGER),
    ),
    "reports:write": ("Define, schedule and run reports; rebuild the analytics read models", (ADMIN,)),
}

#: What only the operator may do (no role holds it): create companies.
OPERATOR_ONLY = {"companies:create": "Create companies (tenants)"}
#: What no role holds, granted to a service's own calls (and the operator): a user's
#: one-time set-password link, which only the mail the notification service sends carries.
SERVICE_ONLY = {"users:invite": "Get a user's one-time set-password link (the notification service)"}


def permissions_of(roles: set[str] | frozenset[str]) -> list[str]:
    return sorted(p for p, (_d, holders) in MATRIX.items() if roles & set(holders))
