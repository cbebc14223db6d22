"""OpenTelemetry (issue 22): spans for HTTP requests, outbox writes, relay publishes,
consumer applies, saga steps and service-client calls, linked through the platform's
own W3C traceparent and exported with OTLP/HTTP to a receiver the test starts (the real
exporter over real HTTP); off, and the SDK not imported, unless configured."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from isles.core.settings import IslesSettings
from isles.runtime.system import SystemRuntime
from tests.conftest import hr_system
from tests.hrms.helpers import new_company, new_employee
from tests.otlp import OtlpReceiver, ReceivedSpan
from tests.support import Backend, Templates, free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration
EMPLOYEES = "/api/employee/employees"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


@pytest.fixture
async def traced(
    backend: Backend, templates: Templates, receiver: OtlpReceiver, request: pytest.FixtureRequest
) -> AsyncIterator[SystemRuntime]:
    """The HR system (core services) in one process, its spans exported to ``receiver``."""
    system = hr_system(request)
    await templates.clone(system, backend)
    runtime = SystemRuntime(system, backend.settings.but(tracing_endpoint=receiver.endpoint), environ={})
    await runtime.start()
    try:
        yield runtime
    finally:
        if runtime.started:
            await runtime.stop()
        backend.drop_later(runtime.services)


def _trace_of(spans: list[ReceivedSpan], root: ReceivedSpan) -> list[ReceivedSpan]:
    return [s for s in spans if s.trace_id == root.trace_id]


async def test_one_request_across_services_is_one_trace(traced: SystemRuntime, receiver: OtlpReceiver) -> None:
    async with traced.client() as api:
        company = await new_company(api, "Traced Ltd")
        employee = await new_employee(api, "Grace", "Hopper", company_id=company["id"])
    await traced.settle()
    await traced.stop()  # flushes: every span ended is exported before stop returns

    assert not receiver.errors
    spans = receiver.spans
    roots = [
        s
        for s in spans
        if s.kind == "server"
        and s.service == "employee"
        and s.attributes.get("http.route") == "/api/employee/employees"
        and s.attributes.get("http.request.method") == "POST"
    ]
    assert len(roots) == 1, [(s.service, s.name) for s in spans if s.kind == "server"]
    root = roots[0]
    assert root.parent_id == "", "the request came without a traceparent: it begins the trace"
    assert root.name == "POST /api/employee/employees"
    assert root.attributes["http.response.status_code"] == 201
    trace = _trace_of(spans, root)
    by_id = {s.span_id: s for s in trace}
    _show(trace)
    assert len(by_id) == len(trace), "span ids are unique"

    # Every span of the trace but the root hangs from a span of the same trace.
    orphans = [(s.service, s.kind, s.name) for s in trace if s is not root and s.parent_id not in by_id]
    assert not orphans, orphans

    services = {s.service for s in trace}
    assert {"employee", "company"} <= services, services
    kinds = Counter(s.kind for s in trace)
    assert {"server", "client", "producer", "consumer", "internal"} <= set(kinds), kinds

    # A client call's child is the called service's server span, in another service.
    crossings = [
        (c, s) for c in trace if c.kind == "client" for s in trace if s.kind == "server" and s.parent_id == c.span_id
    ]
    assert crossings, "no client span has a server span as its child"
    for client, server in crossings:
        assert client.attributes["peer.service"] == server.service != client.service
        assert client.attributes["http.response.status_code"] == server.attributes["http.response.status_code"]

    # The saga's steps: spans of the employee service with the saga's id and step names.
    steps = [s for s in trace if s.kind == "internal" and "isles.saga.id" in s.attributes]
    assert steps
    assert {s.service for s in steps} == {"employee"}
    assert all(s.attributes["isles.saga.name"] and s.attributes["isles.saga.step"] for s in steps)
    assert len({s.attributes["isles.saga.id"] for s in steps}) == 1

    # The employee's EmployeeCreated: written to the outbox (create), published by the
    # relay, applied by its consumers, each of those the child of the outbox write.
    creates = [s for s in trace if s.kind == "producer" and s.attributes.get("messaging.operation.type") == "create"]
    created = [s for s in creates if s.attributes["messaging.destination.name"] == "employee.EmployeeCreated"]
    assert len(created) == 1, [s.name for s in creates]
    write = created[0]
    assert write.service == "employee"
    event_id = write.attributes["messaging.message.id"]
    publishes = [
        s
        for s in trace
        if s.kind == "producer"
        and s.attributes.get("messaging.operation.type") == "send"
        and s.attributes["messaging.message.id"] == event_id
    ]
    assert len(publishes) == 1
    assert publishes[0].parent_id == write.span_id
    assert publishes[0].service == "employee"
    assert publishes[0].status != 2
    applies = [s for s in trace if s.kind == "consumer" and s.attributes["messaging.message.id"] == event_id]
    assert applies, "no consumer applied the event in the trace"
    assert all(s.parent_id == write.span_id for s in applies)
    assert "company" in {s.attributes["messaging.consumer.group.name"] for s in applies}
    assert all(s.service == s.attributes["messaging.consumer.group.name"] for s in applies)
    # What the outbox write hangs from: a span of the request (a saga step, the handler's span).
    assert by_id[write.parent_id].trace_id == root.trace_id

    # The company's own request is another trace.
    companies = "/api/company/companies"
    company_roots = [s for s in spans if s.kind == "server" and s.attributes.get("http.route") == companies]
    assert company_roots
    assert all(s.trace_id != root.trace_id for s in company_roots)
    assert employee["id"]


async def test_the_caller_s_traceparent_is_continued(traced: SystemRuntime, receiver: OtlpReceiver) -> None:
    """A request with a traceparent header: its server span is the header's child,
    in the caller's trace (what a client span of another process sends)."""
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with traced.client() as api:
        answer = await api.get("/api/company/companies", headers={"traceparent": parent})
    assert answer.status_code == 200
    await traced.stop()
    [server] = [s for s in receiver.spans if s.kind == "server"]
    assert (server.trace_id, server.parent_id) == ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
    assert server.service == "company"
    assert server.name == "GET /api/company/companies"


async def test_an_unreachable_receiver_does_not_stop_the_system(
    backend: Backend, templates: Templates, request: pytest.FixtureRequest
) -> None:
    """Spans that cannot be exported are dropped (the SDK logs it); requests go on."""
    system = hr_system(request)
    await templates.clone(system, backend)
    settings = backend.settings.but(tracing_endpoint=f"http://127.0.0.1:{free_port()}", tracing_timeout=1.0)
    runtime = SystemRuntime(system, settings, environ={})
    await runtime.start()
    try:
        async with runtime.client() as api:
            await new_company(api, "Unheard")
        await runtime.settle()
    finally:
        await runtime.stop()
        backend.drop_later(runtime.services)


@pytest.mark.e2e
@pytest.mark.postgres
@pytest.mark.nats
async def test_one_request_is_one_trace_across_isles_serve_processes(tmp_path: Path, receiver: OtlpReceiver) -> None:
    """Production shape: each service an ``isles serve`` process on PostgreSQL and NATS,
    all exporting to one receiver. A new employee (the employee service's saga calls the
    company and auth services over HTTP; its event reaches project and notification
    through NATS) is one trace over the processes; each process flushes its spans when
    SIGTERM stops it."""
    import uuid

    import httpx

    from tests.hrms.cluster import Cluster
    from tests.support import require_nats, require_postgres

    require_postgres()
    require_nats()
    cluster = Cluster(tmp_path, extra_env={"ISLES_TRACING_ENDPOINT": receiver.endpoint})
    await cluster.start()
    try:
        async with httpx.AsyncClient(headers=cluster.headers, timeout=30) as client:
            company = await client.post(f"{cluster['company'].url}/api/company/companies", json={"name": "Traced"})
            assert company.status_code == 201, company.text
            body = {
                "employee_number": f"O-{uuid.uuid4().hex[:6]}",
                "company_id": company.json()["id"],
                "first_name": "Grace",
                "last_name": "Hopper",
                "email": f"g.{uuid.uuid4().hex[:8]}@example.com",
                "hire_date": "2024-03-01",
            }
            employee = await client.post(f"{cluster['employee'].url}/api/employee/employees", json=body)
            assert employee.status_code == 201, employee.text
        employee_id = uuid.UUID(employee.json()["id"])
        for _ in range(300):  # the project service's copy: the event went through NATS
            if await cluster.query("project", "SELECT 1 FROM employee_copies WHERE id = $1", employee_id):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the project service never applied EmployeeCreated")
        await asyncio.sleep(0.5)  # the other consumers (notification) apply it too
        for name, process in cluster.services.items():
            assert process.terminate() == 0, f"{name}:\n{process.tail()}"
    finally:
        await cluster.stop()

    assert not receiver.errors
    [root] = [
        s
        for s in receiver.spans
        if s.kind == "server"
        and s.service == "employee"
        and s.attributes.get("http.route") == "/api/employee/employees"
    ]
    trace = _trace_of(receiver.spans, root)
    _show(trace)
    by_id = {s.span_id: s for s in trace}
    orphans = [(s.service, s.kind, s.name) for s in trace if s is not root and s.parent_id not in by_id]
    assert not orphans, orphans
    assert {"employee", "company", "auth", "project"} <= {s.service for s in trace}
    [write] = [s for s in trace if s.kind == "producer" and s.name == "employee.EmployeeCreated create"]
    [publish] = [s for s in trace if s.kind == "producer" and s.name == "employee.EmployeeCreated publish"]
    assert publish.parent_id == write.span_id
    assert publish.attributes["messaging.system"] == "nats"
    applied = {s.service for s in trace if s.kind == "consumer" and s.parent_id == write.span_id}
    assert {"project", "company"} <= applied, applied


async def test_a_batch_applied_in_one_transaction_keeps_each_event_in_its_own_trace(
    tmp_path: Path, receiver: OtlpReceiver
) -> None:
    """Events written while the relay is stopped reach the consumer together, and it
    applies them in one transaction: still a consumer span per event, each the child of
    its own event's outbox write (each event here is its own request's trace)."""
    import uuid

    from tests.isles import toy
    from tests.support import make_backend

    backend = make_backend("sqlite", tmp_path, tracing_endpoint=receiver.endpoint)
    runtime = SystemRuntime(toy.build(), backend.settings, environ={})
    await runtime.start(relays=False)
    try:
        for n in range(20):
            await toy.ping(runtime["source"], uuid.uuid4(), n)
        for rt in runtime.services.values():
            rt.relay.start()
        await runtime.settle()
        assert len(await toy.applied(runtime["sink"])) == 20
        assert runtime["sink"].consumer is not None
        assert runtime["sink"].consumer.counters.batches >= 1, "the events were applied in batches"
    finally:
        await runtime.stop()

    writes = {s.attributes["messaging.message.id"]: s for s in receiver.spans if s.name == "toy.Pinged create"}
    applies = [s for s in receiver.spans if s.kind == "consumer"]
    assert len(writes) == 20
    assert len(applies) == 20
    assert len({s.trace_id for s in writes.values()}) == 20, "each write began its own trace"
    for apply in applies:
        write = writes[apply.attributes["messaging.message.id"]]
        assert (apply.trace_id, apply.parent_id) == (write.trace_id, write.span_id)
        assert apply.service == "sink"
        assert write.service == "source"
    assert max(s.attributes.get("messaging.batch.message_count", 1) for s in applies) > 1


async def test_a_saga_resumed_after_a_restart_is_traced_under_a_span_of_its_own(
    tmp_path: Path, receiver: OtlpReceiver
) -> None:
    """A saga under way when its process stopped, resumed by the next start: no request
    behind it, so its remaining steps (and their calls) are one trace under a resume span."""
    from isles.core import failpoints
    from isles.sagas.store import StepStatus
    from tests.isles import sagatoy
    from tests.isles.test_sagas import ORDER, SAGA_FAST, started, until
    from tests.support import make_backend

    backend = make_backend("sqlite", tmp_path, **SAGA_FAST)
    failpoints.configure({"saga.shop.PlaceOrder.credit.before": "sleep:30"})
    try:
        first = await started(backend)
        runner = first["shop"].sagas
        assert runner is not None
        saga_id = await runner.begin("shop.PlaceOrder", ORDER)
        await until(first, saga_id, lambda st: st.step("credit").status is StepStatus.RUNNING)
        await first.stop()
    finally:
        failpoints.clear()
    second = await started(backend, backend.settings.but(tracing_endpoint=receiver.endpoint))
    try:
        runner = second["shop"].sagas
        assert runner is not None
        assert (await runner.wait(saga_id, 20)).status.value == "completed"
        assert await sagatoy.entry_count(second["ledger"]) == 2
    finally:
        await second.stop()

    [resume] = [s for s in receiver.spans if s.name == "saga shop.PlaceOrder resume"]
    assert resume.parent_id == ""
    assert resume.attributes["isles.saga.id"] == str(saga_id)
    steps = [s for s in receiver.spans if s.attributes.get("isles.saga.id") == str(saga_id) and s is not resume]
    assert [s.attributes["isles.saga.step"] for s in steps] == ["credit", "confirm"]
    assert all(s.parent_id == resume.span_id for s in steps)
    [call] = [s for s in receiver.spans if s.kind == "client"]
    assert call.parent_id == steps[0].span_id
    [served] = [s for s in receiver.spans if s.kind == "server" and s.service == "ledger"]
    assert served.parent_id == call.span_id


def test_a_bad_endpoint_is_refused_saying_what_is_expected() -> None:
    for bad in ("127.0.0.1:4318", "grpc://127.0.0.1:4317", "http://:4318", "http://h:99999", "http://h:4318/?x=1"):
        with pytest.raises(ValidationError, match=r"tracing\.endpoint") as caught:
            IslesSettings(tracing_endpoint=bad)
        assert "OTLP/HTTP base URL" in str(caught.value) or "bad port" in str(caught.value)
    with pytest.raises(ValidationError, match=r"tracing\.headers"):
        IslesSettings(tracing_headers="authorization")
    s = IslesSettings(tracing_endpoint="https://otel.example:4318/", tracing_headers="a=1, b = x=y")
    assert s.tracing.endpoint == "https://otel.example:4318"
    assert s.tracing.header_map() == {"a": "1", "b": "x=y"}
    assert IslesSettings(tracing_endpoint="").tracing.endpoint is None


def test_a_bad_endpoint_stops_isles_up_with_a_clear_message(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src"), "ISLES_TRACING_ENDPOINT": "localhost:4318"}
    env["ISLES_STATE_FILE"] = str(tmp_path / "current.json")
    done = subprocess.run(
        [sys.executable, "-m", "isles.cli", "up", "--no-demo", "--port", str(free_port()), "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    said = done.stdout + done.stderr
    assert "tracing.endpoint" in said, said
    assert "OTLP/HTTP base URL" in said, said


def test_tracing_is_off_by_default_and_the_sdk_not_imported(tmp_path: Path) -> None:
    """A running system with default settings: no exporter, no tracer anywhere, and
    neither the SDK nor the exporter imported (a fresh interpreter: other tests of this
    process may have imported them)."""
    script = textwrap.dedent(
        f"""
        import asyncio, sys, uuid
        from isles.core.settings import IslesSettings
        from isles.runtime.system import SystemRuntime
        from tests.isles import toy

        async def main():
            settings = IslesSettings(data_dir={str(tmp_path)!r}, generate_keys=True)
            assert settings.tracing.endpoint is None
            runtime = SystemRuntime(toy.build(), settings, environ={{}})
            assert runtime.tracing is None
            assert all(rt.tracer is None for rt in runtime.services.values())
            await runtime.start()
            try:
                await toy.ping(runtime["source"], uuid.uuid4(), 1)
                await runtime.settle()
                assert len(await toy.applied(runtime["sink"])) == 1
                async with runtime.client() as api:
                    assert (await api.get("/health")).status_code == 200
            finally:
                await runtime.stop()
            heavy = ("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.proto", "google.protobuf",
                     "isles.ops.otel")
            heavy = sorted(m for m in sys.modules if m.startswith(heavy))
            print("IMPORTED", heavy)

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "IMPORTED []" in done.stdout, done.stdout


def _show(trace: list[ReceivedSpan]) -> None:
    """The trace as a tree (pytest shows it when the test fails, or with -s)."""
    children: dict[str, list[ReceivedSpan]] = {}
    for s in sorted(trace, key=lambda s: s.start):
        children.setdefault(s.parent_id, []).append(s)

    def walk(parent: str, depth: int) -> None:
        for s in children.get(parent, []):
            ms = (s.end - s.start) / 1e6
            print(f"{'  ' * depth}{s.service:<12} {s.kind:<9} {s.name} ({ms:.1f} ms)")
            walk(s.span_id, depth + 1)

    walk("", 0)
