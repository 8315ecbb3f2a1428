"""Bin use cases: create, list, read, change, clear and delete, with the rules on settings.

Bins belong to a site and to the user who made them. Any signed-in user of that site may see
them and what they captured (they are a development tool, shared by a team); only those who
may *manage* a bin — its creator, a site administrator of its site, a server administrator
(:func:`may_manage`) — may change, clear or delete it or see its signing secret, as only
those who manage a webhook see its secret. A bin of another site answers 404 so ids are never
confirmed. The capture URL itself needs no credentials: the unguessable id is the capability,
as on webhook.site.

Settings are checked here once for the JSON API and the dashboard forms alike. Chosen
response headers come from an allow-list (:mod:`tabhooks.inbox.answer_headers`), because the
bin's answer is served from tabhooks' own origin to whoever opens its URL. How many bins, and
kept requests, a user and a site may hold is checked here too (:mod:`tabhooks.inbox.quotas`),
in the transaction that creates or changes the bin.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Self

from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.config import Settings
from tabhooks.delivery import signing
from tabhooks.errors import BadRequest, Forbidden, InboxQuotaExceeded, ResourceNotFound
from tabhooks.inbox import answer_headers, quotas
from tabhooks.inbox.hub import InboxHub
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store import inbox as inbox_store
from tabhooks.store.tables import utcnow_precise

BIN_ID_PREFIX = "bin_"
NAME_MAX_CHARS = 255
#: Most requests one bin may keep, whatever it asks for.
MAX_REQUESTS_LIMIT = 10_000
#: Longest a bin may keep a request.
MAX_AGE_LIMIT_S = 30 * 24 * 3600
#: Longest chosen delay (webhook.site's hosted limit; above any sender's sensible timeout).
MAX_DELAY_S = 30.0
RESPONSE_BODY_MAX_BYTES = 64 * 1024
FAIL_NEXT_LIMIT = 10_000
DEFAULT_FAIL_STATUS = 500


@dataclass(frozen=True, slots=True)
class Bin:
    """A bin and how it answers."""

    id: str
    site_id: str
    created_by: str | None
    name: str
    max_requests: int
    max_age_s: int
    response_status: int
    response_headers: dict[str, str]
    response_body: str
    response_delay_s: float
    fail_remaining: int
    fail_percent: int
    fail_status: int
    never_answer: bool
    signing_secret: str | None
    created_at: datetime
    updated_at: datetime
    request_count: int | None = None
    last_received_at: datetime | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        return cls(
            id=row["id"],
            site_id=row["site_id"],
            created_by=row["created_by"],
            name=row["name"],
            max_requests=row["max_requests"],
            max_age_s=row["max_age_s"],
            response_status=row["response_status"],
            response_headers=json.loads(row["response_headers"] or "{}"),
            response_body=row["response_body"],
            response_delay_s=row["response_delay_ms"] / 1000,
            fail_remaining=row["fail_remaining"],
            fail_percent=row["fail_percent"],
            fail_status=row["fail_status"],
            never_answer=bool(row["never_answer"]),
            signing_secret=row["signing_secret"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            request_count=row.get("request_count"),
            last_received_at=row.get("last_received_at"),
        )

    def oldest_kept(self, now: datetime) -> datetime:
        """Requests received before this are past the bin's age limit."""
        return now - timedelta(seconds=self.max_age_s)


@dataclass(frozen=True, slots=True)
class BinChanges:
    """What a create or update asked for; ``None`` means "not given" (keep, or default)."""

    name: str | None = None
    max_requests: int | None = None
    max_age_s: int | None = None
    response_status: int | None = None
    response_headers: dict[str, str] | None = None
    response_body: str | None = None
    response_delay_s: float | None = None
    fail_next: int | None = None
    fail_percent: int | None = None
    fail_status: int | None = None
    never_answer: bool | None = None
    #: ``""`` removes the secret.
    signing_secret: str | None = None


def _in_range(label: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise BadRequest(f"{label} must be between {low:g} and {high:g}, not {value:g}.")


def _check_headers(headers: dict[str, str], origins: Collection[str]) -> str:
    problems = answer_headers.problems(headers, origins)
    if problems:
        raise BadRequest(f"response_headers: {' '.join(problems)}")
    return json.dumps(headers)


def _columns(changes: BinChanges, origins: Collection[str]) -> dict[str, Any]:
    """Validated column values for the fields ``changes`` names.

    Args:
        origins: This server's origins, the only absolute targets a chosen ``Location``
            may name (see :mod:`tabhooks.inbox.answer_headers`).
    """
    out: dict[str, Any] = {}
    c = changes
    if c.name is not None:
        if not c.name.strip() or len(c.name) > NAME_MAX_CHARS:
            raise BadRequest(f"A bin name must have 1 to {NAME_MAX_CHARS} characters.")
        out["name"] = c.name.strip()
    if c.max_requests is not None:
        _in_range("max_requests", c.max_requests, 1, MAX_REQUESTS_LIMIT)
        out["max_requests"] = c.max_requests
    if c.max_age_s is not None:
        _in_range("max_age_s", c.max_age_s, 1, MAX_AGE_LIMIT_S)
        out["max_age_s"] = c.max_age_s
    if c.response_status is not None:
        _in_range("response_status", c.response_status, 200, 599)
        out["response_status"] = c.response_status
    if c.response_headers is not None:
        out["response_headers"] = _check_headers(c.response_headers, origins)
    if c.response_body is not None:
        if len(c.response_body.encode()) > RESPONSE_BODY_MAX_BYTES:
            raise BadRequest(f"response_body must be at most {RESPONSE_BODY_MAX_BYTES} bytes.")
        out["response_body"] = c.response_body
    if c.response_delay_s is not None:
        _in_range("response_delay_s", c.response_delay_s, 0, MAX_DELAY_S)
        out["response_delay_ms"] = round(c.response_delay_s * 1000)
    if c.fail_next is not None:
        _in_range("fail_next", c.fail_next, 0, FAIL_NEXT_LIMIT)
        out["fail_remaining"] = c.fail_next
    if c.fail_percent is not None:
        _in_range("fail_percent", c.fail_percent, 0, 100)
        out["fail_percent"] = c.fail_percent
    if c.fail_status is not None:
        _in_range("fail_status", c.fail_status, 300, 599)
        out["fail_status"] = c.fail_status
    if c.never_answer is not None:
        out["never_answer"] = c.never_answer
    if c.signing_secret is not None:
        secret = c.signing_secret.strip()
        if secret:
            try:
                signing.decode_secret(secret)
            except ValueError as exc:
                raise BadRequest(f"signing_secret is not a whsec_ secret: {exc}.") from exc
        out["signing_secret"] = secret or None
    return out


def new_bin_id() -> str:
    """``bin_`` and 128 random bits: unguessable, since it is the capability to post and watch."""
    return BIN_ID_PREFIX + secrets.token_urlsafe(16)


async def create(
    store: Store,
    settings: Settings,
    principal: Principal,
    changes: BinChanges,
    origins: Collection[str] = (),
) -> Bin:
    """A new bin of the caller's site, created by them (so they manage it).

    Args:
        origins: This server's origins, for a chosen ``Location`` header.
    """
    now = utcnow_precise()
    bin_id = new_bin_id()
    values: dict[str, Any] = {
        "id": bin_id,
        "site_id": principal.site.id,
        "created_by": principal.user.id,
        "name": f"Bin {now:%Y-%m-%d %H:%M:%S}",
        "max_requests": settings.inbox_max_requests,
        "max_age_s": round(settings.inbox_max_age_hours * 3600),
        "response_status": 200,
        "response_headers": "{}",
        "response_body": "",
        "response_delay_ms": 0,
        "fail_remaining": 0,
        "fail_percent": 0,
        "fail_status": DEFAULT_FAIL_STATUS,
        "never_answer": False,
        "signing_secret": None,
        "created_at": now,
        "updated_at": now,
    }
    values.update(_columns(changes, origins))
    async with store.write() as conn:
        await _check_quotas(
            conn,
            quotas.BinQuotas.from_settings(settings),
            site_id=principal.site.id,
            creator=principal.user.id,
            new_bins=1,
            new_requests=values["max_requests"],
        )
        await inbox_store.create_bin(conn, values)
        row = await inbox_store.get_bin(conn, bin_id)
    assert row is not None
    return Bin.from_row(row)


async def _check_quotas(
    conn: AsyncConnection,
    limits: quotas.BinQuotas,
    *,
    site_id: str,
    creator: str | None,
    new_bins: int,
    new_requests: int,
    changing: str | None = None,
) -> None:
    """Refuse (403 ``403181``) a bin the site or its creator has no room for.

    Runs in the write transaction that creates or changes the bin, after locking the site and
    the creator (PostgreSQL), so two bins created at once cannot both take the last place.
    """
    await inbox_store.lock_for_quota(conn, site_id, creator)
    site, user = await inbox_store.bins_held(
        conn, site_id=site_id, user_id=creator, excluding=changing
    )
    problem = quotas.refusal(
        limits,
        site=quotas.Held(*site),
        user=quotas.Held(*user) if creator is not None else None,
        new_bins=new_bins,
        new_requests=new_requests,
    )
    if problem is not None:
        raise InboxQuotaExceeded(problem)


async def listing(store: Store, principal: Principal) -> list[Bin]:
    async with store.read() as conn:
        rows = await inbox_store.list_bins(conn, principal.site.id)
    return [Bin.from_row(r) for r in rows]


def _not_found(bin_id: str) -> ResourceNotFound:
    return ResourceNotFound(f"No inbox bin with id '{bin_id}' exists on this site.")


async def find(store: Store, bin_id: str) -> Bin | None:
    """A bin by its capability id alone (the capture URL and the public bin page)."""
    async with store.read() as conn:
        row = await inbox_store.get_bin(conn, bin_id)
    return Bin.from_row(row) if row else None


async def get(store: Store, principal: Principal, bin_id: str) -> Bin:
    """A bin of the caller's site, or 404 (another site's bin is never confirmed)."""
    found = await find(store, bin_id)
    if found is None or found.site_id != principal.site.id:
        raise _not_found(bin_id)
    return found


def may_manage(principal: Principal, bin_: Bin) -> bool:
    """Whether ``principal`` may change the bin and see its secret.

    Its creator, a site administrator of its site, or a server administrator signed in to
    its site: the people who may manage a webhook there, plus the bin's own author.
    """
    if principal.site.id != bin_.site_id:
        return False
    return principal.user.is_site_admin or principal.user.id == bin_.created_by


async def get_managed(store: Store, principal: Principal, bin_id: str) -> Bin:
    """A bin the caller may manage: 404 for another site's, 403 for one they only see."""
    found = await get(store, principal, bin_id)
    if not may_manage(principal, found):
        raise Forbidden(
            f"Only the bin's creator, a site administrator or a server administrator may change "
            f"inbox bin '{bin_id}'; user '{principal.user.name}' may only read it."
        )
    return found


async def update(
    store: Store,
    settings: Settings,
    principal: Principal,
    bin_id: str,
    changes: BinChanges,
    origins: Collection[str] = (),
) -> Bin:
    """Change the bin's settings (its managers only).

    Raising ``max_requests`` is checked against the quotas of the bin's site and creator;
    lowering it drops the requests beyond the new limit at once.

    Args:
        origins: This server's origins, for a chosen ``Location`` header.
    """
    current = await get_managed(store, principal, bin_id)
    columns = _columns(changes, origins)
    keep = columns.get("max_requests")
    async with store.write() as conn:
        if keep is not None and keep > current.max_requests:
            await _check_quotas(
                conn,
                quotas.BinQuotas.from_settings(settings),
                site_id=current.site_id,
                creator=current.created_by,
                new_bins=0,
                new_requests=keep,
                changing=bin_id,
            )
        if columns:
            await inbox_store.change_bin(conn, bin_id, columns)
        if keep is not None and keep < current.max_requests:
            await inbox_store.trim(conn, bin_id, keep)
        row = await inbox_store.get_bin(conn, bin_id)
    if row is None:
        raise _not_found(bin_id)
    return Bin.from_row(row)


async def clear(store: Store, principal: Principal, hub: InboxHub, bin_id: str) -> int:
    """Drop every request the bin holds; live views empty themselves."""
    await get_managed(store, principal, bin_id)
    async with store.write() as conn:
        count = await inbox_store.clear(conn, bin_id)
    hub.publish(bin_id, "cleared")
    return count


async def delete(store: Store, principal: Principal, hub: InboxHub, bin_id: str) -> None:
    """Delete the bin and its requests; its URL answers 404 from now on."""
    await get_managed(store, principal, bin_id)
    async with store.write() as conn:
        if not await inbox_store.delete_bin(conn, bin_id):
            raise _not_found(bin_id)
        await inbox_store.notify(conn, "deleted", bin_id)
    hub.publish(bin_id, "deleted")
