"""The shop's order service — a placeholder until issue 18 builds it: no tables, no routes."""

from __future__ import annotations

from fastapi import APIRouter

from isles import Service, new_metadata


def build() -> Service:
    return Service(
        name="order",
        metadata=new_metadata(),
        router=APIRouter(),
        migrations=None,
        description="(placeholder)",
        permissions=("stock:write",),
    )
