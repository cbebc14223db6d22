"""Request bodies of the company API."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50, pattern=r"^[0-9+() .\-]*$")]


class CompanyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    description: Text | None = None
    industry: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    size: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)] | None = None
    website: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] | None = None
    phone: Phone | None = None
    address: Text | None = None


class HeadcountChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delta: Annotated[int, Field(ge=-10_000, le=10_000, description="Employees joining (+) or leaving (-).")]
