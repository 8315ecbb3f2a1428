"""What ``/metrics`` shows for delivery, parsed as Prometheus parses it."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tabhooks.delivery.metrics import DeliveryMetrics
from tabhooks.delivery.retry import AttemptOutcome, ErrorClass
from tabhooks.store.deliveries import QueueStats, Status


def samples(
    metrics: DeliveryMetrics, stats: QueueStats
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = metrics.render(stats).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_attempts_deliveries_latency_and_queue_figures() -> None:
    metrics = DeliveryMetrics()
    metrics.observe_attempt(AttemptOutcome(status=200, duration_ms=3.0))
    metrics.observe_attempt(AttemptOutcome(status=204, duration_ms=5.0))  # on a bound: 0.005
    metrics.observe_attempt(AttemptOutcome(status=503, duration_ms=120.0))
    metrics.observe_attempt(AttemptOutcome(error=ErrorClass.TIMEOUT, duration_ms=45_000.0))
    metrics.observe_finished(Status.SUCCEEDED)
    metrics.observe_finished(Status.SUCCEEDED)
    metrics.observe_finished(Status.PENDING)
    metrics.observe_finished(Status.FAILED)
    metrics.observe_skipped()
    got = samples(metrics, QueueStats(depth=7, oldest_due_age_s=2.5))

    def one(name: str, **labels: str) -> float:
        return got[(name, frozenset(labels.items()))]

    assert one("tabhooks_delivery_attempts_total", outcome="2xx") == 2
    assert one("tabhooks_delivery_attempts_total", outcome="5xx") == 1
    assert one("tabhooks_delivery_attempts_total", outcome=str(ErrorClass.TIMEOUT)) == 1
    assert one("tabhooks_deliveries_total", outcome="succeeded") == 2
    assert one("tabhooks_deliveries_total", outcome="retry_scheduled") == 1
    assert one("tabhooks_deliveries_total", outcome="failed") == 1
    assert one("tabhooks_deliveries_total", outcome="skipped_disabled") == 1
    bucket = "tabhooks_delivery_attempt_seconds_bucket"
    assert one(bucket, le="0.005") == 2
    assert one(bucket, le="0.1") == 2
    assert one(bucket, le="0.25") == 3
    assert one(bucket, le="30.0") == 3
    assert one(bucket, le="+Inf") == 4
    assert one("tabhooks_delivery_attempt_seconds_count") == 4
    assert abs(one("tabhooks_delivery_attempt_seconds_sum") - 45.128) < 1e-9
    assert one("tabhooks_delivery_queue_depth") == 7
    assert one("tabhooks_delivery_oldest_pending_age_seconds") == 2.5


def test_nothing_observed_yet_still_shows_every_family() -> None:
    text = DeliveryMetrics().render(QueueStats(depth=0, oldest_due_age_s=0.0)).decode()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert names >= {
        "tabhooks_delivery_attempts",
        "tabhooks_deliveries",
        "tabhooks_delivery_attempt_seconds",
        "tabhooks_delivery_queue_depth",
        "tabhooks_delivery_oldest_pending_age_seconds",
    }


def test_claims_by_form_and_rows_handed_back() -> None:
    metrics = DeliveryMetrics()
    metrics.observe_claim("pull", 500)
    metrics.observe_claim("pull", 12)
    metrics.observe_claim("claim", 0)
    metrics.observe_handoff(1000)
    metrics.handed_back += 3
    got = samples(metrics, QueueStats(depth=0, oldest_due_age_s=0.0))

    def one(name: str, **labels: str) -> float:
        return got[(name, frozenset(labels.items()))]

    assert one("tabhooks_delivery_claims_total", form="pull") == 2
    assert one("tabhooks_delivery_claims_total", form="claim") == 1
    assert one("tabhooks_delivery_claimed_rows_total", form="pull") == 512
    assert one("tabhooks_delivery_claimed_rows_total", form="claim") == 0
    assert one("tabhooks_delivery_claimed_rows_total", form="handoff") == 1000
    assert one("tabhooks_delivery_handed_back_total") == 3
