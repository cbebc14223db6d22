"""Example values of the API documents: what Swagger UI shows in its example bodies.

One small world, the same in every service's document: Ada Lovelace, an engineer at
Acme Corp (hired 2025-03-01, in Engineering, reporting to Grace Hopper), on the project
Apollo Guidance. Only documentation: no code path reads these values.

A document cannot show a null (FastAPI leaves ``None`` out of it): a model's example
leaves a field that is null out, and the field has an example of its own.
"""

from __future__ import annotations

from pydantic.config import JsonDict

COMPANY_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
USER_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
EMPLOYEE_ID = "5b1f3c2e-8d4a-4e6b-9f0a-2c7d1e8b4a93"
MANAGER_ID = "9a4e2d71-3b5c-4f8e-a6d2-1e7c0b9f5a34"
DEPARTMENT_ID = "c56a4180-65aa-42ec-a945-5fd21dec0538"
TEAM_ID = "e2b7d9a4-1c3f-4a5e-8b6d-0f9c2a7e4b15"
PROJECT_ID = "1d8f4b6a-2e9c-4d7b-b3a5-6c0e8f2d9a71"
ASSIGNMENT_ID = "f47ac10b-58cc-4372-a567-0e02b2c3d479"
SESSION_ID = "2c4e6a8b-0d1f-4a3c-9e5b-7d9f1b3c5e70"
NOTIFICATION_ID = "8e2a6c4f-b1d3-4e5a-9c7b-3f1d5a9e2c68"

COMPANY = "Acme Corp"
COMPANY_DESCRIPTION = "Precision instruments and guidance software since 1843."
COMPANY_ADDRESS = "12 Analytical Row, London EC1A 1BB, United Kingdom"
WEBSITE = "https://acme.example.com"
FIRST_NAME, LAST_NAME = "Ada", "Lovelace"
EMAIL = "ada.lovelace@example.com"
PHONE = "+44 20 7946 0958"
POSITION = "Engineer"
DEPARTMENT = "Engineering"
DEPARTMENT_DESCRIPTION = "Builds and runs the guidance software."
TEAM = "Platform"
TEAM_DESCRIPTION = "The services every product runs on."
MANAGER = "Grace Hopper"
PROJECT = "Apollo Guidance"
CLIENT = "NASA"
ROLE = "Engineer"
PASSWORD = "correct-horse-battery-staple"

HIRE_DATE = "2025-03-01"
START_DATE = "2025-03-01"
END_DATE = "2025-12-31"
CREATED_AT = "2025-03-01T09:00:00Z"
UPDATED_AT = "2025-03-14T16:30:00Z"

#: Ada's user, as the auth service shows it (a ``UserView``, and the ``user`` of ``/me``).
USER: JsonDict = {
    "id": USER_ID,
    "email": EMAIL,
    "first_name": FIRST_NAME,
    "last_name": LAST_NAME,
    "company_id": COMPANY_ID,
    "roles": ["employee"],
    "is_active": True,
    "pending": False,
    "email_verified": True,
    "version": 3,
    "created_at": CREATED_AT,
    "updated_at": UPDATED_AT,
}
