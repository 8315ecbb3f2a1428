"""Sign-in, token checks, sign-out and site switching.

Tokens are 256 random bits handed to the client once; only their SHA-256 is stored, so a copy
of the database cannot be replayed. A token lives for ``session_ttl_minutes`` from sign-in and
dies at sign-out.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.config import Settings
from tabhooks.errors import (
    AlreadyOnSite,
    InvalidToken,
    NotAuthenticated,
    SigninFailed,
    SiteNotFound,
)
from tabhooks.models import Site, SiteRole, User
from tabhooks.services import passwords
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store import sessions as sessions_store
from tabhooks.store import sites as sites_store
from tabhooks.store import users as users_store
from tabhooks.store.tables import utcnow


class PrincipalCache:
    """Tokens verified in the last few seconds, so a burst of calls skips the lookups.

    This process evicts on sign-out and clears on any change to users, sites or roles; a
    change made by another process is seen within ``ttl_s`` at most (0 disables the cache).
    """

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, token_hash: str) -> Principal | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if time.monotonic() - entry[0] > self.ttl_s or entry[1].session.expires_at <= utcnow():
            self._entries.pop(token_hash, None)
            return None
        return entry[1]

    def put(self, token_hash: str, principal: Principal) -> None:
        if self.ttl_s <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[token_hash] = (time.monotonic(), principal)

    def evict(self, token_hash: str) -> None:
        self._entries.pop(token_hash, None)

    def clear(self) -> None:
        self._entries.clear()


@dataclass(frozen=True, slots=True)
class SignIn:
    """The outcome of a successful sign-in."""

    token: str
    site: Site
    user: User
    expires_at: datetime
    #: When the personal access token used expires (``None`` for password sign-in).
    credential_expires_at: datetime | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def sign_in_password(
    store: Store, settings: Settings, *, name: str, password: str, content_url: str
) -> SignIn:
    async with store.read() as conn:
        row = await users_store.find_identity(conn, name)
    stored = row["password_hash"] if row else None
    if not await passwords.verify_secret(stored if isinstance(stored, str) else None, password):
        raise SigninFailed()
    assert row is not None
    return await _open(store, settings, str(row["id"]), content_url, credential_expires_at=None)


async def sign_in_pat(
    store: Store, settings: Settings, *, name: str, secret: str, content_url: str
) -> SignIn:
    async with store.read() as conn:
        candidates = await sessions_store.pats_named(conn, name)
    now = utcnow()
    for pat in candidates:
        if await passwords.verify_secret(str(pat["secret_hash"]), secret):
            expires = pat["expires_at"]
            if isinstance(expires, datetime) and expires <= now:
                raise SigninFailed("The personal access token has expired.")
            async with store.write() as conn:
                await sessions_store.touch_pat(conn, str(pat["id"]), now)
            return await _open(
                store,
                settings,
                str(pat["user_id"]),
                content_url,
                credential_expires_at=expires if isinstance(expires, datetime) else None,
            )
    if not candidates:  # equalise timing with the failed-verification path
        await passwords.verify_secret(None, secret)
    raise SigninFailed()


async def _open(
    store: Store,
    settings: Settings,
    user_id: str,
    content_url: str,
    *,
    credential_expires_at: datetime | None,
) -> SignIn:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    expires_at = now + timedelta(minutes=settings.session_ttl_minutes)
    async with store.write() as conn:
        site = await sites_store.get_by_content_url(conn, content_url)
        if site is None:
            raise SigninFailed(f"Error signing in: no site with contentUrl '{content_url}'.")
        user = await _member(conn, site, user_id)
        await sessions_store.open_session(
            conn,
            token_hash=hash_token(token),
            user_id=user_id,
            site_id=site.id,
            expires_at=expires_at,
        )
        await users_store.touch_login(conn, user_id, now)
    return SignIn(token, site, user, expires_at, credential_expires_at)


async def _member(conn: AsyncConnection, site: Site, user_id: str) -> User:
    """The user on ``site``; server admins join any site on first sign-in."""
    user = await users_store.get_on_site(conn, site.id, user_id)
    if user is not None:
        return user
    identity = await users_store.identity(conn, user_id)
    if identity is None or not identity["is_server_admin"]:
        raise SigninFailed(f"Error signing in: the user is not a member of site '{site.name}'.")
    await users_store.add_to_site(
        conn, site_id=site.id, user_id=user_id, site_role=SiteRole.SITE_ADMINISTRATOR_CREATOR
    )
    user = await users_store.get_on_site(conn, site.id, user_id)
    assert user is not None
    return user


async def authenticate(
    store: Store, token: str | None, cache: PrincipalCache | None = None
) -> Principal:
    """Resolve an ``X-Tableau-Auth`` token to the caller, or raise 401."""
    if not token:
        raise NotAuthenticated()
    token_hash = hash_token(token)
    if cache is not None and (cached := cache.get(token_hash)) is not None:
        return cached
    async with store.read() as conn:
        session = await sessions_store.find_session(conn, token_hash)
        if session is None or session.expires_at <= utcnow():
            raise InvalidToken(
                "The authentication token is invalid, expired or signed out; sign in again."
            )
        site = await sites_store.get(conn, session.site_id)
        user = await users_store.get_on_site(conn, session.site_id, session.user_id)
    if site is None or user is None:
        raise InvalidToken("The session's site or user no longer exists; sign in again.")
    principal = Principal(session, user, site)
    if cache is not None:
        cache.put(token_hash, principal)
    return principal


async def sign_out(store: Store, token: str) -> None:
    async with store.write() as conn:
        await sessions_store.close_session(conn, hash_token(token))


async def switch_site(
    store: Store, settings: Settings, principal: Principal, content_url: str, old_token: str
) -> SignIn:
    """Move the caller to another site: a new token, and the old one revoked."""
    if content_url.lower() == principal.site.content_url.lower():
        raise AlreadyOnSite(f"The session is already signed in to site '{content_url}'.")
    async with store.read() as conn:
        if await sites_store.get_by_content_url(conn, content_url) is None:
            raise SiteNotFound(f"No site has contentUrl '{content_url}'.")
    result = await _open(
        store, settings, principal.user.id, content_url, credential_expires_at=None
    )
    await sign_out(store, old_token)
    return result
