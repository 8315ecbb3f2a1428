"""Sign-in, token checks, sign-out and site switching.

Tokens are 256 random bits handed to the client once; only their SHA-256 is stored, so a copy
of the database cannot be replayed. A token lives for ``session_ttl_minutes`` from sign-in and
dies at sign-out, or earlier when a security event ends it (a password change, the user made
Unlicensed or removed from the site, the site suspended, the personal access token it signed
in with revoked: see :mod:`tabhooks.services.revocation`).
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
from tabhooks.services import passwords, revocation
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store import sessions as sessions_store
from tabhooks.store import sites as sites_store
from tabhooks.store import users as users_store
from tabhooks.store.tables import utcnow

#: ``sites.state`` of a suspended site.
SUSPENDED = "Suspended"


class PrincipalCache:
    """Tokens verified in the last few seconds, so a burst of calls skips the lookups.

    This process clears it on any change to users, sites, roles or sessions before answering.
    Other processes' changes arrive through :mod:`tabhooks.services.revocation` (PostgreSQL
    notifications, applied with :meth:`forget`); while that channel is down the cache is not
    ``trusted`` and every token is looked up. Without a channel (SQLite) a change made by
    another program is seen within ``ttl_s`` at most (0 disables the cache).
    """

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        #: False while revocations from other processes might be missed.
        self.trusted = True
        #: Bumped by every eviction: a lookup that began before one must not cache its result
        #: (it may have read a session the eviction was about).
        self.generation = 0
        #: token hash -> (monotonic time the entry stops being good, principal)
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, token_hash: str) -> Principal | None:
        """The principal verified for ``token_hash`` if it is still good to use, else ``None``.

        One dict lookup and one clock read: each entry carries the monotonic time it stops
        being good (its ``ttl_s``, or its session's expiry if that comes first), worked out
        once by :meth:`put`, so a warm token costs no database read and no datetime.
        """
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if not self.trusted or time.monotonic() >= entry[0]:
            self._entries.pop(token_hash, None)
            return None
        return entry[1]

    def put(self, token_hash: str, principal: Principal, generation: int) -> None:
        """Remember a principal looked up when :attr:`generation` was ``generation``."""
        if self.ttl_s <= 0 or not self.trusted or generation != self.generation:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        session_left = principal.session.expires_at.timestamp() - time.time()
        deadline = time.monotonic() + min(self.ttl_s, session_left)
        self._entries[token_hash] = (deadline, principal)

    def evict(self, token_hash: str) -> None:
        self.generation += 1
        self._entries.pop(token_hash, None)

    def forget(self, what: str) -> None:
        """Apply a revocation notice: ``token:<hash>``, ``user:<id>`` or anything else (all)."""
        kind, _, key = what.partition(":")
        if kind == "token":
            self.evict(key)
        elif kind == "user":
            self.generation += 1
            for token_hash in [h for h, (_, p) in self._entries.items() if p.user.id == key]:
                self._entries.pop(token_hash, None)
        else:
            self.clear()

    def clear(self) -> None:
        self.generation += 1
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
    assert row is not None and isinstance(stored, str)
    return await _open(
        store,
        settings,
        str(row["id"]),
        content_url,
        credential=_Credential(password_hash=stored),
        credential_expires_at=None,
    )


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
                credential=_Credential(pat_id=str(pat["id"])),
                credential_expires_at=expires if isinstance(expires, datetime) else None,
            )
    if not candidates:  # equalise timing with the failed-verification path
        await passwords.verify_secret(None, secret)
    raise SigninFailed()


@dataclass(frozen=True, slots=True)
class _Credential:
    """What the caller proved, re-checked in the transaction that opens the session.

    A password changed or a token revoked between the (slow, unlocked) verification and
    the session's insert must not leave a session opened with the old credential.
    """

    password_hash: str | None = None
    pat_id: str | None = None


async def _open(
    store: Store,
    settings: Settings,
    user_id: str,
    content_url: str,
    *,
    credential: _Credential,
    credential_expires_at: datetime | None,
) -> SignIn:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    expires_at = now + timedelta(minutes=settings.session_ttl_minutes)
    async with store.write() as conn:
        identity = await users_store.identity(conn, user_id)
        if identity is None or not await _still_valid(conn, identity, credential):
            raise SigninFailed()
        site = await sites_store.get_by_content_url(conn, content_url)
        # One answer for every refusal (no such site, not a member, Unlicensed, suspended),
        # as Tableau's 401001: a correct password must not tell which sites exist.
        if site is None:
            raise SigninFailed()
        user = await _member(conn, site, user_id, is_server_admin=bool(identity["is_server_admin"]))
        await sessions_store.open_session(
            conn,
            token_hash=hash_token(token),
            user_id=user_id,
            site_id=site.id,
            expires_at=expires_at,
            pat_id=credential.pat_id,
        )
        await users_store.touch_login(conn, site.id, user_id, now)
    return SignIn(token, site, user, expires_at, credential_expires_at)


async def _still_valid(
    conn: AsyncConnection, identity: dict[str, object], credential: _Credential
) -> bool:
    if credential.pat_id is not None:
        return await sessions_store.pat_exists(conn, credential.pat_id)
    return credential.password_hash is not None and (
        identity["password_hash"] == credential.password_hash
    )


def may_enter(site: Site, user: User) -> bool:
    """Whether ``user`` may be signed in to ``site`` at all.

    Unlicensed users cannot sign in (Tableau), and a suspended site admits only server
    administrators (who may reactivate it).
    """
    if user.is_server_admin:
        return True
    return site.state != SUSPENDED and user.site_role is not SiteRole.UNLICENSED


async def _member(
    conn: AsyncConnection, site: Site, user_id: str, *, is_server_admin: bool
) -> User:
    """The user on ``site``; server admins join any site on first sign-in."""
    user = await users_store.get_on_site(conn, site.id, user_id)
    if user is None and is_server_admin:
        await users_store.add_to_site(
            conn, site_id=site.id, user_id=user_id, site_role=SiteRole.SITE_ADMINISTRATOR_CREATOR
        )
        user = await users_store.get_on_site(conn, site.id, user_id)
    if user is None or not may_enter(site, user):
        raise SigninFailed()
    return user


async def authenticate(
    store: Store, token: str | None, cache: PrincipalCache | None = None
) -> Principal:
    """Resolve an ``X-Tableau-Auth`` token to the caller, or raise 401."""
    if not token:
        raise NotAuthenticated()
    token_hash = hash_token(token)
    generation = 0
    if cache is not None:
        if (cached := cache.get(token_hash)) is not None:
            return cached
        generation = cache.generation
    async with store.read() as conn:
        session = await sessions_store.find_session(conn, token_hash)
        if session is None or session.expires_at <= utcnow():
            raise InvalidToken(
                "The authentication token is invalid, expired or signed out; sign in again."
            )
        site = await sites_store.get(conn, session.site_id)
        user = await users_store.get_on_site(conn, session.site_id, session.user_id)
    if site is None or user is None or not may_enter(site, user):
        raise InvalidToken("The session's site or user no longer exists; sign in again.")
    principal = Principal(session, user, site)
    if cache is not None:
        cache.put(token_hash, principal, generation)
    return principal


async def sign_out(store: Store, token: str) -> None:
    token_hash = hash_token(token)
    async with store.write() as conn:
        if await sessions_store.close_session(conn, token_hash):
            await revocation.announce(conn, revocation.token(token_hash))


async def end_sessions(
    conn: AsyncConnection,
    user_id: str,
    *,
    site_id: str | None = None,
    keep_token_hash: str | None = None,
) -> None:
    """End a user's sessions (on one site, or everywhere) in the caller's transaction.

    Every process forgets its cached copies of them once the transaction commits; the
    caller's own process must also clear its cache before it answers.
    """
    await sessions_store.close_user_sessions(
        conn, user_id, site_id=site_id, keep_token_hash=keep_token_hash
    )
    await revocation.announce(conn, revocation.user(user_id))


async def switch_site(
    store: Store, settings: Settings, principal: Principal, content_url: str, old_token: str
) -> SignIn:
    """Move the caller to another site: a new token, and the old one revoked.

    A site that does not exist and one the caller may not enter get the same answer, so
    switchSite cannot be used to list other tenants' sites.
    """
    if content_url.lower() == principal.site.content_url.lower():
        raise AlreadyOnSite(f"The session is already signed in to site '{content_url}'.")
    async with store.read() as conn:
        pat_id = await sessions_store.pat_of_session(conn, principal.session.token_hash)
        stored = await users_store.identity(conn, principal.user.id)
    password_hash = stored["password_hash"] if stored else None
    try:
        result = await _open(
            store,
            settings,
            principal.user.id,
            content_url,
            credential=_Credential(
                password_hash=password_hash if isinstance(password_hash, str) else None,
                pat_id=pat_id,
            ),
            credential_expires_at=None,
        )
    except SigninFailed:
        raise SiteNotFound(
            f"No site with contentUrl '{content_url}' that this user can sign in to."
        ) from None
    await sign_out(store, old_token)
    return result
