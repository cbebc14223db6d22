"""The wait for a decision is durable: the system stops mid-wait (after the manager's
first-level approval of a two-level request), a new one starts on the same
databases, and the approval goes on where it stood."""

from __future__ import annotations

import pytest

from hrms.system import build as build_hrms
from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import headers_of, ok
from tests.hrms.leave.helpers import LEAVE, allocate, balance, leave_events, leave_type, request, team
from tests.support import Backend, Templates

pytestmark = [pytest.mark.integration, pytest.mark.services("leave")]


async def test_an_approval_survives_a_restart(backend: Backend, templates: Templates) -> None:
    system = build_hrms()
    await templates.clone(system, backend)
    first = SystemRuntime(system, backend.settings, environ={})
    await first.start()
    try:
        async with first.client() as api:
            t = await team(first, api)
            sabbatical = await leave_type(api, t.company, "Sabbatical", approval_levels=2)
            await allocate(api, t.worker, sabbatical)
            r = ok(await request(api, sabbatical, "2030-09-02", "2030-09-06", t.as_worker), 201)
            ok(await api.post(f"{LEAVE}/requests/{r['id']}/approve", headers=t.as_manager))
    finally:
        await first.stop()

    second = SystemRuntime(build_hrms(), backend.settings, environ={})
    await second.start()
    try:
        async with second.client() as api:
            as_admin = await headers_of(api, t.admin)
            waiting = ok(await api.get(f"{LEAVE}/requests/{r['id']}", headers=as_admin))
            assert (waiting["status"], waiting["level"]) == ("PENDING", 2)
            done = ok(await api.post(f"{LEAVE}/requests/{r['id']}/approve", headers=as_admin))
            assert done["status"] == "APPROVED"
            assert [a["level"] for a in done["approvals"]] == [1, 2]
            assert (await balance(api, t.worker, sabbatical))["taken"] == 5
            kinds = [e for e, _ in await leave_events(second, r["id"])]
            assert kinds == ["leave.LeaveRequested", "leave.LeaveRequested", "leave.LeaveApproved"]
    finally:
        await second.stop()
        backend.drop_later(second.services)
