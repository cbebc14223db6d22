"""Issue 15, 6: Swagger UI's Authorize works in a real browser (headless Chromium,
driven by Playwright): a user logs in with the password flow, and "Try it out"
then calls a route with the user's token."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

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


def test_authorize_with_email_and_password_then_try_it_out(tmp_path: Path) -> None:
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("chromium is required under CI (.ci/run installs it)")
        pytest.skip("chromium is not installed here")
    from playwright.sync_api import sync_playwright

    data = tmp_path / "data"
    with isles_up("--data-dir", str(data), timeout=120) as (_proc, base):
        notes = (data / "demo-credentials.txt").read_text()
        password = re.search(r"with password (\S+)", notes)
        email = re.search(r"(\S+@acme\.example\.com)", notes)
        assert password, notes
        assert email, notes
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
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
