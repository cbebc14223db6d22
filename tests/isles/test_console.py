"""The operator console in a real browser (issue 22): headless Chromium driven by
Playwright, on a system served by uvicorn in a thread of the test process (the toy
services: ``source`` publishes to ``sink``, which fails on demand; ``shop``
orchestrates a saga over ``ledger``), on SQLite, one system for the module.

The console loads without a browser console error; a dead letter made on purpose is
shown, retried from the page and gone; a compensated saga shows its timeline in order;
an event is followed from the outbox to the inbox; a company admin is refused. Each
page is saved as a screenshot (the folder is printed; with CONSOLE_SCREENSHOTS=<dir>
they are copied there too: docs/console/ holds one of each)."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from playwright.sync_api import expect
from sqlalchemy import select

from isles.core import failpoints
from isles.core.settings import IslesSettings
from isles.runtime.system import SystemRuntime
from isles.service.declaration import System
from isles.storage.schema import dead_letters_table, outbox_table
from tests.isles import sagatoy, toy
from tests.support import IN_CI, free_port, make_backend

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FAST = {
    "saga_poll_interval": 0.1,
    "saga_retry_base_delay": 0.01,
    "saga_retry_max_delay": 0.05,
    "saga_compensation_max_delay": 0.05,
    "saga_lease_seconds": 2.0,
    "client_retries": 0,
    "client_backoff": 0.01,
}
T = TypeVar("T")


def build() -> System:
    """The toy's pipeline and the saga toy side by side; ``source`` signs users' tokens
    (as ``auth`` does in the HR system), so a company admin's token can be made."""
    pipeline, sagas = toy.build(), sagatoy.build(timeout=2.0)
    return System(name="consoletoy", services=[*pipeline.services, *sagas.services], identity_provider="source")


class Served:
    """A system and its gateway on a free port, run by a thread of its own (its own
    event loop): ``call`` runs a coroutine there."""

    def __init__(self, settings: IslesSettings) -> None:
        self.settings = settings
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ready = threading.Event()
        self.failed: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name="console-system", daemon=True)

    def start(self) -> None:
        self.thread.start()
        if not self.ready.wait(60) or self.failed is not None:
            raise RuntimeError(f"the system did not start: {self.failed!r}")

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self.failed = exc
            self.ready.set()

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.runtime = SystemRuntime(build(), self.settings, environ={})
        sagatoy.bind(self.runtime)
        await self.runtime.start()
        config = uvicorn.Config(self.runtime.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        serving = asyncio.create_task(self.server.serve())
        while not self.server.started and not serving.done():  # noqa: ASYNC110 - uvicorn has no started event
            await asyncio.sleep(0.02)
        self.ready.set()
        try:
            await serving
        finally:
            await self.runtime.stop()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(60)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    backend = make_backend("sqlite", tmp_path_factory.mktemp("console"), **FAST)
    system = Served(backend.settings)
    system.start()
    try:
        yield system
    finally:
        system.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("console-screenshots")
    yield folder
    print(f"\nconsole screenshots: {folder}")
    copy_to = os.environ.get("CONSOLE_SCREENSHOTS")
    if copy_to:
        Path(copy_to).mkdir(parents=True, exist_ok=True)
        for shot in sorted(folder.glob("*.png")):
            shutil.copy(shot, Path(copy_to) / shot.name)


def _need_chromium() -> str:
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("chromium is required under CI (.ci/run installs it)")
        pytest.skip("chromium is not installed here")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()


class Tab:
    """A browser page that remembers every console error and failed request."""

    def __init__(self, browser: Any, base: str, shots: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1360, "height": 900})
        self.base = base
        self.shots = shots
        self.errors: list[str] = []
        self.expected: list[str] = []  # errors a test causes on purpose (a 403 answer)
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def go(self, path: str) -> Any:
        answer = self.page.goto(self.base + path)
        return answer

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def sign_in(self, token: str) -> None:
        self.go("/console/login")
        self.page.fill("#token", token)
        self.page.click("#sign-in")


@pytest.fixture
def tab(browser: Any, served: Served, shots: Path) -> Iterator[Tab]:
    t = Tab(browser, served.base, shots)
    try:
        yield t
    finally:
        t.page.close()
    assert [e for e in t.errors if not any(x in e for x in t.expected)] == [], "no console errors"


@pytest.fixture
def operator(tab: Tab, served: Served) -> Tab:
    tab.sign_in(served.runtime.operator_token())
    tab.page.wait_for_selector("#services")
    return tab


def test_the_overview_loads_and_refreshes_without_console_errors(operator: Tab, served: Served) -> None:
    page = operator.page
    assert page.title() == "Overview · consoletoy"
    rows = page.locator("#services tbody tr")
    assert sorted(rows.evaluate_all("rows => rows.map(r => r.dataset.service)")) == ["ledger", "shop", "sink", "source"]
    assert page.locator('tr[data-service="sink"] [data-field="health"]').inner_text() == "ok"
    first = page.inner_text("#updated")
    for _ in range(100):  # the page's script refreshes it every 5 s (no eval here: the CSP forbids it)
        if page.inner_text("#updated") != first:
            break
        page.wait_for_timeout(200)
    assert page.inner_text("#updated") != first, "the overview refreshed itself"
    assert page.locator('tr[data-service="sink"] polyline[data-chart="lag"]').get_attribute("points"), "a chart"
    operator.shot("overview")
    # By keyboard: the first Tab reaches the skip link, the next ones the navigation.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    for _ in range(2):  # the brand's link, then the first of the navigation: this page
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('aria-current')") == "page"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/dead-letters/")


def test_a_dead_letter_is_shown_retried_from_the_page_and_gone(
    operator: Tab, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = served.runtime

    async def park() -> str:
        await toy.ping(rt["source"], uuid.uuid4(), 7, mode="fail")
        await rt.settle()
        async with rt["sink"].db.read_session() as s:
            return str((await s.execute(select(dead_letters_table.c.event_id))).scalars().one())

    event_id = served.call(park())
    page = operator.page
    operator.go("/console/dead-letters/?service=sink")
    row = page.locator(f'#letters tr[data-event="{event_id}"]')
    assert "boom on n=7" in row.inner_text()
    operator.shot("dead-letters")
    row.locator("a").click()
    expect(page.locator("#error")).to_contain_text("boom on n=7")
    assert "RuntimeError" in page.inner_text("#traceback")
    assert event_id in page.inner_text("#payload")
    operator.shot("dead-letter")
    operator.go("/console/dead-letters/")
    page.check(f'#letters tr[data-event="{event_id}"] input[type="checkbox"]')
    page.click("#retry-selected")
    expect(page.locator("h1")).to_contain_text("Retry 1 dead letter(s)?")
    monkeypatch.setenv("TOY_HEALED", "1")  # the handler's cause is fixed: the retry applies it
    page.click("#confirm")
    expect(page.locator("#outcomes .status")).to_have_text("applied")
    operator.shot("dead-letters-retried")
    page.click("#back")
    expect(page.locator("#no-letters")).to_be_visible()
    assert page.locator(f'#letters tr[data-event="{event_id}"]').count() == 0
    applied = served.call(toy.applied(rt["sink"]))
    assert 7 in [a.n for a in applied]


def test_a_compensated_saga_shows_its_timeline_in_order(operator: Tab, served: Served) -> None:
    runner = served.runtime["shop"].sagas
    assert runner is not None

    async def compensated() -> str:
        failpoints.configure({"saga.shop.PlaceOrder.credit.before": "refuse"})
        try:
            saga_id = await runner.begin("shop.PlaceOrder", {"customer": "ada", "item": "book", "amount": 10})
            state = await runner.wait(saga_id, 20)
        finally:
            failpoints.clear()
        assert state.status.value == "compensated"
        return str(saga_id)

    saga_id = served.call(compensated())
    page = operator.page
    operator.go("/console/sagas/?status=compensated")
    operator.shot("sagas")
    page.click(f'#sagas tr[data-saga="{saga_id}"] a')
    expect(page.locator("#saga-status")).to_have_text("compensated")
    moments = page.locator("#timeline li").evaluate_all("items => items.map(i => [i.dataset.what, i.dataset.step])")
    assert moments == [
        ["saga", ""],
        ["started", "debit"],
        ["completed", "debit"],
        ["started", "record"],
        ["completed", "record"],
        ["started", "credit"],
        ["failed", "credit"],
        ["compensated", "record"],
        ["compensated", "debit"],
        ["saga", ""],
    ]
    assert "refused" in page.locator("#timeline li").nth(6).inner_text() or "422" in page.inner_text("#timeline")
    assert "saga compensated" in page.locator("#timeline li").last.inner_text()
    operator.shot("saga")


def test_an_event_is_followed_from_the_outbox_to_the_inbox(operator: Tab, served: Served) -> None:
    rt = served.runtime
    counter = uuid.uuid4()

    async def ping() -> str:
        await toy.ping(rt["source"], counter, 1)
        await toy.ping(rt["source"], counter, 2)
        await rt.settle()
        async with rt["source"].db.read_session() as s:
            q = select(outbox_table.c.event_id).where(outbox_table.c.aggregate_id == str(counter))
            return str((await s.execute(q.order_by(outbox_table.c.id))).scalars().first())

    event_id = served.call(ping())
    page = operator.page
    operator.go("/console/events/")
    page.fill("#f-event", event_id)
    page.click("#follow")
    expect(page.locator("#trace li")).to_have_count(3)
    stages = page.locator("#trace li").evaluate_all("items => items.map(i => i.dataset.stage)")
    assert stages == ["outbox", "published", "inbox"]
    assert "written to the outbox of source" in page.inner_text("#trace")
    assert "applied by sink" in page.inner_text("#trace li[data-stage=inbox]")
    operator.shot("event")
    page.click(f"#trace a:text('{counter}')")
    # the click navigates: wait for the page it opens rather than count the rows of the one it leaves
    page.wait_for_url(f"**aggregate={counter}")
    expect(page.locator("#aggregate tbody tr")).to_have_count(2)
    assert "counter v1" in page.locator("#aggregate tbody tr").first.inner_text()
    operator.shot("aggregate")


def test_the_data_map_and_the_audit_on_demand(operator: Tab) -> None:
    page = operator.page
    operator.go("/console/map/")
    assert page.locator("#map rect").count() == 4
    assert "flowchart LR" in page.locator("#mermaid").text_content()
    operator.shot("map")
    operator.go("/console/audit/")
    page.click("#run-audit")
    expect(page.locator("#audit-result")).to_contain_text("finding(s)")
    assert page.locator("#pipelines tbody tr").count() == 4
    operator.shot("audit")


def test_a_company_admin_is_refused(tab: Tab, served: Served) -> None:
    token = served.runtime.keys.signer("source", ttl=600).issue(
        subject=str(uuid.uuid4()), tenant=uuid.uuid4(), roles=["admin"], permissions=["companies:read"]
    )
    # Chromium reports the 403 answer itself as a console error: the one expected here
    tab.expected.append("the server responded with a status of 403 (Forbidden)")
    tab.sign_in(token)
    assert tab.page.inner_text("h1") == "Forbidden"
    assert "not enough" in tab.page.inner_text("#refusal")
    assert tab.page.locator("nav").count() == 0, "no way into the pages"
    tab.shot("refused")
    tab.go("/console/sagas/")
    assert tab.page.url.startswith(f"{served.base}/console/login"), "still no session"
    tab.shot("login")


def test_the_overview_after_the_work(operator: Tab, served: Served) -> None:
    """The charts hold the samples the gateway took (the tests of the module may run
    on several workers, each with its system: this one makes events of its own)."""
    rt = served.runtime

    async def work() -> None:
        for n in range(20):
            await toy.ping(rt["source"], uuid.uuid4(), n)
        await rt.settle()

    served.call(work())
    page = operator.page
    for _ in range(100):  # a refresh every 5 s, a sample every 10 s
        if int(page.inner_text("#samples")) >= 2:
            break
        page.wait_for_timeout(200)
    assert int(page.inner_text("#samples")) >= 2
    operator.shot("overview-later")
