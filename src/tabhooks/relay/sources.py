"""Where a route's enrichment looks resources up: a stored profile, or a server and a PAT.

A *profile* is one the ``tabhooks login`` command saved (``tabhooks.cli.profiles``), read from
the server's own config directory (``TABHOOKS_CONFIG_DIR``) each time, so a CLI re-login is
picked up without a restart. Profiles never hold secrets: the cached session is used until it
expires, then the secret is read from the variable the profile names — in the *server's*
environment. A *server* source stores its PAT on the route, because the server has to sign
in unattended; the API never shows it again.

This is the only relay module that knows the CLI's profile file; the lookup itself
(:mod:`tabhooks.relay.lookup`) sees a plain :class:`~tabhooks.relay.lookup.Source`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tabhooks.cli import profiles
from tabhooks.cli.output import CliError
from tabhooks.relay.lookup import LookupFailed, Source


def profile_source(name: str) -> Source:
    """The profile ``name`` as a source; :class:`LookupFailed` when it cannot be read."""
    try:
        profile = profiles.load(name)
    except CliError as exc:
        raise LookupFailed(f"profile '{name}' is not usable here: {exc.message}") from exc
    who = profile.pat_name if profile.auth == "pat" else profile.username
    expires = profile.token_expires_at
    return Source(
        label=f"profile '{name}'",
        server=profile.server.rstrip("/"),
        site=profile.site,
        auth=profile.auth,
        who=who or "",
        secret=os.environ.get(profile.secret_env) if profile.secret_env else None,
        api_version=profile.api_version,
        token=profile.token,
        token_site_id=profile.site_id,
        token_expires_at=datetime.fromisoformat(expires) if expires else None,
    )


def server_source(server: str, site: str, pat_name: str, pat_secret: str) -> Source:
    return Source(
        label=server.rstrip("/"),
        server=server.rstrip("/"),
        site=site,
        auth="pat",
        who=pat_name,
        secret=pat_secret,
    )


def for_route(route: Mapping[str, Any]) -> Source | None:
    """The route's remote source, or ``None`` to look in this server's own store."""
    if route.get("enrich_profile"):
        return profile_source(str(route["enrich_profile"]))
    if route.get("enrich_server"):
        return server_source(
            str(route["enrich_server"]),
            str(route.get("enrich_site") or ""),
            str(route.get("enrich_pat_name") or ""),
            str(route.get("enrich_pat_secret") or ""),
        )
    return None
