"""Browser tests: Playwright driving Debian's Chromium against a real ``tabhooks serve``.

The browser is the system's ``/usr/bin/chromium`` (``scripts/test`` installs it with apt when
missing; Playwright never downloads one). Without it these tests skip, except under
``CI=true``, where a missing browser is a broken test run and fails.

UI tests run on SQLite only: what they check is the pages, the live stream and the forms, and
the store behind them is exercised on both back-ends by ``tests/acceptance/test_inbox.py``.

Screenshots are taken on every run; with ``UPDATE_SCREENSHOTS=1`` they are written to
``docs/screenshots/`` (the ones README.md shows), otherwise to a temporary directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.test_inbox import FAST_RETRIES, Admin

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # reported by the ``browser`` fixture: a skip, or a failure under CI
    expect = sync_playwright = None  # type: ignore[assignment]
from tests.conftest import database_url_for
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
#: Longest any expectation waits for the page to catch up.
EXPECT_TIMEOUT_MS = 15_000


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} under CI: scripts/test must install it", pytrace=False)
    pytest.skip(f"{reason}; run scripts/test (it installs chromium with apt)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one module: Playwright's sync API runs an event loop in this thread while
    it is open, so it must be closed before any asyncio test (another module) runs."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing")
    if sync_playwright is None:
        _unavailable("the playwright package is not installed")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def ui_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("ui")
    running = ServerProcess(database_url_for("sqlite", request, workdir), workdir, FAST_RETRIES)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def admin(ui_server: ServerProcess) -> Admin:
    return Admin(ui_server.base_url)


class PageWatch:
    """A fresh browser page that remembers Content-Security-Policy violations and dialogs.

    Confirmation dialogs are dismissed (the person said "Cancel") unless ``accept_dialogs``
    is set.
    """

    def __init__(self, context: Any) -> None:
        self.context = context
        self.page = context.new_page()
        self.page.set_default_timeout(EXPECT_TIMEOUT_MS)
        self.csp_violations: list[str] = []
        self.dialogs: list[str] = []
        self.accept_dialogs = False
        self.page.on("console", self._console)
        self.page.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.csp_violations.append(message.text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        if self.accept_dialogs:
            dialog.accept()
        else:
            dialog.dismiss()

    def clipboard(self) -> str:
        """What the page's last Copy put on the clipboard (needs :func:`allow_clipboard`)."""
        return str(self.page.evaluate("navigator.clipboard.readText()"))


@pytest.fixture()
def watch(browser: Any, ui_server: ServerProcess) -> Iterator[PageWatch]:
    context = browser.new_context(
        base_url=ui_server.base_url, viewport={"width": 1280, "height": 900}
    )
    watched = PageWatch(context)
    yield watched
    context.close()
    assert watched.csp_violations == []


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        target = ROOT / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        return target
    return tmp_path_factory.mktemp("screenshots")


def sign_in(
    page: Any, password: str = ADMIN_PASSWORD, name: str = ADMIN_USERNAME, *, go: bool = True
) -> None:
    """Use the sign-in form like a person would (``go=False``: the form is already open)."""
    if go:
        page.goto("/ui/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("#login-form button[type=submit]")


def allow_clipboard(watch: PageWatch, base_url: str) -> None:
    """Let the page's Copy buttons write, and the test read, the clipboard."""
    watch.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
