"""The vocabulary of the authorization matrix: who calls, what they may get, how it is judged.

An :class:`Outcome` is a class of answers (allowed, refused as 401/403, hidden as 404, sent to
the sign-in page) judged from the response alone, so an expectation is strict — a Viewer
answered 200 where 403 is expected fails — without pinning the exact body. "Allowed" is any
2xx or 3xx that is not a redirect to the sign-in page, plus the Tableau error codes a case
names as proof that authorization passed (e.g. ``409000`` for redelivering a delivery that is
still pending: the role check ran first).

The presets (:func:`expect` and the named ones) spell Tableau's rules once, so each row of the
matrix is a rule, not twelve literals.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

# The principals (columns of the matrix). Every role user but the server administrator and
# "other" is a member of site A, where the targets live.
ANON = "anonymous"
VIEWER = "Viewer"
READ_ONLY = "ReadOnly"
EXPLORER = "Explorer"
EXPLORER_PUBLISH = "ExplorerCanPublish"
CREATOR = "Creator"
#: A Creator who owns the site's content, queued its jobs and made its bins.
OWNER = "Creator-owner"
SITE_ADMIN_EXPLORER = "SiteAdministratorExplorer"
SITE_ADMIN_CREATOR = "SiteAdministratorCreator"
#: Signed in while a Viewer, then made Unlicensed: the change must end the session.
UNLICENSED = "Unlicensed"
#: A SiteAdministratorCreator of site B, calling B's paths with A's ids (the cross-tenant case).
OTHER_SITE_ADMIN = "other-site-admin"
#: The server administrator, signed in to site A.
SERVER_ADMIN = "server-admin"

PRINCIPALS: tuple[str, ...] = (
    ANON,
    VIEWER,
    READ_ONLY,
    EXPLORER,
    EXPLORER_PUBLISH,
    CREATOR,
    OWNER,
    SITE_ADMIN_EXPLORER,
    SITE_ADMIN_CREATOR,
    UNLICENSED,
    OTHER_SITE_ADMIN,
    SERVER_ADMIN,
)
#: The site roles of the role users on site A (the owner is a Creator too).
SITE_ROLES: dict[str, str] = {
    VIEWER: "Viewer",
    READ_ONLY: "ReadOnly",
    EXPLORER: "Explorer",
    EXPLORER_PUBLISH: "ExplorerCanPublish",
    CREATOR: "Creator",
    OWNER: "Creator",
    SITE_ADMIN_EXPLORER: "SiteAdministratorExplorer",
    SITE_ADMIN_CREATOR: "SiteAdministratorCreator",
    UNLICENSED: "Viewer",
}
SITE_ADMINS = (SITE_ADMIN_EXPLORER, SITE_ADMIN_CREATOR, SERVER_ADMIN)
#: Who may see and change a bin's settings and secret (its maker and the administrators).
BIN_MANAGERS = (OWNER, *SITE_ADMINS)


def error_code(response: httpx.Response) -> str | None:
    """The Tableau (XML) or JSON error code of an answer, if it carries one."""
    kind = response.headers.get("content-type", "")
    try:
        if "json" in kind:
            body = response.json()
            error = body.get("error") if isinstance(body, dict) else None
            return str(error["code"]) if isinstance(error, dict) and "code" in error else None
        if "xml" in kind:
            node = ET.fromstring(response.content).find("{http://tableau.com/api}error")
            return node.get("code") if node is not None else None
    except (ValueError, ET.ParseError, KeyError):
        return None
    return None


def _login_redirect(response: httpx.Response) -> bool:
    location = response.headers.get("location", "")
    return response.status_code in (302, 303, 307) and location.startswith("/ui/login?next=")


@dataclass(frozen=True)
class Outcome:
    """A class of answers; ``allowed`` outcomes also get the matrix's content checks."""

    name: str
    statuses: frozenset[int] = frozenset()
    allowed: bool = False
    login: bool = False

    def matches(self, response: httpx.Response, ok_codes: frozenset[str]) -> bool:
        if self.login:
            return _login_redirect(response)
        if self.allowed:
            if 200 <= response.status_code < 400:
                return not _login_redirect(response)
            return error_code(response) in ok_codes
        return response.status_code in self.statuses


ALLOW = Outcome("allowed", allowed=True)
UNAUTH = Outcome("401", frozenset({401}))
FORBIDDEN = Outcome("403", frozenset({403}))
HIDDEN = Outcome("404 (hidden)", frozenset({404}))
#: Refused either way: a 403 or a 404 that confirms nothing (a design choice left open).
REFUSED = Outcome("403/404", frozenset({403, 404}))
#: Authorized, but the thing named belongs to another site or is not usable here.
REJECTED = Outcome("400/404", frozenset({400, 404}))
#: Refused as not allowed or not available (a setting an operator must turn on).
DISALLOWED = Outcome("400/403", frozenset({400, 403}))
#: Refused for credentials or membership (sign-in failures answer 401 in Tableau).
DENIED = Outcome("401/403/404", frozenset({401, 403, 404}))
#: A dashboard page sends whoever is not signed in to the sign-in page.
LOGIN = Outcome("sign-in page", login=True)
#: The sign-in form shown again with an error.
LOGIN_FAILED = Outcome("sign-in refused", frozenset({401}))

#: Short keyword names for :func:`expect`.
_KEYWORDS = {
    "viewer": VIEWER,
    "read_only": READ_ONLY,
    "explorer": EXPLORER,
    "explorer_publish": EXPLORER_PUBLISH,
    "creator": CREATOR,
    "owner": OWNER,
    "sae": SITE_ADMIN_EXPLORER,
    "sac": SITE_ADMIN_CREATOR,
    "server": SERVER_ADMIN,
}


def expect(
    default: Outcome,
    *,
    anon: Outcome = UNAUTH,
    unlicensed: Outcome = UNAUTH,
    other: Outcome = HIDDEN,
    **roles: Outcome,
) -> dict[str, Outcome]:
    """One row's outcomes: ``default`` for every role user and the server admin, then overrides.

    Args:
        anon: no credentials at all.
        unlicensed: a session of a user since made Unlicensed.
        other: a site administrator of site B, with B in the path and A's ids in it.
        roles: ``viewer``, ``read_only``, ``explorer``, ``explorer_publish``, ``creator``,
            ``owner``, ``sae``, ``sac``, ``server``.
    """
    unknown = set(roles) - set(_KEYWORDS)
    if unknown:
        raise TypeError(f"unknown principals {sorted(unknown)}")
    table = {principal: default for principal in _KEYWORDS.values()}
    table.update({_KEYWORDS[k]: v for k, v in roles.items()})
    table.update({ANON: anon, UNLICENSED: unlicensed, OTHER_SITE_ADMIN: other})
    return table


def with_(table: Mapping[str, Outcome], **changes: Outcome) -> dict[str, Outcome]:
    """``table`` with some principals changed (keywords as in :func:`expect`, plus ``other``,
    ``anon`` and ``unlicensed``)."""
    names = {**_KEYWORDS, "other": OTHER_SITE_ADMIN, "anon": ANON, "unlicensed": UNLICENSED}
    return {**table, **{names[k]: v for k, v in changes.items()}}


def ui(table: Mapping[str, Outcome]) -> dict[str, Outcome]:
    """The same rule on a dashboard page: no session means the sign-in page, not a 401."""
    return {p: (LOGIN if o is UNAUTH else o) for p, o in table.items()}


# Tableau's rules, once.
PUBLIC = expect(ALLOW, anon=ALLOW, unlicensed=ALLOW, other=ALLOW)
MEMBERS = expect(ALLOW)
ADMINS = expect(FORBIDDEN, sae=ALLOW, sac=ALLOW, server=ALLOW)
PUBLISHERS = expect(ALLOW, viewer=FORBIDDEN, read_only=FORBIDDEN, explorer=FORBIDDEN)
OWNER_OR_ADMIN = expect(FORBIDDEN, owner=ALLOW, sae=ALLOW, sac=ALLOW, server=ALLOW)
SERVER_ONLY = expect(FORBIDDEN, server=ALLOW, other=FORBIDDEN)
BIN_MANAGERS_ONLY = expect(REFUSED, owner=ALLOW, sae=ALLOW, sac=ALLOW, server=ALLOW)
#: Every member; site B's administrator is answered too, from site B's own data (a listing,
#: a creation on their own site).
MEMBERS_ANY_SITE = with_(MEMBERS, other=ALLOW)
#: Site and server administrators; site B's administrator is answered from site B's own data.
ADMINS_ANY_SITE = with_(ADMINS, other=ALLOW)
#: Whoever is signed in, acting on what is their own (their tokens, their name, favorites).
SELF = expect(ALLOW, other=ALLOW)
#: Only the server administrator, who learns no more than that the name is unknown (404).
SERVER_ONLY_HIDDEN = expect(FORBIDDEN, server=HIDDEN, other=FORBIDDEN)


@dataclass(frozen=True)
class Call:
    """One request of a case.

    Args:
        path: below the server's base URL.
        form: a dashboard form; the actor's CSRF token is added.
        stream: read only the status and headers (server-sent events never end).
        hidden: strings an allowed answer to this request must not contain.
        fresh_login: sign in again first and use that session (sign-out, switch site, log out).
        capability: the URL itself grants the page (a bin's): whoever holds it may see what the
            page shows anyone, so only secrets count as leaks, not the other tenant's names.
    """

    method: str
    path: str
    json: Any = None
    content: bytes | str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    form: Mapping[str, str] | None = None
    params: Mapping[str, str] | None = None
    stream: bool = False
    hidden: tuple[str, ...] = ()
    ui: bool = False
    fresh_login: bool = False
    capability: bool = False

    def text(self) -> str:
        """Everything the request itself says, so an echo of it is not counted as a leak."""
        body = self.content.decode(errors="replace") if isinstance(self.content, bytes) else ""
        if isinstance(self.content, str):
            body = self.content
        return " ".join(
            (
                self.path,
                body,
                json.dumps(self.json) if self.json is not None else "",
                json.dumps(dict(self.form or {})),
                json.dumps(dict(self.params or {})),
            )
        )


@dataclass(frozen=True)
class Case:
    """One row (or one variant of a row) of the matrix.

    Args:
        expect: the outcome for every principal of :data:`PRINCIPALS`.
        call: builds the request for one actor (``(world, actor) -> Call``); it may create a
            fresh target first, so destructive calls never share one.
        ok_codes: error codes that still prove the caller was authorized.
        label: names a variant when a route has several.
    """

    expect: Mapping[str, Outcome]
    call: Callable[[Any, Any], Call]
    ok_codes: frozenset[str] = frozenset()
    label: str = ""


CallBuilder = Callable[[Any, Any], Call]


def call(method: str, path: str | Callable[[Any, Any], str], **options: Any) -> CallBuilder:
    """A :attr:`Case.call` that sends the same kind of request for every actor.

    Args:
        path: A template formatted with the world ``w`` and the actor ``a``
            (``"{a.api}/views/{w.a.view}"``), or a function of them for a path that needs a
            fresh target (``lambda w, a: f"{a.api}/groups/{w.group()}"``).
        options: The other fields of :class:`Call` (``ui``, ``form``, ``params``, ...).
    """

    def build(w: Any, a: Any) -> Call:
        where = path(w, a) if callable(path) else path.format(w=w, a=a)
        return Call(method, where, **options)

    return build


def page(expect: Mapping[str, Outcome], path: str, label: str = "", **options: Any) -> Case:
    """A dashboard page fetched with the actor's dashboard session (see :func:`ui`)."""
    return Case(ui(expect), call("GET", path, ui=True, **options), label=label)


def form(
    expect: Mapping[str, Outcome], path: str | Callable[[Any, Any], str], **fields: str
) -> Case:
    """A dashboard form posted with the actor's session and CSRF token (see :func:`ui`)."""
    return Case(ui(expect), call("POST", path, form=fields, ui=True))
