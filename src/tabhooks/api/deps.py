"""Typed FastAPI dependencies: the store, the settings, the API version and the caller."""

from __future__ import annotations

import functools
import re
from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from tabhooks.config import OLDEST_API_VERSION, REST_API_VERSION, Settings
from tabhooks.errors import UnsupportedVersion
from tabhooks.services import auth
from tabhooks.services.principal import Principal
from tabhooks.store import Store

_VERSION = re.compile(r"^(\d{1,2})\.(\d{1,2})$")


@functools.lru_cache(maxsize=64)  # checked twice per request; clients use a handful
def version_tuple(version: str) -> tuple[int, int] | None:
    match = _VERSION.match(version)
    return (int(match.group(1)), int(match.group(2))) if match else None


_OLDEST = version_tuple(OLDEST_API_VERSION)
_NEWEST = version_tuple(REST_API_VERSION)


async def get_store(request: Request) -> Store:
    return store_of(request)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state["settings"]
    return settings


def check_version(request: Request, minimum: str) -> tuple[int, int]:
    """The path's ``/api/{version}/``, refused outside [minimum, newest supported]."""
    raw = str(request.path_params.get("api_version", ""))
    version = version_tuple(raw)
    floor = version_tuple(minimum)
    assert _OLDEST and _NEWEST and floor
    if version is None or not (_OLDEST <= version <= _NEWEST):
        raise UnsupportedVersion(
            f"Unknown resource '{request.url.path}' specified in URI: REST API version "
            f"'{raw}' is not supported (this server speaks {OLDEST_API_VERSION} to "
            f"{REST_API_VERSION})."
        )
    if version < floor:
        raise UnsupportedVersion(
            f"Unknown resource '{request.url.path}' specified in URI: this method needs "
            f"REST API version {minimum} or later."
        )
    return version


def require_version(minimum: str = OLDEST_API_VERSION):  # type: ignore[no-untyped-def]
    """A dependency refusing ``/api/{version}/`` outside [minimum, newest supported]."""

    # async, so FastAPI runs it on the loop instead of handing it to a thread
    async def check(request: Request) -> tuple[int, int]:
        return check_version(request, minimum)

    return check


def auth_token(request: Request) -> str | None:
    # Starlette headers are case-insensitive, so x-tableau-auth in any case is found.
    return request.headers.get("x-tableau-auth")


async def current_principal(request: Request) -> Principal:
    """The signed-in caller, whatever site the path names (sign-out, switchSite, sites).

    The app's state is read by item, not attribute: Starlette's ``State`` answers attributes
    from ``__getattr__``, which Python calls only after the normal lookup has failed and
    raised, 0.6 µs each; an item is 0.1 µs (about 1.6 µs of every authenticated call, with
    :func:`store_of`; see docs/performance.md, "REST API per-request layers").
    """
    state = request.app.state
    return await auth.authenticate(state["store"], auth_token(request), state["principals"])


def forget_principals(request: Request) -> None:
    """Drop cached callers after a change to users, roles, sites or sessions."""
    request.app.state.principals.clear()


async def site_principal(request: Request, site_id: str) -> Principal:
    """The caller, checked against the ``{site_id}`` in the path."""
    principal = await current_principal(request)
    principal.require_site(site_id)
    return principal


class SiteCaller:
    """One dependency for a hot Tableau site route: API version, then caller, then site.

    It does what ``require_version`` on the router plus :data:`SiteCallerDep` and
    :data:`StoreDep` in the signature do, in the same order (so the same error wins), as
    one dependency taking only the request: FastAPI solves each dependency, and validates
    each parameter one declares, on every request, and that cost about 10 µs apiece — a
    tenth of Get Webhook's server time (see docs/performance.md, "REST API"). The handler
    reads the store with :func:`store_of`.

    Args:
        minimum: the oldest REST API version the route answers (Tableau's per-method floor).
    """

    def __init__(self, minimum: str = OLDEST_API_VERSION) -> None:
        if version_tuple(minimum) is None:  # fail at import, not per request
            raise ValueError(f"not a REST API version: {minimum!r}")
        self.minimum = minimum

    async def __call__(self, request: Request) -> Principal:
        check_version(request, self.minimum)
        principal = await current_principal(request)
        principal.require_site(request.path_params["site_id"])
        return principal


def store_of(request: Request) -> Store:
    """The app's store, for handlers and pages that take no :data:`StoreDep` (read by item:
    see :func:`current_principal`)."""
    store: Store = request.app.state["store"]
    return store


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CallerDep = Annotated[Principal, Depends(current_principal)]
SiteCallerDep = Annotated[Principal, Depends(site_principal)]
