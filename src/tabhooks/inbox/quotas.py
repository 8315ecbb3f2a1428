"""How many bins, and how many kept requests, one user and one site may hold.

A bin keeps its newest ``max_requests`` requests (the oldest are dropped as new ones arrive,
as on webhook.site), so what a set of bins may store is bounded by the sum of their
``max_requests`` times ``inbox_max_body_bytes``. The quotas are checked against that sum
when a bin is created or its ``max_requests`` raised — never on capture: a capture is never
refused or answered differently because of a quota (the sender sees the answer the bin was
told to give), and never drops another bin's requests. Refusals are 403 ``403181``.

The user's bins are those they created, on every site; the site's are all of its bins,
whoever created them (a site administrator can delete any of them to make room).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from tabhooks.config import Settings


@dataclass(frozen=True, slots=True)
class BinQuotas:
    """The limits, from ``TABHOOKS_INBOX_MAX_{BINS,REQUESTS}_PER_{USER,SITE}``."""

    bins_per_user: int
    bins_per_site: int
    requests_per_user: int
    requests_per_site: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            bins_per_user=settings.inbox_max_bins_per_user,
            bins_per_site=settings.inbox_max_bins_per_site,
            requests_per_user=settings.inbox_max_requests_per_user,
            requests_per_site=settings.inbox_max_requests_per_site,
        )


@dataclass(frozen=True, slots=True)
class Held:
    """Bins held, and the requests they may keep together (the sum of ``max_requests``)."""

    bins: int
    requests: int


def refusal(
    quotas: BinQuotas, *, site: Held, user: Held | None, new_bins: int, new_requests: int
) -> str | None:
    """Why adding ``new_bins`` bins keeping ``new_requests`` requests is over a quota, or
    ``None`` when it fits.

    Args:
        site: What the site holds, without the bin being created or changed.
        user: What the bin's creator holds, likewise (``None``: no creator any more).
        new_bins: 1 to create a bin, 0 to change one.
        new_requests: The ``max_requests`` the bin asks for.
    """
    checks: list[tuple[Held | None, int, int, str, str, str]] = [
        (user, quotas.bins_per_user, quotas.requests_per_user, "You have", "Your bins", "USER"),
        (site, quotas.bins_per_site, quotas.requests_per_site, "This site has",
         "This site's bins", "SITE"),
    ]  # fmt: skip
    for held, bins_max, requests_max, owner_has, bins_of, key in checks:
        if held is None:
            continue
        if new_bins and held.bins + new_bins > bins_max:
            return (
                f"{owner_has} {held.bins} inspector bins already, the most allowed "
                f"(TABHOOKS_INBOX_MAX_BINS_PER_{key}={bins_max}); delete one first."
            )
        if held.requests + new_requests > requests_max:
            room = max(0, requests_max - held.requests)
            return (
                f"{bins_of} already keep up to {held.requests} requests together, of "
                f"{requests_max} allowed (TABHOOKS_INBOX_MAX_REQUESTS_PER_{key}): "
                f"max_requests={new_requests} does not fit, at most {room} does. Lower another "
                "bin's max_requests or delete one."
            )
    return None
