"""Every route of the analytics service, one router: the figures and reports of
``api``, and the figures of the read models that have a module of their own (they use
``api``'s helpers, so they are included here rather than there)."""

from __future__ import annotations

from fastapi import APIRouter

from hrms.services.analytics import api, attendance_api, balances_api, sagas_api

router = APIRouter()
for part in (api.router, balances_api.router, sagas_api.router, attendance_api.router):
    router.include_router(part)
