"""Failed sign-ins are throttled (issue 14): 40 wrong passwords in under a second used to get
40 answers of 401. Now each (user name, address) pair gets a few free failures and then an exponential
wait, each address and each user name a bucket of failures — 429 with ``Retry-After`` — while
the real user still signs in from another address, from an address they used before, or once
the wait is over. Password, personal access token and dashboard sign-ins share the throttle.

Clients connect from different loopback addresses (127.0.0.x, bound with ``local_address``) so
the server sees different callers without trusting any header.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.sax.saxutils import quoteattr

import httpx
import pytest

from tests.conftest import database_url_for
from tests.support.rest import Rest, error_code
from tests.support.server import ADMIN_PAT_NAME, ADMIN_PAT_SECRET, ServerProcess

PASSWORD = "right-password-1"
FREE = 3
PER_ADDRESS = 12
PER_NAME = 8
THROTTLE = {
    "TABHOOKS_SIGNIN_FREE_FAILURES": str(FREE),
    "TABHOOKS_SIGNIN_BACKOFF_MAX_S": "2",
    "TABHOOKS_SIGNIN_FAILURES_PER_ADDRESS": str(PER_ADDRESS),
    "TABHOOKS_SIGNIN_FAILURES_PER_NAME": str(PER_NAME),
    "TABHOOKS_SIGNIN_FAILURE_WINDOW_S": "3600",  # nothing refills while the tests run
}
_CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    workdir: Path = tmp_path_factory.mktemp("throttle")
    running = ServerProcess(
        database_url_for(backend, request, workdir), workdir, extra_env=THROTTLE
    ).start()
    yield running
    running.stop()


def client_from(address: str) -> httpx.Client:
    """An HTTP client whose connections come from ``address`` (a 127.0.0.x loopback)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def sign_in(
    client: httpx.Client, server: ServerProcess, name: str, password: str
) -> httpx.Response:
    body = (
        f"<tsRequest><credentials name={quoteattr(name)} password={quoteattr(password)}>"
        '<site contentUrl=""/></credentials></tsRequest>'
    )
    return client.post(f"{server.api()}/auth/signin", content=body)


def pat_sign_in(client: httpx.Client, server: ServerProcess, secret: str) -> httpx.Response:
    body = {
        "credentials": {
            "personalAccessTokenName": ADMIN_PAT_NAME,
            "personalAccessTokenSecret": secret,
            "site": {"contentUrl": ""},
        }
    }
    return client.post(
        f"{server.api()}/auth/signin", json=body, headers={"Accept": "application/json"}
    )


def assert_throttled(response: httpx.Response, scope: str) -> int:
    """A 429 in Tableau's envelope naming ``scope``; returns its ``Retry-After``."""
    assert response.status_code == 429, response.text
    assert error_code(response) == "429000"
    assert scope in response.text, response.text
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    return retry_after


def test_wrong_passwords_get_429_and_the_user_still_signs_in(
    server: ServerProcess, admin: Rest
) -> None:
    admin.add_user("victim", "Viewer", PASSWORD)
    with client_from("127.0.0.10") as attacker:
        # 40 at once, as in the report: the throttle reserves each failure before the
        # password is checked, so concurrency does not buy extra guesses.
        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(
                pool.map(lambda i: sign_in(attacker, server, "victim", f"guess-{i}"), range(40))
            )
        statuses = Counter(a.status_code for a in answers)
        assert statuses == {401: FREE, 429: 40 - FREE}, statuses
        waits = [
            assert_throttled(a, "for this user name from this address")
            for a in answers
            if a.status_code == 429
        ]
        # The real user, elsewhere, is not slowed at all.
        with client_from("127.0.0.11") as elsewhere:
            assert sign_in(elsewhere, server, "victim", PASSWORD).status_code == 200
        # From the attacker's own address even the right password waits its turn...
        retry_after = assert_throttled(
            sign_in(attacker, server, "victim", PASSWORD), "from this address"
        )
        assert retry_after <= max(waits) <= 2  # TABHOOKS_SIGNIN_BACKOFF_MAX_S
        # ...and goes through once the wait is over.
        _sleep(retry_after)
        assert sign_in(attacker, server, "victim", PASSWORD).status_code == 200


def test_guessing_one_name_from_many_addresses_spares_the_owners_addresses(
    server: ServerProcess, admin: Rest
) -> None:
    admin.add_user("victim2", "Viewer", PASSWORD)
    with client_from("127.0.0.30") as owner:
        assert sign_in(owner, server, "victim2", PASSWORD).status_code == 200
    for host in range(31, 31 + PER_NAME):
        with client_from(f"127.0.0.{host}") as bot:
            assert sign_in(bot, server, "victim2", "guess").status_code == 401
    with client_from("127.0.0.39") as bot:
        assert_throttled(sign_in(bot, server, "victim2", "guess"), "for this user name")
        assert_throttled(sign_in(bot, server, "victim2", PASSWORD), "for this user name")
    with client_from("127.0.0.30") as owner:  # an address the owner signed in from before
        assert sign_in(owner, server, "victim2", PASSWORD).status_code == 200


def test_one_address_trying_many_names_is_throttled(server: ServerProcess, admin: Rest) -> None:
    admin.add_user("neighbour", "Viewer", PASSWORD)
    with client_from("127.0.0.40") as sprayer:  # a NAT: the neighbour signed in from it before
        assert sign_in(sprayer, server, "neighbour", PASSWORD).status_code == 200
        for i in range(PER_ADDRESS):
            assert sign_in(sprayer, server, f"nobody-{i}", "Winter2026!").status_code == 401
        assert_throttled(sign_in(sprayer, server, "nobody-x", "Winter2026!"), "from this address")
        assert sign_in(sprayer, server, "neighbour", PASSWORD).status_code == 200
    with client_from("127.0.0.41") as other:
        assert sign_in(other, server, "nobody-x", "Winter2026!").status_code == 401


def test_personal_access_token_sign_in_is_throttled_too(server: ServerProcess) -> None:
    with client_from("127.0.0.50") as attacker:
        for _ in range(FREE):
            assert pat_sign_in(attacker, server, "wrong-secret").status_code == 401
        assert_throttled(
            pat_sign_in(attacker, server, "wrong-secret"), "for this user name from this address"
        )
        with client_from("127.0.0.51") as elsewhere:
            assert pat_sign_in(elsewhere, server, ADMIN_PAT_SECRET).status_code == 200
        retry_after = assert_throttled(pat_sign_in(attacker, server, ADMIN_PAT_SECRET), "")
        _sleep(retry_after)
        assert pat_sign_in(attacker, server, ADMIN_PAT_SECRET).status_code == 200


def test_dashboard_sign_in_shares_the_throttle(server: ServerProcess, admin: Rest) -> None:
    admin.add_user("ui-victim", "Viewer", PASSWORD)
    transport = httpx.HTTPTransport(local_address="127.0.0.60")
    with httpx.Client(base_url=server.base_url, transport=transport, timeout=30) as browser:
        csrf = _CSRF_FIELD.search(browser.get("/ui/login").text)
        assert csrf
        form = {"csrf": csrf.group(1), "name": "ui-victim", "password": "guess", "site": ""}
        for _ in range(FREE):
            assert browser.post("/ui/login", data=form).status_code == 401
        page = browser.post("/ui/login", data=form)
        assert page.status_code == 429 and int(page.headers["Retry-After"]) >= 1
        assert "Too many failed sign-ins" in page.text
        # The REST sign-in from the same address counts against the same pair.
        assert_throttled(sign_in(browser, server, "ui-victim", "guess"), "")


def _sleep(seconds: float) -> None:
    time.sleep(seconds + 0.2)
