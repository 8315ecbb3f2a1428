"""Prometheus metrics of delivery: attempts and deliveries by outcome, attempt latency.

Counters live in the process that sends (each dispatcher); queue depth and the age of the
oldest queued delivery are read from the store when ``/metrics`` is scraped, so they are right
however many dispatchers there are.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from tabhooks.delivery.retry import AttemptOutcome
from tabhooks.store.deliveries import QueueStats, Status

_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30)


class DeliveryMetrics:
    """One registry per app, so several apps in one process never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.attempts = Counter(
            "tabhooks_delivery_attempts",
            "Delivery attempts by outcome: 2xx, 3xx, 4xx, 5xx or the error class.",
            ["outcome"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "tabhooks_deliveries",
            "Delivery state changes after an attempt: succeeded, retry_scheduled, failed.",
            ["outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tabhooks_delivery_attempt_seconds",
            "Duration of one delivery attempt, connect to response.",
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "tabhooks_delivery_queue_depth",
            "Deliveries pending or in flight.",
            registry=self.registry,
        )
        self.oldest_age = Gauge(
            "tabhooks_delivery_oldest_pending_age_seconds",
            "Age of the oldest delivery still pending or in flight.",
            registry=self.registry,
        )

    def observe_attempt(self, outcome: AttemptOutcome) -> None:
        status = outcome.status
        label = f"{status // 100}xx" if status is not None else str(outcome.error)
        self.attempts.labels(label).inc()
        self.latency.observe(outcome.duration_ms / 1000)

    def observe_finished(self, status: Status) -> None:
        label = {
            Status.SUCCEEDED: "succeeded",
            Status.FAILED: "failed",
            Status.PENDING: "retry_scheduled",
        }.get(status, str(status))
        self.deliveries.labels(label).inc()

    def observe_skipped(self) -> None:
        self.deliveries.labels("skipped_disabled").inc()

    def render(self, stats: QueueStats) -> bytes:
        self.queue_depth.set(stats.depth)
        self.oldest_age.set(stats.oldest_due_age_s)
        return generate_latest(self.registry)
