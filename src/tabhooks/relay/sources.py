"""Where a route's enrichment looks resources up: a stored profile, or a server and a PAT.

A *profile* is one the ``tabhooks login`` command saved (:mod:`tabhooks.tableau.profiles`),
read from the server's own config directory (``TABHOOKS_CONFIG_DIR``) each time, so a CLI
re-login is picked up without a restart. Profiles never hold secrets: the cached session is
used until it expires, then the secret is read from the variable the profile names — in the
*server's* environment. A *server* source stores its PAT on the route, because the server has
to sign in unattended; the API never shows it again.

Profiles are the operator's: they sign in as whoever ran ``tabhooks login`` on the server, so
only a server administrator may point a route at one (:mod:`tabhooks.services.relays` enforces
it), and nothing here tells a caller where the server keeps them — a profile that cannot be
read is reported by name only, and the reason (which names files) goes to the server's log.

This is the only relay module that knows the profile file; the lookup itself
(:mod:`tabhooks.relay.lookup`) sees a plain :class:`~tabhooks.relay.lookup.Source`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tabhooks.relay.lookup import LookupFailed, Source
from tabhooks.tableau import profiles
from tabhooks.tableau.profiles import ProfileError

log = logging.getLogger(__name__)


def profile_source(name: str) -> Source:
    """The profile ``name`` as a source.

    Raises:
        LookupFailed: The profile does not exist or cannot be read; the message names the
            profile only (the profile's own error names the file's path, which is the
            server's business), and the full reason is logged.
    """
    try:
        profile = profiles.load(name)
        expires = profile.token_expires_at
        expires_at = datetime.fromisoformat(expires) if expires else None
    except (ProfileError, TypeError, ValueError) as exc:  # TypeError: a hand-edited profile
        reason = exc.message if isinstance(exc, ProfileError) else repr(exc)
        log.warning("action=relay_profile_unusable profile=%s reason=%s", name, reason)
        raise LookupFailed(
            f"profile '{name}' is not usable here: no such profile is saved on this server, "
            "or it cannot be read (the server log says why)"
        ) from exc
    who = profile.pat_name if profile.auth == "pat" else profile.username
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
        token_expires_at=expires_at,
    )


def server_source(server: str, site: str, pat_name: str, pat_secret: str) -> Source:
    """A server URL and a PAT stored on the route, as a source."""
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
