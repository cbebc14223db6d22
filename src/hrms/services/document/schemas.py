"""Request and response bodies of the document API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, model_validator

from hrms.contracts import examples as ex
from hrms.contracts.document import Category
from isles import field_error

DOCUMENT_ID = "a3d5f7b9-1c2e-4f60-8a1b-2c3d4e5f6a7b"
GRANT_ID = "b4e6a8c0-2d3f-4a71-9b2c-3d4e5f6a7b8c"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Day = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2200, 12, 31))]
TITLE = Field(description="What the document is.", examples=["Employment contract 2025"])
CATEGORY = Field(description="contract, id, certificate, policy, payslip or other.", examples=["contract"])
EXPIRES = Field(default=None, description="When it expires (reminders 30 and 7 days before).", examples=["2026-02-28"])
OWNER = Field(
    default=None, description="Whose document it is (none: the company's, such as a policy).", examples=[ex.EMPLOYEE_ID]
)


class DocumentFields(BaseModel):
    """The metadata fields of an upload that creates a document (multipart fields, or query parameters)."""

    model_config = ConfigDict(extra="forbid")

    company_id: uuid.UUID | None = Field(
        default=None, description="Default: the caller's company.", examples=[ex.COMPANY_ID]
    )
    title: Title = TITLE
    category: Category = CATEGORY
    employee_id: uuid.UUID | None = OWNER
    expires_on: Day | None = EXPIRES


class DocumentUpdate(BaseModel):
    """Changes of a document's metadata (the content changes by a new version)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"title": "Employment contract 2026", "expires_on": "2027-02-28"}]},
    )

    title: Title | None = Field(default=None, description="What the document is.", examples=["Passport"])
    category: Category | None = Field(default=None, description="Its category.", examples=["id"])
    expires_on: Day | None = EXPIRES

    @model_validator(mode="after")
    def _not_null(self) -> Self:
        for name in ("title", "category"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise field_error(name, f"{name} cannot be null")
        return self


_VERSION: dict[str, JsonValue] = {
    "number": 2,
    "filename": "contract.pdf",
    "size": 48213,
    "media_type": "application/pdf",
    "sha256": SHA256,
    "uploaded_by": ex.USER_ID,
    "uploaded_at": ex.CREATED_AT,
}
_DOCUMENT: dict[str, JsonValue] = {
    "id": DOCUMENT_ID,
    "company_id": ex.COMPANY_ID,
    "employee_id": ex.EMPLOYEE_ID,
    "title": "Employment contract 2025",
    "category": "contract",
    "expires_on": "2026-02-28",
    "current_version": 2,
    "created_by": ex.USER_ID,
    "created_at": ex.CREATED_AT,
    "updated_at": ex.CREATED_AT,
}


class VersionView(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_VERSION]})

    number: int = Field(examples=[2])
    filename: str = Field(examples=["contract.pdf"])
    size: int = Field(description="Bytes.", examples=[48213])
    media_type: str = Field(examples=["application/pdf"])
    sha256: str = Field(description="The content's SHA-256 (its ETag).", examples=[SHA256])
    uploaded_by: uuid.UUID | None = Field(examples=[ex.USER_ID])
    uploaded_at: datetime = Field(examples=[ex.CREATED_AT])


class DocumentView(BaseModel):
    model_config = ConfigDict(
        from_attributes=True, json_schema_extra={"examples": [{**_DOCUMENT, "current": _VERSION}]}
    )

    id: uuid.UUID = Field(examples=[DOCUMENT_ID])
    company_id: uuid.UUID = Field(examples=[ex.COMPANY_ID])
    employee_id: uuid.UUID | None = Field(examples=[ex.EMPLOYEE_ID])
    title: str = Field(examples=["Employment contract 2025"])
    category: Category = Field(examples=["contract"])
    expires_on: date | None = Field(examples=["2026-02-28"])
    current_version: int = Field(examples=[2])
    created_by: uuid.UUID | None = Field(examples=[ex.USER_ID])
    deleted_at: datetime | None = Field(examples=[None])
    created_at: datetime = Field(examples=[ex.CREATED_AT])
    updated_at: datetime = Field(examples=[ex.CREATED_AT])
    current: VersionView | None = Field(default=None, description="The current version (on a single document).")


class HistoryView(BaseModel):
    """A version of a document's metadata and the period it was valid in."""

    values: dict[str, Any] = Field(examples=[{"title": "Employment contract 2025", "category": "contract"}])
    valid_from: datetime | None = Field(examples=[ex.CREATED_AT])
    valid_to: datetime | None = Field(description="None: the current version.", examples=["2025-06-01T12:00:00Z"])
    changed_by: str | None = Field(examples=[f"user:{ex.USER_ID}"])
    change_reason: str | None = Field(examples=["PATCH /documents/" + DOCUMENT_ID])
    operation: str | None = Field(description="update or delete: what ended the version.", examples=["update"])


class GrantCreate(BaseModel):
    """A grant of ``read`` or ``write`` to exactly one of an employee, a role or a department."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"access": "read", "employee_id": ex.EMPLOYEE_ID}]}
    )

    access: Literal["read", "write"] = Field(description="read, or write (which includes read).")
    employee_id: uuid.UUID | None = Field(default=None, examples=[ex.EMPLOYEE_ID])
    role: Literal["admin", "manager", "employee"] | None = Field(default=None, description="A role of the company.")
    department_id: uuid.UUID | None = Field(default=None, examples=[ex.DEPARTMENT_ID])

    def grantees(self) -> list[str]:
        """The grantee fields given (exactly one is right; checked once the document is found)."""
        return [n for n in ("employee_id", "role", "department_id") if getattr(self, n) is not None]


class GrantView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID = Field(examples=[GRANT_ID])
    document_id: uuid.UUID = Field(examples=[DOCUMENT_ID])
    access: Literal["read", "write"] = Field(examples=["read"])
    employee_id: uuid.UUID | None = Field(examples=[ex.EMPLOYEE_ID])
    role: Literal["admin", "manager", "employee"] | None = Field(examples=["manager"])
    department_id: uuid.UUID | None = Field(examples=[ex.DEPARTMENT_ID])
    granted_by: uuid.UUID | None = Field(examples=[ex.USER_ID])
    created_at: datetime = Field(examples=[ex.CREATED_AT])


class ReviewView(DocumentView):
    """A document of a deactivated employee, for HR to review."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={"examples": [{**_DOCUMENT, "employee_name": "Ada Lovelace", "employee_email": ex.EMAIL}]},
    )

    employee_name: str = Field(examples=["Ada Lovelace"])
    employee_email: str = Field(examples=[ex.EMAIL])
