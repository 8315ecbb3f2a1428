"""The throttles' arithmetic on a fake clock: token buckets, exponential backoff, and the
sign-in policy (which key trips, what a success gives back, who is spared)."""

from __future__ import annotations

import pytest

from tabhooks.errors import SigninFailed, TooManyRequests
from tabhooks.services.throttle import (
    Backoff,
    RouteLimiter,
    SigninLimits,
    SigninThrottle,
    TokenBuckets,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_refills_at_its_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(3, 0.5, clock=clock)
    assert [buckets.take("k") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("k") == pytest.approx(2.0)  # one token per 2 s
    assert buckets.take("other") == 0
    clock.now += 2
    assert buckets.take("k") == 0 and buckets.wait_s("k") == pytest.approx(2.0)
    buckets.give_back("k")
    assert buckets.wait_s("k") == 0


def test_bucket_forgets_the_least_recent_key_beyond_its_size() -> None:
    clock = Clock()
    buckets = TokenBuckets(1, 1.0, max_keys=2, clock=clock)
    for key in ("a", "b", "c"):
        buckets.take(key)
    assert buckets.wait_s("a") == 0  # dropped: forgiven, never the other way round
    assert buckets.wait_s("c") == pytest.approx(1.0)
    clock.now += 5
    assert buckets.wait_s("c") == 0


def test_backoff_doubles_after_the_free_failures_up_to_its_cap() -> None:
    clock = Clock()
    backoff = Backoff(free=2, max_s=5, forget_s=60, clock=clock)
    waits = []
    for _ in range(6):
        backoff.fail("k")
        waits.append(backoff.wait_s("k"))
    assert waits == [0, 1, 2, 4, 5, 5]
    backoff.undo("k")
    assert backoff.wait_s("k") == 5
    clock.now += 61
    assert backoff.wait_s("k") == 0  # forgotten
    backoff.fail("k")
    backoff.clear("k")
    assert backoff.wait_s("k") == 0


def _fail(throttle: SigninThrottle, name: str, address: str) -> None:
    with pytest.raises(SigninFailed), throttle.attempt("password", name, address):
        raise SigninFailed()


def test_signin_pair_backoff_spares_other_addresses_and_clears_on_success() -> None:
    clock = Clock()
    throttle = SigninThrottle(SigninLimits(free_failures=3, backoff_max_s=60), clock=clock)
    for _ in range(3):
        _fail(throttle, "Alice", "10.0.0.1")
    with pytest.raises(TooManyRequests) as caught:
        throttle.begin("password", "alice ", "10.0.0.1")  # the name is case-folded
    assert caught.value.retry_after_s == 1 and "from this address" in caught.value.detail
    with throttle.attempt("password", "alice", "10.0.0.2"):
        pass  # the real user elsewhere
    clock.now += 1
    with throttle.attempt("password", "alice", "10.0.0.1"):
        pass  # after the wait, and a success clears the pair
    for _ in range(3):
        _fail(throttle, "alice", "10.0.0.1")


def test_signin_name_bucket_spares_addresses_the_name_signed_in_from() -> None:
    clock = Clock()
    limits = SigninLimits(free_failures=10, per_address=0, per_name=4, window_s=400)
    throttle = SigninThrottle(limits, clock=clock)
    with throttle.attempt("password", "bob", "home"):
        pass
    for bot in range(4):
        _fail(throttle, "bob", f"bot-{bot}")
    with pytest.raises(TooManyRequests) as caught:
        throttle.begin("password", "bob", "bot-9")
    assert "for this user name" in caught.value.detail
    assert caught.value.retry_after_s == 100  # one failure's worth: 400 s / 4
    with throttle.attempt("password", "bob", "home"):
        pass
    # PAT names are counted apart from user names.
    with throttle.attempt("pat", "bob", "bot-9"):
        pass


def test_signin_address_bucket_and_what_counts() -> None:
    clock = Clock()
    throttle = SigninThrottle(SigninLimits(per_address=3, per_name=0), clock=clock)
    with throttle.attempt("password", "neighbour", "nat"):
        pass
    for name in ("a", "b", "c"):
        _fail(throttle, name, "nat")
    with pytest.raises(TooManyRequests, match="from this address"):
        throttle.begin("password", "d", "nat")
    with throttle.attempt("password", "neighbour", "nat"):
        pass  # signed in from this address before: the sprayer next door does not lock it out
    # Neither a refused attempt nor one that fails for another reason is counted.
    other = SigninThrottle(SigninLimits(free_failures=1, per_address=1, per_name=0), clock=clock)
    with pytest.raises(ValueError), other.attempt("password", "e", "x"):
        raise ValueError("malformed")
    _fail(other, "e", "x")
    for _ in range(3):
        with pytest.raises(TooManyRequests):
            other.begin("password", "e", "x")
    clock.now += 600
    with other.attempt("password", "e", "x"):
        pass


def test_route_limiter_answers_429_with_retry_after() -> None:
    clock = Clock()
    limiter = RouteLimiter(rate_per_s=0.5, burst=2, clock=clock)
    limiter.admit("rly_a")
    limiter.admit("rly_a")
    with pytest.raises(TooManyRequests) as caught:
        limiter.admit("rly_a")
    assert caught.value.status == 429 and caught.value.retry_after_s == 2
    limiter.admit("rly_b")
