"""The dashboard's two charts, as geometry for an inline SVG drawn on the server.

No charting library, no script, no CDN: the machines tabhooks runs on may have no internet,
and an hour of minutes is sixty bars and two lines. This module only computes coordinates
(pure, testable); ``_charts.html`` writes the SVG, escaped like any other template output.
Charts scale with the page through ``viewBox``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tabhooks.store.stats import Minute

WIDTH = 600
HEIGHT = 160
#: Room on the left for the y-axis label, and below for the time labels.
PAD_LEFT = 44
PAD_BOTTOM = 18
PAD_TOP = 8
_PLOT_H = HEIGHT - PAD_BOTTOM - PAD_TOP
_PLOT_W = WIDTH - PAD_LEFT - 4


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    #: CSS class: ``succeeded``, ``http_error`` or ``network_error``.
    kind: str
    title: str


@dataclass(frozen=True, slots=True)
class Line:
    coords: list[tuple[float, float]]
    kind: str
    label: str

    @property
    def points(self) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in self.coords)


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    y_max: str
    bars: list[Bar] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    #: ``(x, text, text-anchor)``: the ends are anchored inwards so they are never clipped.
    x_labels: list[tuple[float, str, str]] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    empty: bool = True
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = PAD_LEFT
    plot_bottom: int = HEIGHT - PAD_BOTTOM


def _slot_width(count: int) -> float:
    return _PLOT_W / max(count, 1)


def _x_labels(minutes: list[Minute]) -> list[tuple[float, str, str]]:
    if not minutes:
        return []
    slot = _slot_width(len(minutes))
    last = len(minutes) - 1
    labels = []
    for i in sorted({0, len(minutes) // 2, last}):
        anchor = "start" if i == 0 else "end" if i == last else "middle"
        x = PAD_LEFT if i == 0 else PAD_LEFT + (i + 1) * slot if i == last else PAD_LEFT + i * slot
        labels.append((round(x, 1), f"{minutes[i].start:%H:%M}", anchor))
    return labels


def _nice_max(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (a readable axis)."""
    if value <= 0:
        return 1.0
    scale = 1.0
    while scale * 10 < value:
        scale *= 10
    while scale > value:
        scale /= 10
    for step in (1, 2, 5, 10):
        if step * scale >= value:
            return step * scale
    return 10 * scale  # pragma: no cover - the loop always returns


_KINDS = (
    ("succeeded", "2xx"),
    ("http_error", "other status"),
    ("network_error", "no response"),
)


def attempts_chart(minutes: list[Minute]) -> Chart:
    """Stacked bars: attempts per minute, by outcome."""
    peak = _nice_max(max((m.total for m in minutes), default=0))
    slot = _slot_width(len(minutes))
    bars: list[Bar] = []
    for i, minute in enumerate(minutes):
        base = HEIGHT - PAD_BOTTOM
        for kind, label in _KINDS:
            count = getattr(minute, kind)
            if not count:
                continue
            height = count / peak * _PLOT_H
            base -= height
            bars.append(
                Bar(
                    x=round(PAD_LEFT + i * slot + 0.5, 2),
                    y=round(base, 2),
                    width=round(max(slot - 1, 1), 2),
                    height=round(height, 2),
                    kind=kind,
                    title=f"{minute.start:%H:%M} UTC: {count} {label}",
                )
            )
    return Chart(
        title="Delivery attempts per minute, by outcome (last hour)",
        y_max=f"{peak:g}",
        bars=bars,
        x_labels=_x_labels(minutes),
        legend=[(kind, label) for kind, label in _KINDS],
        empty=not bars,
    )


def latency_chart(minutes: list[Minute]) -> Chart:
    """Two lines: mean and slowest attempt duration per minute (gaps where none ran)."""
    peak = _nice_max(max((m.max_ms or 0 for m in minutes), default=0))
    slot = _slot_width(len(minutes))
    lines = []
    for attr, kind, label in (("mean_ms", "mean", "mean"), ("max_ms", "max", "slowest")):
        coords = [
            (
                round(PAD_LEFT + i * slot + slot / 2, 1),
                round(HEIGHT - PAD_BOTTOM - getattr(m, attr) / peak * _PLOT_H, 1),
            )
            for i, m in enumerate(minutes)
            if getattr(m, attr) is not None
        ]
        if coords:
            lines.append(Line(coords, kind, label))
    return Chart(
        title="Attempt latency per minute, ms (last hour)",
        y_max=f"{peak:g} ms",
        lines=lines,
        x_labels=_x_labels(minutes),
        legend=[("mean", "mean"), ("max", "slowest")],
        empty=not lines,
    )
