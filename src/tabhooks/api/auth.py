"""``/api/{v}/auth``: sign in (password or PAT), sign out, switch site."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tabhooks.api.deps import (
    CallerDep,
    SettingsDep,
    StoreDep,
    auth_token,
    forget_principals,
    require_version,
)
from tabhooks.api.throttle import signin_throttle
from tabhooks.api.wire import no_content, read_body, respond
from tabhooks.errors import BadRequest, SigninFailed
from tabhooks.services import auth
from tabhooks.store.tables import utcnow
from tabhooks.tsxml import Element, element

router = APIRouter(prefix="/api/{api_version}/auth", dependencies=[Depends(require_version())])


def _duration(until: datetime) -> str:
    """Tableau's ``HHH:MM:SS`` countdown."""
    seconds = max(0, int((until - utcnow()).total_seconds()))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _credentials(result: auth.SignIn) -> Element:
    expiry = result.credential_expires_at
    return element(
        "credentials",
        element("site", id=result.site.id, contentUrl=result.site.content_url),
        element("user", id=result.user.id),
        token=result.token,
        estimatedTimeToExpiration=_duration(expiry) if expiry else None,
    )


@router.post("/signin", operation_id="signIn", dependencies=[Depends(signin_throttle)])
async def sign_in(request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    credentials = (await read_body(request)).child("credentials")
    if credentials is None:
        raise BadRequest("The sign-in request must contain a <credentials> element.")
    site = credentials.child("site")
    content_url = (site.attr("contentUrl") if site else None) or ""
    impersonate = credentials.child("user")
    if impersonate is not None and impersonate.attr("id"):
        raise SigninFailed("Impersonation is not supported by this server.")
    if credentials.attr("jwt"):
        raise SigninFailed("JWT (connected app) sign-in is not supported by this server.")
    pat_name = credentials.attr("personalAccessTokenName")
    if pat_name:
        result = await auth.sign_in_pat(
            store,
            settings,
            name=pat_name,
            secret=credentials.attr("personalAccessTokenSecret") or "",
            content_url=content_url,
        )
    elif credentials.attr("name"):
        result = await auth.sign_in_password(
            store,
            settings,
            name=credentials.attr("name") or "",
            password=credentials.attr("password") or "",
            content_url=content_url,
        )
    else:
        raise BadRequest(
            "The credentials need name and password, or personalAccessTokenName and "
            "personalAccessTokenSecret."
        )
    return respond(request, _credentials(result))


@router.post("/signout", status_code=204, operation_id="signOut")
async def sign_out(request: Request, store: StoreDep, caller: CallerDep) -> Response:
    await auth.sign_out(store, auth_token(request) or "")
    forget_principals(request)
    return no_content()


@router.post("/switchSite", operation_id="switchSite")
async def switch_site(
    request: Request, store: StoreDep, settings: SettingsDep, caller: CallerDep
) -> Response:
    site = (await read_body(request)).child("site")
    if site is None:
        raise BadRequest("The switchSite request must contain a <site contentUrl=...> element.")
    result = await auth.switch_site(
        store, settings, caller, site.attr("contentUrl") or "", auth_token(request) or ""
    )
    forget_principals(request)
    return respond(request, _credentials(result))
