"""The employee follows their active contract (in-process system, SQLite and
PostgreSQL): position and salary reach the employee through contract events, an
older contract's event (or an older version) never overwrites a newer one, and a
PATCH of position or salary is refused while a contract is active."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest

from hrms.contracts.contract import ContractActivated, ContractChanged, ContractEnded
from isles.core.events import Envelope
from isles.runtime.system import SystemRuntime
from tests.hrms.contract.helpers import CONTRACTS, contract, fields
from tests.hrms.helpers import new_company, new_employee, ok
from tests.hrms.leave.helpers import team

pytestmark = [pytest.mark.integration, pytest.mark.services("contract")]
EMPLOYEES = "/api/employee/employees"
SOURCE = "/isles/contract"


async def test_salary_and_position_follow_the_active_contract(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    t = await team(hrms, api)
    c = await contract(api, t.worker, activate=True, position="Engineer", salary="60000.00")
    await hrms.settle()
    worker = ok(await api.get(f"{EMPLOYEES}/{t.worker['id']}"))
    assert (worker["position"], Decimal(worker["salary"]), worker["contract_id"]) == ("Engineer", 60000, c["id"])

    for change in ({"salary": "1.00"}, {"position": "CEO"}):
        r = await api.patch(f"{EMPLOYEES}/{t.worker['id']}", json=change)
        assert (r.status_code, fields(r)) == (409, list(change)), r.text
        assert c["id"] in r.json()["errors"][0]["message"]
    assert ok(await api.patch(f"{EMPLOYEES}/{t.worker['id']}", json={"phone": "+1 555"}))["phone"] == "+1 555"

    ok(await api.patch(f"{CONTRACTS}/{c['id']}", json={"salary": "65000.00", "position": "Senior Engineer"}))
    await hrms.settle()
    worker = ok(await api.get(f"{EMPLOYEES}/{t.worker['id']}"))
    assert (worker["position"], Decimal(worker["salary"])) == ("Senior Engineer", 65000)

    today = date.today().isoformat()
    ok(await api.post(f"{CONTRACTS}/{c['id']}/terminate", json={"date": today, "reason": "Left"}))
    await hrms.settle()
    worker = ok(await api.get(f"{EMPLOYEES}/{t.worker['id']}"))
    assert (worker["contract_id"], worker["position"]) == (None, "Senior Engineer"), "kept, no longer locked"
    assert ok(await api.patch(f"{EMPLOYEES}/{t.worker['id']}", json={"salary": "1.00"}))["salary"] == "1.00"


async def test_an_older_contract_event_never_overwrites_a_newer_one(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    t = await team(hrms, api)
    c = await contract(api, t.worker, activate=True, position="Lead", salary="90000.00")
    await hrms.settle()
    consumer = hrms["employee"].consumer
    assert consumer is not None

    def terms(cls: type[ContractActivated], contract_id: uuid.UUID, start: date, position: str) -> ContractActivated:
        return cls(
            id=contract_id,
            company_id=uuid.UUID(t.company),
            employee_id=uuid.UUID(t.worker["id"]),
            contract_type="permanent",
            position=position,
            salary=Decimal("1000.00"),
            currency="EUR",
            weekly_hours=Decimal(40),
            start_date=start,
        )

    def envelope(event: ContractActivated, version: int) -> Envelope:
        return Envelope.new(
            event,
            source="/isles/contract",
            aggregate_type="contract",
            aggregate_id=str(event.id),
            aggregate_version=version,
        )

    older = terms(ContractActivated, uuid.uuid4(), date.today() - timedelta(days=400), "Intern")
    await consumer.deliver(envelope(older, 9))  # a late event of an older contract
    stale = terms(ContractChanged, uuid.UUID(c["id"]), date.fromisoformat(c["start_date"]), "Stale")
    await consumer.deliver(envelope(stale, 1))  # an old version of the active contract
    worker = ok(await api.get(f"{EMPLOYEES}/{t.worker['id']}"))
    assert (worker["position"], Decimal(worker["salary"]), worker["contract_id"]) == ("Lead", 90000, c["id"])
    newer = terms(ContractChanged, uuid.UUID(c["id"]), date.fromisoformat(c["start_date"]), "Principal")
    await consumer.deliver(envelope(newer, 50))
    assert ok(await api.get(f"{EMPLOYEES}/{t.worker['id']}"))["position"] == "Principal"


async def test_the_employee_converges_whatever_the_order_of_delivery(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    """Two contracts of one employee: A (its activation, a change, its end when B
    supersedes it) and B, starting later. Each order that keeps A's own events in
    their order (as the platform delivers one aggregate's) ends with B's terms."""
    company = (await new_company(api))["id"]
    consumer = hrms["employee"].consumer
    assert consumer is not None
    a_id, b_id = uuid.uuid4(), uuid.uuid4()

    def events_of(employee_id: str) -> list[Envelope]:
        common = {"company_id": uuid.UUID(company), "employee_id": uuid.UUID(employee_id)}
        terms = {"contract_type": "permanent", "currency": "EUR", "weekly_hours": Decimal(40)}
        a = {**common, **terms, "id": a_id, "start_date": date(2020, 1, 1)}
        made = [
            (ContractActivated(**a, position="A", salary=Decimal("100.00")), a_id, 2),
            (ContractChanged(**a, position="A2", salary=Decimal("200.00")), a_id, 3),
            (ContractEnded(**common, id=a_id, end_date=date(2020, 12, 31), superseded_by=b_id), a_id, 4),
            (
                ContractActivated(
                    **common, **terms, id=b_id, start_date=date(2021, 1, 1), position="B", salary=Decimal("300.00")
                ),
                b_id,
                2,
            ),
        ]
        return [
            Envelope.new(
                e, source="/isles/contract", aggregate_type="contract", aggregate_id=str(i), aggregate_version=v
            )
            for e, i, v in made
        ]

    # B's activation at each place among A's three events, in their order.
    for place in range(4):
        person = await new_employee(api, company_id=company)
        *a_events, b_event = events_of(person["id"])
        for envelope in [*a_events[:place], b_event, *a_events[place:]]:
            await consumer.deliver(envelope)
        got = ok(await api.get(f"{EMPLOYEES}/{person['id']}"))
        assert (got["position"], Decimal(got["salary"]), got["contract_id"]) == ("B", 300, str(b_id)), place
