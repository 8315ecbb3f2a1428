"""Throttles kept in this process: keyed token buckets and backoff, and the two policies built
on them — inbound relay requests per route, and failed sign-ins.

**Failed sign-ins.** 40 wrong passwords in under a second all answered 401, so a password
could be guessed as fast as the server hashes. A throttle must slow guessing without handing
an attacker a way to lock the real user out, so three keys are counted, each for its own
threat, and only failures count:

- *(user name, address)* — one client guessing one account: ``free`` failures, then each
  further one doubles the wait (1 s, 2 s, 4 s …) up to ``backoff_max_s``; a success clears it.
  Only that client is slowed, so the real user elsewhere is never affected by it.
- *address* — one client trying many names (password spraying): a bucket of ``per_address``
  failures refilled over ``window_s``.
- *user name* — many clients guessing one account: a looser bucket of ``per_name`` failures
  per ``window_s``.

Neither bucket applies to a name at an address it has signed in from here before: only
someone who already had the password there could gain from that, so the owner's usual
addresses still sign in while a botnet empties the name's bucket or a neighbour behind the
same NAT empties the address's. A new address waits until one failure's worth refills
(``window_s / per_name``: 12 s by default).

Every attempt reserves its failure before the password is checked (the check takes tens of
milliseconds in a thread, and 40 concurrent requests must not all pass the throttle first);
a success gives the reservation back and clears the pair's backoff. Refused attempts (429 with
``Retry-After``) are not counted, so waiting is always enough.

**Inbound relay requests.** ``/relay/{id}`` needs no session; each request renders templates
and writes deliveries. A token bucket per route (``burst`` requests, refilled at ``rate_per_s``)
bounds that work for anyone who knows a route's URL.

**One process.** The counts live in this process's memory: with several API processes (on
PostgreSQL) each counts for itself, so the effective limits are N times higher with N
processes, and a restart forgets them. The keys are bounded (oldest forgotten first), so a
flood of new names or addresses costs a fixed amount of memory.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass

from tabhooks.config import Settings
from tabhooks.errors import SigninFailed, TooManyRequests

Clock = Callable[[], float]

#: Keys a throttle remembers before it forgets the least recently used.
MAX_KEYS = 100_000
#: Addresses remembered per user name as ones it signed in from.
KNOWN_ADDRESSES_PER_NAME = 16
#: Longest user name counted as given (longer ones are counted by their first characters).
NAME_KEY_MAX_CHARS = 255


class TokenBuckets:
    """One token bucket per key: ``burst`` tokens, refilled at ``rate_per_s``.

    A full bucket is the same as no bucket, so full ones are dropped; at most ``max_keys``
    are kept (the least recently used is dropped first, which only ever forgives).
    """

    def __init__(
        self,
        burst: float,
        rate_per_s: float,
        *,
        max_keys: int = MAX_KEYS,
        clock: Clock = time.monotonic,
    ) -> None:
        self.burst = burst
        self.rate_per_s = rate_per_s
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()

    def _tokens(self, key: Hashable, now: float) -> float:
        entry = self._buckets.get(key)
        if entry is None:
            return self.burst
        tokens = min(self.burst, entry[0] + (now - entry[1]) * self.rate_per_s)
        if tokens >= self.burst:
            del self._buckets[key]
        return tokens

    def _store(self, key: Hashable, tokens: float, now: float) -> None:
        if tokens >= self.burst:
            self._buckets.pop(key, None)
            return
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)

    def wait_s(self, key: Hashable) -> float:
        """Seconds until ``key`` has a token (0 when it has one now)."""
        tokens = self._tokens(key, self._clock())
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate_per_s

    def take(self, key: Hashable) -> float:
        """Take a token and return 0, or take nothing and return the seconds to wait."""
        now = self._clock()
        tokens = self._tokens(key, now)
        if tokens < 1:
            return (1 - tokens) / self.rate_per_s
        self._store(key, tokens - 1, now)
        return 0.0

    def give_back(self, key: Hashable) -> None:
        now = self._clock()
        self._store(key, self._tokens(key, now) + 1, now)


class Backoff:
    """Per key: ``free`` failures, then waits of 1 s, 2 s, 4 s … up to ``max_s`` after each
    further failure; forgotten ``forget_s`` after the last one."""

    def __init__(
        self,
        free: int,
        max_s: float,
        forget_s: float,
        *,
        max_keys: int = MAX_KEYS,
        clock: Clock = time.monotonic,
    ) -> None:
        self.free = free
        self.max_s = max_s
        self.forget_s = forget_s
        self.max_keys = max_keys
        self._clock = clock
        #: key -> (failures, time of the last one)
        self._failures: OrderedDict[Hashable, tuple[int, float]] = OrderedDict()

    def _count(self, key: Hashable, now: float) -> tuple[int, float]:
        entry = self._failures.get(key)
        if entry is None or now - entry[1] > self.forget_s:
            self._failures.pop(key, None)
            return 0, now
        return entry

    def delay_s(self, failures: int) -> float:
        """The wait after ``failures`` failures in a row."""
        if failures < self.free:
            return 0.0
        return min(self.max_s, 2.0 ** min(failures - self.free, 64))

    def wait_s(self, key: Hashable) -> float:
        now = self._clock()
        failures, last = self._count(key, now)
        return max(0.0, last + self.delay_s(failures) - now)

    def fail(self, key: Hashable) -> None:
        now = self._clock()
        failures, _ = self._count(key, now)
        self._failures[key] = (failures + 1, now)
        self._failures.move_to_end(key)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def undo(self, key: Hashable) -> None:
        """Take back one :meth:`fail` (an attempt that turned out not to be a failure)."""
        failures, last = self._count(key, self._clock())
        if failures <= 1:
            self._failures.pop(key, None)
        else:
            self._failures[key] = (failures - 1, last)

    def clear(self, key: Hashable) -> None:
        self._failures.pop(key, None)


@dataclass(frozen=True, slots=True)
class SigninLimits:
    """The sign-in throttle's settings (see the module docstring); 0 turns a bucket off."""

    free_failures: int = 5
    backoff_max_s: float = 300.0
    per_address: int = 30
    per_name: int = 50
    window_s: float = 600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SigninLimits:
        return cls(
            free_failures=settings.signin_free_failures,
            backoff_max_s=settings.signin_backoff_max_s,
            per_address=settings.signin_failures_per_address,
            per_name=settings.signin_failures_per_name,
            window_s=settings.signin_failure_window_s,
        )


@dataclass(frozen=True, slots=True)
class SigninAttempt:
    """A sign-in let through: what it reserved, to settle when the outcome is known."""

    name_key: str
    address: str
    #: Whether the address and name buckets counted it (not at a name's known address).
    counted: bool


class SigninThrottle:
    """Failed sign-ins per (name, address), per address and per name; see the module docstring.

    ``kind`` separates the name spaces of user names and personal access token names.
    """

    def __init__(
        self, limits: SigninLimits | None = None, *, clock: Clock = time.monotonic
    ) -> None:
        self.limits = limits = limits or SigninLimits()
        forget_s = max(limits.window_s, limits.backoff_max_s)
        self._pairs = Backoff(limits.free_failures, limits.backoff_max_s, forget_s, clock=clock)
        self._addresses = _buckets(limits.per_address, limits.window_s, clock)
        self._names = _buckets(limits.per_name, limits.window_s, clock)
        self._known: OrderedDict[str, OrderedDict[str, None]] = OrderedDict()

    def begin(self, kind: str, name: str, address: str) -> SigninAttempt:
        """Let an attempt through, reserving its failure, or raise :class:`TooManyRequests`."""
        name_key = f"{kind}:{name.strip().casefold()[:NAME_KEY_MAX_CHARS]}"
        pair = (name_key, address)
        counted = address not in self._known.get(name_key, ())
        waits = [(self._pairs.wait_s(pair), "for this user name from this address")]
        if counted and self._addresses is not None:
            waits.append((self._addresses.wait_s(address), "from this address"))
        if counted and self._names is not None:
            waits.append((self._names.wait_s(name_key), "for this user name"))
        wait, scope = max(waits)
        if wait > 0:
            raise TooManyRequests(
                f"Too many failed sign-ins {scope}; try again in {math.ceil(wait)} s.",
                retry_after_s=wait,
            )
        self._pairs.fail(pair)
        if counted and self._addresses is not None:
            self._addresses.take(address)
        if counted and self._names is not None:
            self._names.take(name_key)
        return SigninAttempt(name_key, address, counted)

    @contextlib.contextmanager
    def attempt(self, kind: str, name: str, address: str) -> Iterator[None]:
        """Around one sign-in: :meth:`begin`, then settle by how the block ends
        (:class:`~tabhooks.errors.SigninFailed` is a failure, other errors count for nothing)."""
        attempt = self.begin(kind, name, address)
        try:
            yield
        except SigninFailed:
            raise
        except BaseException:
            self.abandoned(attempt)
            raise
        self.succeeded(attempt)

    def succeeded(self, attempt: SigninAttempt) -> None:
        """The right credentials: nothing counted, the backoff cleared, the address known."""
        self._give_back(attempt)
        self._pairs.clear((attempt.name_key, attempt.address))
        known = self._known.pop(attempt.name_key, OrderedDict())
        known[attempt.address] = None
        known.move_to_end(attempt.address)
        while len(known) > KNOWN_ADDRESSES_PER_NAME:
            known.popitem(last=False)
        self._known[attempt.name_key] = known
        while len(self._known) > MAX_KEYS:
            self._known.popitem(last=False)

    def abandoned(self, attempt: SigninAttempt) -> None:
        """Neither right nor wrong credentials (a malformed request, a server error)."""
        self._give_back(attempt)
        self._pairs.undo((attempt.name_key, attempt.address))

    def _give_back(self, attempt: SigninAttempt) -> None:
        if not attempt.counted:
            return
        if self._addresses is not None:
            self._addresses.give_back(attempt.address)
        if self._names is not None:
            self._names.give_back(attempt.name_key)


def _buckets(failures: int, window_s: float, clock: Clock) -> TokenBuckets | None:
    return TokenBuckets(failures, failures / window_s, clock=clock) if failures > 0 else None


class RouteLimiter:
    """Inbound relay requests per route: ``burst`` at once, ``rate_per_s`` sustained."""

    def __init__(self, rate_per_s: float, burst: int, *, clock: Clock = time.monotonic) -> None:
        self._buckets = TokenBuckets(burst, rate_per_s, clock=clock)

    @classmethod
    def from_settings(cls, settings: Settings) -> RouteLimiter:
        return cls(settings.relay_inbound_rate_per_s, settings.relay_inbound_burst)

    def admit(self, route_id: str) -> None:
        """Count one request to ``route_id``, or raise :class:`TooManyRequests`."""
        wait = self._buckets.take(route_id)
        if wait > 0:
            raise TooManyRequests(
                f"Too many requests to relay route '{route_id}'; try again in {math.ceil(wait)} s.",
                retry_after_s=wait,
            )
