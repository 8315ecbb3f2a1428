"""Retry decisions: presets, parsing, give-up rules, jitter, overload floor, Retry-After."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta

import pytest

from tabhooks.delivery.retry import (
    NO_RETRIES,
    STANDARD_WEBHOOKS,
    SVIX_COMPATIBLE,
    TABLEAU_COMPATIBLE,
    AttemptOutcome,
    ErrorClass,
    RetryPolicy,
    parse_retry_after,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
FAILED_500 = AttemptOutcome(status=500)


def exact(policy: RetryPolicy) -> RetryPolicy:
    """The same policy without jitter, so delays can be compared exactly."""
    return dataclasses.replace(policy, jitter=0.0)


def seconds(delay: timedelta | None) -> float:
    assert delay is not None
    return delay.total_seconds()


def test_tableau_preset_three_retries_growing() -> None:
    assert TABLEAU_COMPATIBLE.schedule_s == (30.0, 300.0, 1800.0)
    assert TABLEAU_COMPATIBLE.max_attempts == 4
    assert list(TABLEAU_COMPATIBLE.schedule_s) == sorted(TABLEAU_COMPATIBLE.schedule_s)


def test_standard_webhooks_preset_matches_spec_table() -> None:
    assert STANDARD_WEBHOOKS.max_attempts == 10
    # The spec's table ends its last attempt at 75:35:05 after the first.
    assert timedelta(seconds=sum(STANDARD_WEBHOOKS.schedule_s)) == timedelta(
        hours=75, minutes=35, seconds=5
    )


def test_svix_preset_matches_svix_default() -> None:
    assert SVIX_COMPATIBLE.schedule_s == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert timedelta(seconds=sum(SVIX_COMPATIBLE.schedule_s)) == timedelta(
        hours=27, minutes=35, seconds=5
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("tableau", TABLEAU_COMPATIBLE),
        (" Standard-Webhooks ", STANDARD_WEBHOOKS),
        ("svix", SVIX_COMPATIBLE),
        ("none", NO_RETRIES),
    ],
)
def test_parse_preset_name_returns_preset(spec: str, expected: RetryPolicy) -> None:
    assert RetryPolicy.parse(spec) is expected


@pytest.mark.parametrize(
    ("spec", "schedule"),
    [
        ("10s,1m,1h", (10.0, 60.0, 3600.0)),
        ("0, 5s, 2d", (0.0, 5.0, 172800.0)),
        ("500ms,1.5s", (0.5, 1.5)),
        ("30,300", (30.0, 300.0)),
    ],
)
def test_parse_duration_list_builds_schedule(spec: str, schedule: tuple[float, ...]) -> None:
    policy = RetryPolicy.parse(spec)
    assert policy.schedule_s == schedule
    assert policy.jitter == 0.2


@pytest.mark.parametrize("spec", ["", "  ", "fast", "10s,,1m", "10x", "-5s", "1m,soon"])
def test_parse_invalid_spec_raises(spec: str) -> None:
    with pytest.raises(ValueError):
        RetryPolicy.parse(spec)


@pytest.mark.parametrize(
    ("policy", "spec"),
    [
        (TABLEAU_COMPATIBLE, "30s,5m,30m"),
        (STANDARD_WEBHOOKS, "5s,5m,30m,2h,5h,10h,14h,20h,1d"),
        (RetryPolicy(schedule_s=(0.0, 0.25, 90.0)), "0s,250ms,90s"),
        (NO_RETRIES, "none"),
    ],
)
def test_spec_round_trips_through_parse(policy: RetryPolicy, spec: str) -> None:
    assert policy.spec == spec
    assert RetryPolicy.parse(spec).schedule_s == policy.schedule_s


@pytest.mark.parametrize(
    "kwargs",
    [
        {"schedule_s": (-1.0,)},
        {"schedule_s": (float("inf"),)},
        {"schedule_s": (1.0,), "jitter": 1.0},
        {"schedule_s": (1.0,), "jitter": -0.1},
        {"schedule_s": (1.0,), "retry_after_max_s": float("nan")},
    ],
)
def test_retry_policy_invalid_values_raise(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_next_delay_follows_schedule_then_gives_up() -> None:
    policy = exact(TABLEAU_COMPATIBLE)
    delays = [policy.next_delay(n, FAILED_500) for n in range(1, 5)]
    assert delays == [timedelta(seconds=30), timedelta(minutes=5), timedelta(minutes=30), None]


def test_next_delay_no_retries_gives_up_at_once() -> None:
    assert NO_RETRIES.next_delay(1, FAILED_500) is None


def test_next_delay_attempt_zero_raises() -> None:
    with pytest.raises(ValueError):
        TABLEAU_COMPATIBLE.next_delay(0, FAILED_500)


@pytest.mark.parametrize(
    "outcome",
    [
        AttemptOutcome(status=200),
        AttemptOutcome(status=204),
        AttemptOutcome(status=410),
        AttemptOutcome(error=ErrorClass.BLOCKED),
    ],
)
def test_next_delay_final_outcomes_never_retried(outcome: AttemptOutcome) -> None:
    assert STANDARD_WEBHOOKS.next_delay(1, outcome) is None


@pytest.mark.parametrize(
    "outcome",
    [
        AttemptOutcome(status=302),
        AttemptOutcome(status=400),
        AttemptOutcome(status=404),
        AttemptOutcome(status=500),
        AttemptOutcome(error=ErrorClass.CONNECT_REFUSED),
        AttemptOutcome(error=ErrorClass.TLS),
        AttemptOutcome(error=ErrorClass.DNS),
        AttemptOutcome(error=ErrorClass.RESET),
    ],
)
def test_next_delay_other_failures_retried_on_schedule(outcome: AttemptOutcome) -> None:
    assert exact(TABLEAU_COMPATIBLE).next_delay(1, outcome) == timedelta(seconds=30)


def test_next_delay_jitter_stays_within_twenty_percent() -> None:
    rng = random.Random(1234)
    delays = [seconds(TABLEAU_COMPATIBLE.next_delay(2, FAILED_500, rng)) for _ in range(500)]
    assert all(240 <= delay <= 360 for delay in delays)
    assert max(delays) - min(delays) > 60  # actually spread, not constant


def test_next_delay_same_seed_same_delay() -> None:
    first = TABLEAU_COMPATIBLE.next_delay(1, FAILED_500, random.Random(7))
    second = TABLEAU_COMPATIBLE.next_delay(1, FAILED_500, random.Random(7))
    assert first == second


@pytest.mark.parametrize(
    "outcome",
    [
        AttemptOutcome(error=ErrorClass.TIMEOUT),
        AttemptOutcome(status=429),
        AttemptOutcome(status=502),
        AttemptOutcome(status=503),
        AttemptOutcome(status=504),
    ],
)
def test_next_delay_overloaded_receiver_waits_at_least_floor(outcome: AttemptOutcome) -> None:
    policy = exact(STANDARD_WEBHOOKS)
    assert policy.next_delay(1, outcome) == timedelta(seconds=60)  # schedule says 5 s
    assert policy.next_delay(2, outcome) == timedelta(minutes=5)  # floor below schedule


def test_next_delay_retry_after_lengthens_delay() -> None:
    outcome = AttemptOutcome(status=429, retry_after="90")
    assert exact(TABLEAU_COMPATIBLE).next_delay(1, outcome) == timedelta(seconds=90)


def test_next_delay_retry_after_never_shortens_delay() -> None:
    outcome = AttemptOutcome(status=503, retry_after="1")
    assert exact(TABLEAU_COMPATIBLE).next_delay(2, outcome) == timedelta(minutes=5)


def test_next_delay_retry_after_capped_at_twice_base() -> None:
    outcome = AttemptOutcome(status=429, retry_after="86400")
    assert exact(TABLEAU_COMPATIBLE).next_delay(2, outcome) == timedelta(minutes=10)


def test_next_delay_retry_after_capped_by_absolute_maximum() -> None:
    policy = dataclasses.replace(exact(STANDARD_WEBHOOKS), retry_after_max_s=600)
    outcome = AttemptOutcome(status=429, retry_after="86400")
    # Base for retry 4 is 2 h: the cap can never cut below the schedule itself.
    assert policy.next_delay(4, outcome) == timedelta(hours=2)
    assert policy.next_delay(3, outcome) == timedelta(minutes=30)
    assert policy.next_delay(2, outcome) == timedelta(minutes=10)


def test_next_delay_retry_after_ignored_on_other_statuses() -> None:
    outcome = AttemptOutcome(status=500, retry_after="120")
    assert exact(TABLEAU_COMPATIBLE).next_delay(1, outcome) == timedelta(seconds=30)


def test_next_delay_retry_after_http_date_needs_now() -> None:
    policy = exact(TABLEAU_COMPATIBLE)
    outcome = AttemptOutcome(status=503, retry_after="Sun, 01 Mar 2026 12:01:30 GMT")
    assert policy.next_delay(1, outcome, now=NOW) == timedelta(seconds=90)
    assert policy.next_delay(1, outcome) == timedelta(seconds=60)  # overload floor; date ignored
    far = AttemptOutcome(status=503, retry_after="Sun, 01 Mar 2026 13:00:00 GMT")
    assert policy.next_delay(1, far, now=NOW) == timedelta(seconds=120)  # 2 x the 60 s floor


def test_next_delay_retry_after_with_jitter_not_earlier_than_asked() -> None:
    rng = random.Random(99)
    outcome = AttemptOutcome(status=429, retry_after="100")
    for _ in range(200):
        delay = seconds(TABLEAU_COMPATIBLE.next_delay(1, outcome, rng))
        assert 100 <= delay <= 120  # asked 100 s; ceiling 2 x the 60 s overload floor


def test_next_delay_invalid_retry_after_ignored() -> None:
    outcome = AttemptOutcome(status=429, retry_after="soon")
    assert exact(TABLEAU_COMPATIBLE).next_delay(3, outcome) == timedelta(minutes=30)


@pytest.mark.parametrize(
    ("value", "now", "expected"),
    [
        ("120", None, 120.0),
        (" 0 ", None, 0.0),
        ("Sun, 01 Mar 2026 12:02:00 GMT", NOW, 120.0),
        ("Sunday, 01-Mar-26 12:02:00 GMT", NOW, 120.0),
        ("Sun Mar  1 12:02:00 2026", NOW, 120.0),
        ("Sun, 01 Mar 2026 11:00:00 GMT", NOW, 0.0),
        ("Sun, 01 Mar 2026 12:02:00 GMT", None, None),
        ("-5", None, None),
        ("1.5", None, None),
        ("١٢", None, None),
        ("soon", NOW, None),
        ("", NOW, None),
    ],
)
def test_parse_retry_after_forms(value: str, now: datetime | None, expected: float | None) -> None:
    assert parse_retry_after(value, now) == expected


def test_parse_retry_after_naive_now_raises() -> None:
    with pytest.raises(ValueError):
        parse_retry_after("120", datetime(2026, 3, 1, 12, 0))


def test_attempt_outcome_needs_status_or_error() -> None:
    with pytest.raises(ValueError):
        AttemptOutcome()
    with pytest.raises(ValueError):
        AttemptOutcome(status=500, error=ErrorClass.TIMEOUT)


def test_attempt_outcome_properties() -> None:
    assert AttemptOutcome(status=200).succeeded
    assert AttemptOutcome(status=299).succeeded
    assert not AttemptOutcome(status=302).succeeded
    assert not AttemptOutcome(error=ErrorClass.TIMEOUT).succeeded
    assert AttemptOutcome(status=410).gone
    assert not AttemptOutcome(status=404).gone
    assert AttemptOutcome(error=ErrorClass.TIMEOUT).throttled
    assert not AttemptOutcome(error=ErrorClass.RESET).throttled


def test_attempt_outcome_is_frozen() -> None:
    outcome = AttemptOutcome(status=200)
    with pytest.raises(dataclasses.FrozenInstanceError):
        outcome.status = 500  # type: ignore[misc]


def test_error_class_values_are_stable_strings() -> None:
    assert {member.value for member in ErrorClass} == {
        "timeout",
        "connect_refused",
        "connect_error",
        "reset",
        "dns",
        "tls",
        "blocked",
        "too_large",
        "protocol",
        "other",
    }
