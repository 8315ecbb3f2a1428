"""Dashboard sign-in: a cookie holding a REST session token, and CSRF checks on every form.

The cookie holds only the random token :func:`tabhooks.services.auth.sign_in_password`
issues, the same kind of session the REST API uses: same users, same password hashing, same
expiry, revoked at sign-out, stored only as a hash. It is ``HttpOnly`` (scripts never see
it), ``SameSite=Lax`` (other sites' forms do not carry it) and ``Secure`` over https.

CSRF: every POST form carries a token that is an HMAC of the session token (a synchronizer
token that needs no storage: only a holder of the cookie can compute it, and it changes with
every session). The sign-in form, having no session yet, uses a double-submit cookie. A form
whose token is missing or wrong is refused with a 403 page before anything happens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends
from starlette.requests import Request
from starlette.responses import Response

from tabhooks.errors import BadRequest, TableauError
from tabhooks.services import auth
from tabhooks.services.principal import Principal
from tabhooks.store import Store

SESSION_COOKIE = "tabhooks_session"
SESSION_COOKIE_PATH = "/ui"
LOGIN_CSRF_COOKIE = "tabhooks_login_csrf"
CSRF_FIELD = "csrf"
FORM_MAX_BYTES = 256 * 1024
_CSRF_LABEL = b"tabhooks-ui-csrf"


class SignInRequired(Exception):
    """The page needs a signed-in viewer; the handler redirects to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Exception):
    """A form arrived without the token of the viewer's session."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """A signed-in dashboard user and the CSRF token their forms must carry."""

    principal: Principal
    csrf: str


def csrf_for(session_token: str) -> str:
    return hmac.new(session_token.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def optional_viewer(request: Request) -> Viewer | None:
    """The signed-in viewer, or ``None`` (no cookie, or an expired or revoked session)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        principal = await auth.authenticate(_store(request), token)
    except TableauError:
        return None
    return Viewer(principal, csrf_for(token))


async def require_viewer(request: Request) -> Viewer:
    viewer = await optional_viewer(request)
    if viewer is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target if request.method == "GET" else "/ui/")
    return viewer


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the only kind our forms send)."""
    body = await request.body()
    if len(body) > FORM_MAX_BYTES:
        raise BadRequest("The form is too large.")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError as exc:
        raise BadRequest("The form is not UTF-8.") from exc


async def checked_form(request: Request, expected: str | None) -> dict[str, str]:
    """The form, if its CSRF field equals ``expected``; otherwise :class:`CsrfRefused`."""
    form = await read_form(request)
    given = form.get(CSRF_FIELD, "")
    if not expected or not given or not hmac.compare_digest(given, expected):
        raise CsrfRefused()
    return form


def secure_cookies(request: Request) -> bool:
    public = request.app.state.settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def login_token(request: Request) -> str:
    """The sign-in form's CSRF token: the browser's pre-session cookie, or a new one."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)


def remember_login_token(request: Request, response: Response, token: str) -> None:
    """Set the cookie the sign-in form must echo (double submit)."""
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/ui/login",
    )


def open_session(request: Request, response: Response, token: str, ttl_s: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=ttl_s,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        # Only the pages send it: a browser visiting a bin's capture URL (/inbox/...) must
        # not hand the session to the bin, whose captured headers its viewers can read.
        path=SESSION_COOKIE_PATH,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/ui/login")


def close_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=SESSION_COOKIE_PATH)


ViewerDep = Annotated[Viewer, Depends(require_viewer)]
MaybeViewerDep = Annotated[Viewer | None, Depends(optional_viewer)]
