"""``tabhooks admin create-pat`` works on the store directly, and the token signs in."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import tableauserverclient as TSC

from tests.support.server import ADMIN_USERNAME, ServerProcess, store_env


def test_create_pat_then_sign_in_with_tsc(server: ServerProcess) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABHOOKS_")}
    env["TABHOOKS_DATABASE_URL"] = server.database_url
    env.update(store_env(server.database_url))
    result = subprocess.run(
        [sys.executable, "-m", "tabhooks", "admin", "create-pat", ADMIN_USERNAME, "cli-made"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    secret = re.search(r"personalAccessTokenSecret: (\S+)", result.stdout).group(1)
    tsc = TSC.Server(server.base_url, use_server_version=True)
    with tsc.auth.sign_in(TSC.PersonalAccessTokenAuth("cli-made", secret, "")):
        assert tsc.users.get_by_id(tsc.user_id).name == ADMIN_USERNAME
    again = subprocess.run(
        [sys.executable, "-m", "tabhooks", "admin", "create-pat", ADMIN_USERNAME, "cli-made"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1 and "409" in again.stdout


def test_version_and_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tabhooks", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("tabhooks ")
    for command in (["serve"], ["worker"], ["admin", "create-pat"]):
        help_text = subprocess.run(
            [sys.executable, "-m", "tabhooks", *command, "--help"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "Example" in help_text
