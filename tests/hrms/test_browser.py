"""Pages in a real browser (headless Chromium, driven by Playwright), on a real
``isles up`` with its demo data.

Issue 15, 6: Swagger UI's Authorize logs a user in with the password flow, and "Try
it out" then calls a route with the user's token. Issue 15, 11: a new hire opens the
link of their invitation mail and chooses a password, then logs in with it."""

from __future__ import annotations

import email
import re
import shutil
from pathlib import Path

import httpx
import pytest

from tests.support import IN_CI, isles_up

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: Without these, Chromium keeps trying to reach Google's hosts on this closed network.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _need_chromium() -> str:
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("chromium is required under CI (.ci/run installs it)")
        pytest.skip("chromium is not installed here")
    return CHROMIUM


def test_authorize_with_email_and_password_then_try_it_out(tmp_path: Path) -> None:
    chromium = _need_chromium()
    from playwright.sync_api import sync_playwright

    data = tmp_path / "data"
    with isles_up("--data-dir", str(data), timeout=120) as (_proc, base):
        notes = (data / "demo-credentials.txt").read_text()
        password = re.search(r"with password (\S+)", notes)
        email = re.search(r"(\S+@acme\.example\.com)", notes)
        assert password, notes
        assert email, notes
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
            try:
                page = browser.new_page()
                logins: list[int] = []
                page.on("response", lambda r: logins.append(r.status) if r.url.endswith("/api/auth/login") else None)
                page.goto(f"{base}/api/employee/docs")
                page.click("button.authorize")
                page.fill("#oauth_username", email.group(1))
                page.fill("#oauth_password", password.group(1))
                page.locator("div.auth-container", has=page.locator("#oauth_username")).locator(
                    "button.authorize"
                ).click()
                page.get_by_text("Authorized", exact=True).wait_for(timeout=15000)
                assert logins == [200]
                page.click("button.close-modal")
                page.click("#operations-employees-list_employees_employees_get")
                page.click("button.try-out__btn")
                page.click("button.execute")
                row = page.locator(".live-responses-table tbody tr.response").first
                row.wait_for(timeout=15000)
                status = row.locator(".response-col_status").inner_text().strip()
                body = row.locator(".response-col_description").inner_text()
            finally:
                browser.close()
    assert status == "200", body[:500]
    assert "Lovelace" in body


def test_a_new_hire_chooses_a_password_on_the_page_of_their_invitation_link(tmp_path: Path) -> None:
    chromium = _need_chromium()
    from playwright.sync_api import expect, sync_playwright

    data = tmp_path / "data"
    with isles_up("--data-dir", str(data), timeout=120) as (_proc, base):
        address = "alan.turing@acme.example.com"  # an employee of the demo: invited, no password
        link = None
        for path in (data / "mail").glob("*.eml"):
            message = email.message_from_bytes(path.read_bytes())
            if message["To"] == address and message["Subject"].endswith("choose your password"):
                body = message.get_payload(decode=True)
                assert isinstance(body, bytes)
                found = re.search(r"http://\S+#token=\S+", body.decode())
                link = found.group(0) if found else None
        assert link is not None, "the invitation mail carries a link"
        assert link.startswith(f"{base}/api/auth/password/set#token="), "the link points at this system"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
            try:
                page = browser.new_page()
                page.goto(link)
                assert "#token" not in page.url, "the page takes the token out of the address bar"
                page.fill("#password", "turing machine 1936")
                page.fill("#again", "turing machine 1963")
                page.click("#submit")
                expect(page.locator("#message")).to_contain_text("differ")
                page.fill("#again", "turing machine 1936")
                page.click("#submit")
                page.get_by_text("Your password is set").wait_for(timeout=15000)
                page = browser.new_page()  # the same link again (a new tab): used
                page.goto(link)
                page.fill("#password", "another password entirely")
                page.fill("#again", "another password entirely")
                page.click("#submit")
                page.get_by_text("was used already").wait_for(timeout=15000)
            finally:
                browser.close()
        answer = httpx.post(f"{base}/api/auth/login", json={"email": address, "password": "turing machine 1936"})
    assert answer.status_code == 200, answer.text
