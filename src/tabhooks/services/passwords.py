"""Slow hashes for passwords and PAT secrets (argon2id), verified off the event loop.

Hashing costs tens of milliseconds by design; running it in a worker thread keeps one sign-in
from stalling every other request on the loop.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's argon2id minimum (19 MiB, 2 passes): slow for an attacker, ~20 ms for us.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
#: Verified against when the user does not exist, so timing does not reveal user names.
_DUMMY_HASH = _HASHER.hash("tabhooks-timing-equaliser")


async def hash_secret(secret: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, secret)


def _verify(stored: str | None, secret: str) -> bool:
    try:
        return _HASHER.verify(stored or _DUMMY_HASH, secret) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_secret(stored: str | None, secret: str) -> bool:
    """True when ``secret`` matches ``stored``; a missing hash still costs one verification."""
    return await asyncio.to_thread(_verify, stored, secret)
