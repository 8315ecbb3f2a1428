"""Sessions end when they must, at once, and personal access tokens can be listed and revoked.

A password change, a change to Unlicensed, removal from the site and revoking the token a
session signed in with all end the sessions concerned before the call that caused them
returns, the short verified-token cache included; with several API processes on PostgreSQL,
in every process (their caches here are set to a minute, so only the revocation notice can
explain a refusal within seconds).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
import tableauserverclient as TSC

from tests.support import databases
from tests.support.rest import Rest, error_code
from tests.support.server import ADMIN_USERNAME, ServerProcess, store_env

PASSWORD = "session-password-1"
#: Far below the one-minute cache of the two-process servers: a notice, not expiry.
NOTICE_DEADLINE_S = 10.0


def _refused(rest: Rest) -> bool:
    response = rest.call("GET", f"users/{rest.user_id}")
    if response.status_code == 200:
        return False
    assert response.status_code == 401 and error_code(response) == "401002", response.text
    return True


def _sign_in_status(server: ServerProcess, name: str, password: str, site: str = "") -> int:
    return httpx.post(
        f"{server.api()}/auth/signin",
        content=f'<tsRequest><credentials name="{name}" password="{password}">'
        f'<site contentUrl="{site}"/></credentials></tsRequest>',
    ).status_code


def _pat_sign_in(server: ServerProcess, name: str, secret: str, site: str = "") -> Rest:
    tsc = TSC.Server(server.base_url, use_server_version=True)
    tsc.auth.sign_in(TSC.PersonalAccessTokenAuth(name, secret, site))
    return Rest(server, tsc.auth_token, tsc.site_id, tsc.user_id)


@pytest.fixture(scope="module")
def admin(server: ServerProcess) -> Iterator[Rest]:
    rest = Rest.sign_in(server)
    yield rest
    rest.close()


def _pats_url(server: ServerProcess) -> str:
    return f"{server.base_url}/tabhooks/v1/personal-access-tokens"


def _create_pat(rest: Rest, name: str, user: str | None = None) -> str:
    body = {"name": name} if user is None else {"name": name, "user": user}
    made = rest.http.post(_pats_url(rest.server), json=body, headers={"X-Tableau-Auth": rest.token})
    assert made.status_code == 201, made.text
    return str(made.json()["secret"])


# ------------------------------------------------------------------- ending sessions


def test_password_change_ends_the_users_sessions_at_once(admin: Rest) -> None:
    user_id = admin.add_user("pw-user", "Creator", PASSWORD)
    first = Rest.sign_in(admin.server, "pw-user", PASSWORD)
    second = Rest.sign_in(admin.server, "pw-user", PASSWORD)
    assert not _refused(first) and not _refused(second)  # both verified (and cached)
    changed = admin.call(
        "PUT", f"users/{user_id}", '<tsRequest><user password="new-pw"/></tsRequest>'
    )
    assert changed.status_code == 200
    assert _refused(first) and _refused(second)
    assert _sign_in_status(admin.server, "pw-user", PASSWORD) == 401
    assert _sign_in_status(admin.server, "pw-user", "new-pw") == 200


def test_own_password_change_keeps_this_session_and_ends_the_others(admin: Rest) -> None:
    admin.add_user("self-pw", "Viewer", PASSWORD)
    here = Rest.sign_in(admin.server, "self-pw", PASSWORD)
    elsewhere = Rest.sign_in(admin.server, "self-pw", PASSWORD)
    assert not _refused(elsewhere)
    changed = here.call(
        "PUT", f"users/{here.user_id}", '<tsRequest><user password="mine-now"/></tsRequest>'
    )
    assert changed.status_code == 200, changed.text
    assert not _refused(here)
    assert _refused(elsewhere)


def test_unlicensed_ends_sessions_and_refuses_sign_in(admin: Rest) -> None:
    user_id = admin.add_user("to-unlicense", "Explorer", PASSWORD)
    session = Rest.sign_in(admin.server, "to-unlicense", PASSWORD)
    assert not _refused(session)
    changed = admin.call(
        "PUT", f"users/{user_id}", '<tsRequest><user siteRole="Unlicensed"/></tsRequest>'
    )
    assert changed.status_code == 200
    assert _refused(session)
    assert _sign_in_status(admin.server, "to-unlicense", PASSWORD) == 401


def test_removal_from_the_site_ends_sessions(admin: Rest) -> None:
    user_id = admin.add_user("to-remove", "Explorer", PASSWORD)
    session = Rest.sign_in(admin.server, "to-remove", PASSWORD)
    assert not _refused(session)
    assert admin.call("DELETE", f"users/{user_id}").status_code == 204
    assert _refused(session)


# ------------------------------------------------------------ personal access tokens


def test_list_and_revoke_own_token_ends_its_sessions(admin: Rest) -> None:
    admin.add_user("pat-owner", "Creator", PASSWORD)
    owner = Rest.sign_in(admin.server, "pat-owner", PASSWORD)
    secret = _create_pat(owner, "laptop")
    via_pat = _pat_sign_in(admin.server, "laptop", secret)
    assert not _refused(via_pat)
    listed = owner.http.get(_pats_url(admin.server), headers={"X-Tableau-Auth": owner.token})
    assert listed.status_code == 200
    (token,) = listed.json()["tokens"]
    assert token["name"] == "laptop" and token["user_name"] == "pat-owner"
    assert token["created_at"] and token["expires_at"] and token["last_used_at"]
    fields = {"name", "user_id", "user_name", "created_at", "expires_at", "last_used_at"}
    assert set(token) == fields
    assert secret not in listed.text
    revoked = owner.http.delete(
        f"{_pats_url(admin.server)}/laptop", headers={"X-Tableau-Auth": owner.token}
    )
    assert revoked.status_code == 204, revoked.text
    assert _refused(via_pat)  # the session signed in with it ended
    assert not _refused(owner)  # the password session did not
    with pytest.raises(TSC.NotSignedInError):
        TSC.Server(admin.server.base_url, use_server_version=True).auth.sign_in(
            TSC.PersonalAccessTokenAuth("laptop", secret, "")
        )
    again = owner.http.delete(
        f"{_pats_url(admin.server)}/laptop", headers={"X-Tableau-Auth": owner.token}
    )
    assert again.status_code == 404 and error_code(again) == "404003"


def test_revoking_ends_sessions_switched_to_other_sites(admin: Rest) -> None:
    created = admin.http.post(
        f"{admin.server.api()}/sites",
        content='<tsRequest><site name="PAT Elsewhere" contentUrl="pat-elsewhere"/></tsRequest>',
        headers={"X-Tableau-Auth": admin.token},
    )
    assert created.status_code == 201
    secret = _create_pat(admin, "switcher")
    tsc = TSC.Server(admin.server.base_url, use_server_version=True)
    tsc.auth.sign_in(TSC.PersonalAccessTokenAuth("switcher", secret, ""))
    tsc.auth.switch_site(TSC.SiteItem("PAT Elsewhere", "pat-elsewhere"))
    switched = Rest(admin.server, tsc.auth_token, tsc.site_id, tsc.user_id)
    assert not _refused(switched)
    revoked = admin.http.delete(
        f"{_pats_url(admin.server)}/switcher", headers={"X-Tableau-Auth": admin.token}
    )
    assert revoked.status_code == 204
    assert _refused(switched)


def test_only_a_server_admin_manages_other_users_tokens(admin: Rest) -> None:
    admin.add_user("pat-a", "SiteAdministratorCreator", PASSWORD)
    admin.add_user("pat-b", "Creator", PASSWORD)
    site_admin = Rest.sign_in(admin.server, "pat-a", PASSWORD)
    holder = Rest.sign_in(admin.server, "pat-b", PASSWORD)
    secret = _create_pat(holder, "ci")
    headers = {"X-Tableau-Auth": site_admin.token}
    url = _pats_url(admin.server)
    for user in ("pat-b", "no-such-user"):  # the same answer whether or not the user exists
        listed = site_admin.http.get(url, params={"user": user}, headers=headers)
        revoked = site_admin.http.delete(f"{url}/ci", params={"user": user}, headers=headers)
        assert (listed.status_code, revoked.status_code) == (403, 403)
        assert error_code(listed) == error_code(revoked) == "403000"
    as_admin = {"X-Tableau-Auth": admin.token}
    listed = admin.http.get(url, params={"user": "pat-b"}, headers=as_admin)
    assert [t["name"] for t in listed.json()["tokens"]] == ["ci"]
    assert admin.http.get(url, params={"user": "no-such-user"}, headers=as_admin).status_code == 404
    via_pat = _pat_sign_in(admin.server, "ci", secret)
    assert not _refused(via_pat)
    revoked = admin.http.delete(f"{url}/ci", params={"user": "pat-b"}, headers=as_admin)
    assert revoked.status_code == 204
    assert _refused(via_pat)


def _admin_cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABHOOKS_")}
    env["TABHOOKS_DATABASE_URL"] = server.database_url
    env.update(store_env(server.database_url))
    return subprocess.run(
        [sys.executable, "-m", "tabhooks", "admin", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_lists_and_revokes_tokens(admin: Rest) -> None:
    made = _admin_cli(admin.server, "create-pat", ADMIN_USERNAME, "cli-revocable")
    assert made.returncode == 0, made.stdout + made.stderr
    secret = re.search(r"personalAccessTokenSecret: (\S+)", made.stdout).group(1)  # type: ignore[union-attr]
    via_pat = _pat_sign_in(admin.server, "cli-revocable", secret)
    listed = _admin_cli(admin.server, "list-pats", ADMIN_USERNAME)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "cli-revocable" in listed.stdout and secret not in listed.stdout
    revoked = _admin_cli(admin.server, "revoke-pat", ADMIN_USERNAME, "cli-revocable")
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    assert "1 session signed in with it ended" in " ".join(revoked.stdout.split())
    assert _refused(via_pat)  # never verified before, so no cache held it
    assert "cli-revocable" not in _admin_cli(admin.server, "list-pats").stdout
    missing = _admin_cli(admin.server, "revoke-pat", ADMIN_USERNAME, "cli-revocable")
    assert missing.returncode == 1 and "404003" in missing.stdout
    for command in ("list-pats", "revoke-pat"):
        assert "Example" in _admin_cli(admin.server, command, "--help").stdout


# ------------------------------------------------------------ several API processes


@pytest.fixture(scope="module")
def two_processes(
    postgres_admin_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two API processes on one PostgreSQL store, each trusting a verified token for a minute."""
    url = databases.new_postgres_url(postgres_admin_url)
    env = {"TABHOOKS_AUTH_CACHE_S": "60"}
    one = ServerProcess(url, tmp_path_factory.mktemp("one"), extra_env=env).start()
    two = ServerProcess(
        url, tmp_path_factory.mktemp("two"), extra_env=env, args=("--dev", "--no-dispatcher")
    ).start()
    yield one, two
    two.stop()
    one.stop()


def _refused_soon(rest: Rest) -> bool:
    """Whether the token is refused (401002) before :data:`NOTICE_DEADLINE_S`.

    Until the notice arrives a removed user's token may still authenticate and get 404 for
    their own record: anything but a 401 counts as not refused yet.
    """
    deadline = time.monotonic() + NOTICE_DEADLINE_S
    while time.monotonic() < deadline:
        response = rest.call("GET", f"users/{rest.user_id}")
        if response.status_code == 401:
            return error_code(response) == "401002"
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("event", ["password", "unlicensed", "removed", "pat-revoked"])
def test_revocation_reaches_every_process(
    two_processes: tuple[ServerProcess, ServerProcess], event: str
) -> None:
    one, two = two_processes
    admin = Rest.sign_in(one)
    name = f"multi-{event}"
    user_id = admin.add_user(name, "Creator", PASSWORD)
    if event == "pat-revoked":
        signed_in = _pat_sign_in(one, name + "-token", _create_pat(admin, name + "-token", name))
    else:
        signed_in = Rest.sign_in(one, name, PASSWORD)
    elsewhere = Rest(two, signed_in.token, signed_in.site_id, signed_in.user_id)
    assert not _refused(elsewhere)  # process two now trusts it for a minute
    if event == "password":
        response = admin.call(
            "PUT", f"users/{user_id}", '<tsRequest><user password="x2"/></tsRequest>'
        )
    elif event == "unlicensed":
        response = admin.call(
            "PUT", f"users/{user_id}", '<tsRequest><user siteRole="Unlicensed"/></tsRequest>'
        )
    elif event == "removed":
        response = admin.call("DELETE", f"users/{user_id}")
    else:
        response = admin.http.delete(
            f"{_pats_url(one)}/{name}-token",
            params={"user": name},
            headers={"X-Tableau-Auth": admin.token},
        )
    assert response.status_code in (200, 204), response.text
    assert _refused(Rest(one, signed_in.token, signed_in.site_id, signed_in.user_id))
    assert _refused_soon(elsewhere)
