"""Chart geometry: stacked bars in order, lines only where attempts ran, labels inside."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tabhooks.store.stats import Minute
from tabhooks.web import charts

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _minutes(**at: Minute) -> list[Minute]:
    blank = [Minute(START + timedelta(minutes=i)) for i in range(60)]
    for index, minute in at.items():
        blank[int(index.removeprefix("m"))] = minute
    return blank


def test_attempts_chart_stacks_outcomes_bottom_up_on_a_readable_scale() -> None:
    busy = Minute(START + timedelta(minutes=59), succeeded=3, http_error=2, network_error=1)
    chart = charts.attempts_chart(_minutes(m59=busy))
    assert chart.y_max == "10" and not chart.empty
    kinds = [bar.kind for bar in chart.bars]
    assert kinds == ["succeeded", "http_error", "network_error"]
    first, second, _ = chart.bars
    assert first.y + first.height == charts.HEIGHT - charts.PAD_BOTTOM
    assert abs(second.y + second.height - first.y) < 0.01
    assert all(b.x >= 0 and b.x + b.width <= charts.WIDTH for b in chart.bars)
    assert "12:59 UTC: 3 2xx" in first.title


def test_latency_chart_draws_only_minutes_with_attempts() -> None:
    one = Minute(START + timedelta(minutes=10), succeeded=1, mean_ms=40.0, max_ms=70.0)
    chart = charts.latency_chart(_minutes(m10=one))
    assert chart.y_max == "100 ms"
    assert [len(line.coords) for line in chart.lines] == [1, 1]
    assert charts.latency_chart(_minutes()).empty


def test_x_labels_are_anchored_inside_the_plot() -> None:
    labels = charts.attempts_chart(_minutes()).x_labels
    assert [(text, anchor) for _, text, anchor in labels] == [
        ("12:00", "start"),
        ("12:30", "middle"),
        ("12:59", "end"),
    ]
    assert all(charts.PAD_LEFT <= x <= charts.WIDTH for x, _, _ in labels)
