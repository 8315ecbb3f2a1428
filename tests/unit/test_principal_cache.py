"""The verified-token cache forgets what a revocation notice names, and only that."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from tabhooks.models import Session, Site, SiteRole, User
from tabhooks.services.auth import PrincipalCache
from tabhooks.services.principal import Principal

NOW = datetime.now(UTC)


def _principal(user_id: str, token_hash: str) -> Principal:
    site = Site("site-1", "Default", "", "Active", "ContentAndUsers", NOW, NOW)
    user = User(user_id, user_id, None, None, False, SiteRole.CREATOR, NOW, None)
    session = Session(token_hash, user_id, site.id, NOW, NOW + timedelta(hours=1))
    return Principal(session, user, site)


def _filled() -> PrincipalCache:
    cache = PrincipalCache(ttl_s=60)
    for user_id, token_hash in (("u1", "t1"), ("u1", "t2"), ("u2", "t3")):
        cache.put(token_hash, _principal(user_id, token_hash), cache.generation)
    return cache


def test_user_notice_forgets_that_users_tokens_only() -> None:
    cache = _filled()
    cache.forget("user:u1")
    assert cache.get("t1") is None and cache.get("t2") is None
    assert cache.get("t3") is not None


def test_token_notice_forgets_one_token() -> None:
    cache = _filled()
    cache.forget("token:t2")
    assert cache.get("t2") is None
    assert cache.get("t1") is not None and cache.get("t3") is not None


def test_any_other_notice_forgets_everything() -> None:
    cache = _filled()
    cache.forget("all")
    assert [cache.get(t) for t in ("t1", "t2", "t3")] == [None, None, None]


def test_untrusted_cache_answers_nothing_and_keeps_nothing() -> None:
    cache = _filled()
    cache.trusted = False
    assert cache.get("t3") is None
    cache.put("t4", _principal("u3", "t4"), cache.generation)
    cache.trusted = True
    assert cache.get("t4") is None


def test_lookup_started_before_an_eviction_is_not_cached() -> None:
    """A lookup that read the store before a revocation must not cache what it read."""
    cache = PrincipalCache(ttl_s=60)
    started = cache.generation
    cache.forget("user:u1")  # a revocation lands while the lookup is in flight
    cache.put("t1", _principal("u1", "t1"), started)
    assert cache.get("t1") is None
    cache.put("t1", _principal("u1", "t1"), cache.generation)
    assert cache.get("t1") is not None


def test_a_session_past_its_expiry_is_not_answered() -> None:
    """Entries stop at their session's expiry even within the cache's time-to-live."""
    cache = PrincipalCache(ttl_s=60)
    expired = _principal("u1", "t1")
    session = Session("t1", "u1", expired.site.id, NOW, datetime.now(UTC) - timedelta(seconds=1))
    cache.put("t1", Principal(session, expired.user, expired.site), cache.generation)
    assert cache.get("t1") is None
    cache.put("t2", _principal("u1", "t2"), cache.generation)
    assert cache.get("t2") is not None


def test_an_entry_is_answered_for_ttl_at_most() -> None:
    cache = PrincipalCache(ttl_s=0.000_001)
    cache.put("t1", _principal("u1", "t1"), cache.generation)
    deadline = time.monotonic() + 0.01
    while time.monotonic() < deadline:
        pass
    assert cache.get("t1") is None
    assert PrincipalCache(ttl_s=0).get("t1") is None
