"""Prometheus metrics of delivery: attempts and deliveries by outcome, attempt latency.

Counters live in the process that sends (each dispatcher); queue depth and the age of the
oldest queued delivery are read from the store when ``/metrics`` is scraped, so they are right
however many dispatchers there are.

The per-attempt figures are kept as plain integers and turned into Prometheus metric families
only when scraped (:class:`_DeliveryCollector`). They are counted once or twice per delivery on
the event loop, where a ``prometheus_client`` child metric (a lock and a label lookup per
increment, a lock per histogram bucket) cost about as much as building the attempt's record.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from tabhooks.delivery.retry import AttemptOutcome
from tabhooks.store.deliveries import QueueStats, Status

_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30)
_FINISHED_LABELS = {
    Status.SUCCEEDED: "succeeded",
    Status.FAILED: "failed",
    Status.PENDING: "retry_scheduled",
}


class DeliveryMetrics:
    """One registry per app, so several apps in one process never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        #: Attempts by outcome: ``2xx`` … ``5xx`` or the error class.
        self.attempts: Tally[str] = Tally()
        #: Delivery state changes after an attempt: succeeded, retry_scheduled, failed, ...
        self.deliveries: Tally[str] = Tally()
        #: Attempts per latency bucket (not cumulative; the last counts those above every
        #: bound) and their total duration.
        self.latency_counts = [0] * (len(_LATENCY_BUCKETS_S) + 1)
        self.latency_sum_s = 0.0
        #: Claims by form (``pull``: a line taking its own rows; ``claim``: the others) and
        #: the rows they leased; ``handoff`` rows came leased from the emitting transaction.
        self.claims: Tally[str] = Tally()
        self.claimed_rows: Tally[str] = Tally()
        #: Deliveries leased but given back unsent (held past their lease's margin, or a
        #: row whose destination the store did not know landed on a full line).
        self.handed_back = 0
        self.registry.register(_DeliveryCollector(self))
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
        self.attempts[f"{status // 100}xx" if status is not None else str(outcome.error)] += 1
        seconds = outcome.duration_ms / 1000
        self.latency_counts[bisect_left(_LATENCY_BUCKETS_S, seconds)] += 1
        self.latency_sum_s += seconds

    def observe_finished(self, status: Status) -> None:
        self.deliveries[_FINISHED_LABELS.get(status, str(status))] += 1

    def observe_claim(self, form: str, rows: int) -> None:
        self.claims[form] += 1
        self.claimed_rows[form] += rows

    def observe_handoff(self, rows: int) -> None:
        self.claimed_rows["handoff"] += rows

    def observe_skipped(self) -> None:
        self.deliveries["skipped_disabled"] += 1

    def render(self, stats: QueueStats) -> bytes:
        self.queue_depth.set(stats.depth)
        self.oldest_age.set(stats.oldest_due_age_s)
        return generate_latest(self.registry)


class _DeliveryCollector(Collector):
    """The counters of one :class:`DeliveryMetrics`, as metric families, at scrape time."""

    def __init__(self, metrics: DeliveryMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        metrics = self.metrics
        yield _by_outcome(
            "tabhooks_delivery_attempts",
            "Delivery attempts by outcome: 2xx, 3xx, 4xx, 5xx or the error class.",
            metrics.attempts,
        )
        yield _by_outcome(
            "tabhooks_deliveries",
            "Delivery state changes after an attempt: succeeded, retry_scheduled, failed.",
            metrics.deliveries,
        )
        yield _by_form(
            "tabhooks_delivery_claims",
            "Claims by form: pull (a destination's line takes its own rows) or claim.",
            metrics.claims,
        )
        yield _by_form(
            "tabhooks_delivery_claimed_rows",
            "Deliveries leased to this dispatcher, by how: pull, claim, or handoff (leased by "
            "the transaction that emitted them).",
            metrics.claimed_rows,
        )
        handed_back = CounterMetricFamily(
            "tabhooks_delivery_handed_back",
            "Deliveries leased and given back unsent.",
        )
        handed_back.add_metric([], metrics.handed_back)
        yield handed_back
        cumulative, buckets = 0, []
        bounds = [*map(floatToGoString, _LATENCY_BUCKETS_S), "+Inf"]
        for bound, count in zip(bounds, metrics.latency_counts, strict=True):
            cumulative += count
            buckets.append((bound, float(cumulative)))
        yield HistogramMetricFamily(
            "tabhooks_delivery_attempt_seconds",
            "Duration of one delivery attempt, connect to response.",
            buckets=buckets,
            sum_value=metrics.latency_sum_s,
        )


def _by_outcome(name: str, documentation: str, counts: Tally[str]) -> CounterMetricFamily:
    return _by_label(name, documentation, "outcome", counts)


def _by_form(name: str, documentation: str, counts: Tally[str]) -> CounterMetricFamily:
    return _by_label(name, documentation, "form", counts)


def _by_label(name: str, documentation: str, label: str, counts: Tally[str]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family
