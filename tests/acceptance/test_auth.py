"""Sign-in, tokens, sign-out and site switching against the real server."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
import tableauserverclient as TSC

from tests.support.server import (
    ADMIN_PASSWORD,
    ADMIN_PAT_NAME,
    ADMIN_PAT_SECRET,
    ADMIN_USERNAME,
    ServerProcess,
)

NS = {"t": "http://tableau.com/api"}


def test_tsc_sign_in_with_password_uses_newest_version(server: ServerProcess) -> None:
    tsc_server = TSC.Server(server.base_url, use_server_version=True)
    auth = TSC.TableauAuth(ADMIN_USERNAME, ADMIN_PASSWORD, site_id="")
    with tsc_server.auth.sign_in(auth):
        # TSC 0.41+ signs in at 2.4, then switches to the advertised version.
        assert tuple(int(p) for p in tsc_server.version.split(".")) >= (3, 28)
        assert tsc_server.auth_token
        assert tsc_server.site_id
        info = tsc_server.server_info.get()
        assert info.rest_api_version == "3.28"
        assert info.product_version


def test_tsc_sign_in_with_pat_then_sign_out_refuses_old_token(server: ServerProcess) -> None:
    tsc_server = TSC.Server(server.base_url, use_server_version=True)
    tsc_server.auth.sign_in(TSC.PersonalAccessTokenAuth(ADMIN_PAT_NAME, ADMIN_PAT_SECRET, ""))
    token, site_id, user_id = tsc_server.auth_token, tsc_server.site_id, tsc_server.user_id
    user = tsc_server.users.get_by_id(user_id)
    assert user.name == ADMIN_USERNAME
    tsc_server.auth.sign_out()
    response = httpx.get(
        f"{server.api()}/sites/{site_id}/users/{user_id}", headers={"X-Tableau-Auth": token}
    )
    assert response.status_code == 401
    assert ET.fromstring(response.content).find("t:error", NS).get("code") == "401002"


def test_tsc_wrong_password_raises_failed_sign_in(server: ServerProcess) -> None:
    tsc_server = TSC.Server(server.base_url, use_server_version=True)
    with pytest.raises(TSC.FailedSignInError):
        tsc_server.auth.sign_in(TSC.TableauAuth(ADMIN_USERNAME, "wrong", site_id=""))


def test_sign_in_pat_estimated_time_to_expiration(server: ServerProcess) -> None:
    body = (
        f'<tsRequest><credentials personalAccessTokenName="{ADMIN_PAT_NAME}" '
        f'personalAccessTokenSecret="{ADMIN_PAT_SECRET}"><site contentUrl=""/></credentials>'
        "</tsRequest>"
    )
    response = httpx.post(f"{server.api('3.6')}/auth/signin", content=body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/xml;charset=utf-8"
    credentials = ET.fromstring(response.content).find("t:credentials", NS)
    hours, minutes, seconds = credentials.get("estimatedTimeToExpiration").split(":")
    assert int(hours) > 24 * 300 and 0 <= int(minutes) < 60 and 0 <= int(seconds) < 60


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_tableau_curl_recipe_form_encoded_sign_in(server: ServerProcess, tmp_path: Path) -> None:
    """The seed docs' `curl ... -X POST -d @signin.xml` (form-encoded, newlines stripped)."""
    signin = tmp_path / "signin.xml"
    signin.write_text(
        "<tsRequest>\n"
        f'<credentials name="{ADMIN_USERNAME}" password="{ADMIN_PASSWORD}" >\n'
        '<site contentUrl="" />\n'
        "</credentials>\n"
        "</tsRequest>\n"
    )
    result = subprocess.run(
        ["curl", "-s", "-S", f"{server.api('3.1')}/auth/signin", "-X", "POST", "-d", f"@{signin}"],
        capture_output=True,
        check=True,
        timeout=30,
    )
    root = ET.fromstring(result.stdout)
    credentials = root.find("t:credentials", NS)
    assert credentials is not None, result.stdout
    assert credentials.get("token")
    assert credentials.find("t:site", NS).get("contentUrl") == ""
    assert credentials.find("t:user", NS).get("id")


def test_json_sign_in_returns_json_shape(server: ServerProcess) -> None:
    response = httpx.post(
        f"{server.api()}/auth/signin",
        json={
            "credentials": {
                "site": {"contentUrl": ""},
                "name": ADMIN_USERNAME,
                "password": ADMIN_PASSWORD,
            }
        },
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json;charset=utf-8"
    credentials = response.json()["credentials"]
    assert set(credentials) >= {"token", "site", "user"}
    assert set(credentials["site"]) == {"id", "contentUrl"}
    assert set(credentials["user"]) == {"id"}


def test_json_pat_sign_in_with_null_user_is_not_impersonation(server: ServerProcess) -> None:
    response = httpx.post(
        f"{server.api()}/auth/signin",
        json={
            "credentials": {
                "site": {"contentUrl": ""},
                "personalAccessTokenName": ADMIN_PAT_NAME,
                "personalAccessTokenSecret": ADMIN_PAT_SECRET,
                "user": {"id": None},
            }
        },
        headers={"Accept": "application/json", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["credentials"]["estimatedTimeToExpiration"]


def test_user_name_is_case_insensitive_like_tabcmd_sends(server: ServerProcess) -> None:
    body = (
        f'<tsRequest><credentials name="{ADMIN_USERNAME.upper()}" password="{ADMIN_PASSWORD}">'
        '<site contentUrl=""/></credentials></tsRequest>'
    )
    assert httpx.post(f"{server.api('2.4')}/auth/signin", content=body).status_code == 200


def test_header_name_any_case(server: ServerProcess, admin_token: tuple[str, str, str]) -> None:
    token, site_id, user_id = admin_token
    for name in ("x-tableau-auth", "X-TABLEAU-AUTH", "X-Tableau-Auth"):
        response = httpx.get(
            f"{server.api()}/sites/{site_id}/users/{user_id}", headers={name: token}
        )
        assert response.status_code == 200


def test_switch_site_issues_new_token_and_revokes_old(server: ServerProcess) -> None:
    tsc_server = TSC.Server(server.base_url, use_server_version=True)
    with tsc_server.auth.sign_in(TSC.TableauAuth(ADMIN_USERNAME, ADMIN_PASSWORD, site_id="")):
        tsc_server.sites.create(TSC.SiteItem("Switch Target", "switchtarget"))
        old_token, old_site = tsc_server.auth_token, tsc_server.site_id
        tsc_server.auth.switch_site(TSC.SiteItem("Switch Target", "switchtarget"))
        assert tsc_server.site_id != old_site
        assert tsc_server.auth_token != old_token
        response = httpx.get(
            f"{server.api()}/sites/{old_site}/users", headers={"X-Tableau-Auth": old_token}
        )
        assert response.status_code == 401


def test_token_expires_after_ttl(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """With a one-minute TTL a token is refused once a minute has passed (clock skipped via DB)."""
    from tests.conftest import database_url_for

    url = database_url_for(backend, request, tmp_path)
    running = ServerProcess(
        url, tmp_path, extra_env={"TABHOOKS_SESSION_TTL_MINUTES": "1", "TABHOOKS_AUTH_CACHE_S": "0"}
    ).start()
    try:
        response = httpx.post(
            f"{running.api()}/auth/signin",
            content=f'<tsRequest><credentials name="{ADMIN_USERNAME}" password="{ADMIN_PASSWORD}">'
            '<site contentUrl=""/></credentials></tsRequest>',
        )
        token = ET.fromstring(response.content).find("t:credentials", NS).get("token")
        site_id = ET.fromstring(response.content).find("t:credentials/t:site", NS).get("id")
        headers = {"X-Tableau-Auth": token}
        assert (
            httpx.get(f"{running.api()}/sites/{site_id}/users", headers=headers).status_code == 200
        )
        _expire_all_sessions(url)
        response = httpx.get(f"{running.api()}/sites/{site_id}/users", headers=headers)
        assert response.status_code == 401
        assert ET.fromstring(response.content).find("t:error", NS).get("code") == "401002"
    finally:
        running.stop()


def _expire_all_sessions(url: str) -> None:
    """Move every session's expiry into the past, as if the TTL had elapsed."""
    from sqlalchemy import create_engine, text

    sync_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(sync_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE sessions SET expires_at = '2000-01-01 00:00:00'"))
    engine.dispose()
