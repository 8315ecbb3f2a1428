"""When to try a failed delivery again: a pure decision from one attempt's outcome.

The dispatcher sends, gets an :class:`AttemptOutcome`, asks :meth:`RetryPolicy.next_delay` and
persists the answer. Keeping the decision free of I/O and clocks (the caller passes ``now``
and, in tests, a seeded ``rng``) means every rule below is tested exactly, without sleeping.

The outcome type lives here rather than in ``sender.py`` because it is the input of this
decision and this module must stay importable without aiohttp; the sender imports it.

The rules, in order:

1. A success, a ``410 Gone`` (the receiver says the endpoint no longer exists, as Standard
   Webhooks prescribes) and a blocked destination (the SSRF guard will refuse it again) are
   never retried.
2. After attempt ``n`` fails, the base delay is ``schedule_s[n - 1]``; past the end of the
   schedule the delivery is given up.
3. An overloaded receiver (timeout, 429, 502, 503, 504, the throttling answers Standard
   Webhooks lists) is not retried sooner than ``overload_floor_s``, as Svix does.
4. The base delay is spread by ±``jitter`` so deliveries that failed together do not return
   together.
5. ``Retry-After`` on 429 and 503 can lengthen the delay, never shorten it, and never past
   ``min(2 * base, retry_after_max_s)``: a receiver may slow us down but not park a delivery
   for days or pull retries forward (Svix clamps to ``[base, 2 * base]`` the same way).
"""

from __future__ import annotations

import email.utils
import enum
import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

#: Spread applied to every delay (0.2 = ±20 %), Svix's ``JITTER_DELTA``.
JITTER_FRACTION = 0.2
#: Shortest wait after the receiver showed it is overloaded (Svix ``OVERLOAD_PENALTY_SECS``).
OVERLOAD_FLOOR_S = 60.0
#: Longest a ``Retry-After`` header may push a retry out, whatever the schedule says.
RETRY_AFTER_MAX_S = 3600.0

#: Statuses that mean "slow down" rather than "broken" (Standard Webhooks: 429, 502, 504).
THROTTLE_STATUSES = frozenset({429, 502, 503, 504})
#: Statuses whose ``Retry-After`` is honoured (RFC 9110 §10.2.3, RFC 6585 §4).
RETRY_AFTER_STATUSES = frozenset({429, 503})
#: The status that means "stop sending here" (Standard Webhooks: disable the endpoint).
GONE_STATUS = 410

_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RNG = random.Random()


class ErrorClass(enum.StrEnum):
    """Why an attempt produced no HTTP status; the values are stored and shown in the UI."""

    TIMEOUT = "timeout"  #: No complete response head within the connect or total timeout.
    CONNECT_REFUSED = "connect_refused"  #: The host answered the TCP connect with a reset.
    CONNECT_ERROR = "connect_error"  #: The TCP connection could not be made otherwise.
    RESET = "reset"  #: The connection was reset or closed before a response arrived.
    DNS = "dns"  #: The host name did not resolve.
    TLS = "tls"  #: TLS handshake failed, including an invalid certificate.
    BLOCKED = "blocked"  #: The guard refused the URL or an address it resolved to.
    TOO_LARGE = "too_large"  #: The response head exceeded the client's size limits.
    PROTOCOL = "protocol"  #: The peer did not answer with well-formed HTTP.
    OTHER = "other"  #: Any other client-side failure; ``detail`` says which.


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What one POST to a destination produced.

    Exactly one of ``status`` and ``error`` is set: once a status line has arrived the
    receiver has given its verdict, and a failure while reading the body only goes into
    ``detail``.

    Args:
        status: The HTTP status received, or ``None`` when no response arrived.
        error: Why no response arrived, or ``None`` when one did.
        duration_ms: Wall time from sending to having read the (capped) response.
        response_headers: Response headers with lower-cased names; repeats joined by ", ".
        response_body: The start of the response body, at most the sender's cap.
        response_truncated: The body was longer than what was kept.
        retry_after: The raw ``Retry-After`` header, if any.
        detail: A human-readable explanation for logs and the attempt list.
    """

    status: int | None = None
    error: ErrorClass | None = None
    duration_ms: float = 0.0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    response_truncated: bool = False
    retry_after: str | None = None
    detail: str | None = None

    def __post_init__(self) -> None:
        if (self.status is None) == (self.error is None):
            raise ValueError("an AttemptOutcome has either a status or an error, not both")

    @property
    def succeeded(self) -> bool:
        """Whether the receiver accepted the event (any 2xx, as Tableau and Standard Webhooks)."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        """Whether the receiver said the endpoint no longer exists (410)."""
        return self.status == GONE_STATUS

    @property
    def throttled(self) -> bool:
        """Whether the receiver looks overloaded rather than broken."""
        return self.error is ErrorClass.TIMEOUT or self.status in THROTTLE_STATUSES


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A retry schedule plus the rules that bend it; see the module docstring for the rules.

    Args:
        schedule_s: Base delay before retry 1, 2, ... in seconds; its length is the number of
            retries, so a delivery gets ``len(schedule_s) + 1`` attempts.
        jitter: Fraction by which each delay is randomly spread, in ``[0, 1)``.
        retry_after_max_s: Absolute ceiling on a delay lengthened by ``Retry-After``.
        overload_floor_s: Minimum delay after a timeout or a throttling status.
    """

    schedule_s: tuple[float, ...]
    jitter: float = JITTER_FRACTION
    retry_after_max_s: float = RETRY_AFTER_MAX_S
    overload_floor_s: float = OVERLOAD_FLOOR_S

    def __post_init__(self) -> None:
        for delay in (*self.schedule_s, self.retry_after_max_s, self.overload_floor_s):
            if not math.isfinite(delay) or delay < 0:
                raise ValueError(f"delays must be finite and non-negative, got {delay!r}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter!r}")

    @property
    def max_attempts(self) -> int:
        """Attempts a delivery gets in total: the first one plus one per scheduled retry."""
        return len(self.schedule_s) + 1

    @property
    def spec(self) -> str:
        """The schedule written the way :meth:`parse` reads it, e.g. ``"30s,5m,30m"``."""
        return ",".join(_format_duration(delay) for delay in self.schedule_s) or "none"

    @classmethod
    def parse(cls, spec: str) -> RetryPolicy:
        """Read a policy from configuration.

        Args:
            spec: A preset name (``tableau``, ``standard-webhooks``, ``svix``, ``none``) or a
                comma-separated list of delays such as ``"10s,1m,1h"``; units are ``ms``,
                ``s``, ``m``, ``h`` and ``d``, and a bare number means seconds.

        Returns:
            The preset, or a policy with that schedule and the default rules.

        Raises:
            ValueError: The spec is neither a preset nor a list of durations.
        """
        text = spec.strip().lower()
        if text in PRESETS:
            return PRESETS[text]
        if not text:
            raise ValueError("empty retry schedule; use 'none' for no retries")
        delays = []
        for token in text.split(","):
            match = _DURATION_RE.match(token.strip())
            if match is None:
                presets = ", ".join(sorted(PRESETS))
                raise ValueError(
                    f"bad retry delay {token.strip()!r} in {spec!r}: expected a preset "
                    f"({presets}) or durations like '10s,1m,1h'"
                )
            delays.append(float(match[1]) * _UNIT_S[match[2] or "s"])
        return cls(schedule_s=tuple(delays))

    def next_delay(
        self,
        attempt_number: int,
        outcome: AttemptOutcome,
        rng: random.Random | None = None,
        now: datetime | None = None,
    ) -> timedelta | None:
        """Decide how long to wait before the next attempt, or that there is none.

        Args:
            attempt_number: The attempt that produced ``outcome``; the first attempt is 1.
            outcome: What that attempt produced.
            rng: Source of jitter; pass a seeded one for reproducible results.
            now: When the response arrived (timezone-aware); needed only to read a
                ``Retry-After`` written as an HTTP date, which is ignored without it.

        Returns:
            The delay, or ``None`` to stop: success, 410, blocked, or schedule exhausted.

        Raises:
            ValueError: ``attempt_number`` is below 1.
        """
        if attempt_number < 1:
            raise ValueError(f"attempt numbers start at 1, got {attempt_number}")
        if outcome.succeeded or outcome.gone or outcome.error is ErrorClass.BLOCKED:
            return None
        if attempt_number > len(self.schedule_s):
            return None
        rng = rng if rng is not None else _RNG
        base = self.schedule_s[attempt_number - 1]
        if outcome.throttled:
            base = max(base, self.overload_floor_s)
        delay = base * rng.uniform(1 - self.jitter, 1 + self.jitter)
        retry_after = None
        if outcome.retry_after is not None and outcome.status in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(outcome.retry_after, now)
        if retry_after is not None:
            ceiling = max(delay, min(2 * base, self.retry_after_max_s))
            # Upward-only jitter: never earlier than asked, but not all at the same instant.
            requested = retry_after * rng.uniform(1, 1 + self.jitter)
            delay = min(max(delay, requested), ceiling)
        return timedelta(seconds=delay)


def parse_retry_after(value: str, now: datetime | None = None) -> float | None:
    """Read a ``Retry-After`` header as seconds from ``now``.

    Args:
        value: Either delay-seconds (``"120"``) or an HTTP date (RFC 9110 §10.2.3).
        now: The moment the header was received (timezone-aware); without it an HTTP date
            cannot be turned into a delay and is ignored.

    Returns:
        Seconds to wait (0 for a date in the past), or ``None`` if the value is unusable.

    Raises:
        ValueError: ``now`` is a naive datetime, which would silently mean local time.
    """
    if now is not None and now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(int(text))
    if now is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" zone: HTTP dates are always GMT
        when = when.replace(tzinfo=now.tzinfo)
    return max(0.0, (when - now).total_seconds())


def _format_duration(seconds: float) -> str:
    for unit in ("d", "h", "m", "s"):
        count = seconds / _UNIT_S[unit]
        if count >= 1 and count == int(count):
            return f"{int(count)}{unit}"
    return f"{round(seconds * 1000)}ms" if seconds else "0s"


#: Tableau documents three retries "with diminishing frequency" but not the intervals. Gaps
#: growing roughly tenfold ride out a receiver restart (seconds) and a redeploy (minutes),
#: and the last of the 4 attempts comes 35 min 30 s after the first, while a Tableau event
#: ("extract refresh failed") is still worth acting on.
TABLEAU_COMPATIBLE = RetryPolicy(schedule_s=(30.0, 300.0, 1800.0))
#: The schedule recommended by the Standard Webhooks spec: 10 attempts, the last one
#: 75 h 35 min 5 s after the first, long enough to survive an outage over a weekend.
STANDARD_WEBHOOKS = RetryPolicy(
    schedule_s=(5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0, 72000.0, 86400.0)
)
#: Svix's default: 8 attempts, the last one 27 h 35 min 5 s after the first.
SVIX_COMPATIBLE = RetryPolicy(schedule_s=(5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0))
#: One attempt only, for receivers that deduplicate nothing and prefer loss to repeats.
NO_RETRIES = RetryPolicy(schedule_s=())

#: Names accepted by :meth:`RetryPolicy.parse`.
PRESETS: Mapping[str, RetryPolicy] = {
    "tableau": TABLEAU_COMPATIBLE,
    "standard-webhooks": STANDARD_WEBHOOKS,
    "svix": SVIX_COMPATIBLE,
    "none": NO_RETRIES,
}
