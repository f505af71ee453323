"""Fixtures of the browser tests: Debian's Chromium driven by Playwright against a live daphne site.

Chromium comes from the distribution (scripts/ensure_chromium.sh installs it; Playwright cannot
download its own build here), found at $ADS_CHROMIUM (default /usr/bin/chromium). Without it the
tests skip with the reason, except under CI=true, where they fail. Screenshots and the site's logs
go to $ADS_TEST_ARTEFACTS (default test-artefacts/ in the checkout), one folder per database
flavour so the two halves of `make test` keep theirs.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.browser.live_site import REPO, live_site

ACTION_TIMEOUT_MS = 20_000  # a worker on the Redis run needs a moment; auto-waiting returns as soon as it can


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)  # the page fixture saves a screenshot of a failure
    return report


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("ADS_CHROMIUM", "/usr/bin/chromium")
    if not os.access(path, os.X_OK):
        reason = f"Chromium is not at {path} (ADS_CHROMIUM): run scripts/ensure_chromium.sh as root to install it"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true needs the browser tests to run.")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def artefacts() -> Path:
    base = Path(os.environ.get("ADS_TEST_ARTEFACTS") or REPO / "test-artefacts")
    flavour = "postgres-redis" if os.environ.get("DATABASE_URL") else "sqlite"
    folder = base / "browser" / flavour
    shutil.rmtree(folder, ignore_errors=True)  # this run's pictures only, no failure left from an earlier one
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="module")
def site(chromium_path, artefacts, tmp_path_factory):
    with live_site(tmp_path_factory.mktemp("live-site"), logs=artefacts / "logs") as running:
        yield running


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=ACTION_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@dataclass
class BrowserErrors:
    """What a user would not see but a broken page shows: console errors (CSP violations among
    them), uncaught exceptions, and failed responses of the site."""

    origin: str
    seen: list[str] = field(default_factory=list)

    def watch(self, page) -> None:
        page.on("console", lambda message: self._console(page, message))
        page.on("pageerror", lambda error: self.seen.append(f"uncaught on {page.url}: {error}"))
        page.on("response", self._response)

    def _console(self, page, message) -> None:
        if message.type == "error":  # Chromium reports a CSP violation as a console error
            self.seen.append(f"console on {page.url}: {message.text}")

    def _response(self, response) -> None:
        if response.status >= 400 and response.url.startswith(self.origin):
            self.seen.append(f"HTTP {response.status} for {response.request.method} {response.url}")


@pytest.fixture
def browser_errors(site) -> BrowserErrors:
    return BrowserErrors(origin=site.url)


@pytest.fixture
def page(browser, site, browser_errors, artefacts, request):
    context = browser.new_context(base_url=site.url, viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = context.new_page()
    browser_errors.watch(page)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        page.screenshot(path=artefacts / f"failure-{request.node.name}.png", full_page=True)
    context.close()
