"""How much work the job runner takes on, for how long, and how it holds its jobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class JobSettings(Protocol):
    """The part of :class:`tabhooks.config.Settings` this module reads."""

    @property
    def job_concurrency(self) -> int: ...

    @property
    def job_concurrency_per_site(self) -> int: ...

    @property
    def job_timeout_s(self) -> float: ...

    @property
    def job_lease_s(self) -> float: ...


@dataclass(frozen=True, slots=True)
class JobLimits:
    """The runner's bounds.

    Args:
        concurrency: Jobs one runner (process) runs at once.
        per_site: Jobs of one site running at once, over every runner sharing the store: one
            site's backlog leaves the other slots to other sites.
        timeout_s: Longest a job may run; past it, it fails with a note saying so.
        lease_s: How long a claim lasts unless renewed. A running job's lease is renewed every
            :attr:`renew_every_s`; a runner that dies (or stalls) loses its jobs to the others
            after this long.
    """

    concurrency: int = 8
    per_site: int = 4
    timeout_s: float = 300.0
    lease_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: JobSettings) -> JobLimits:
        return cls(
            concurrency=settings.job_concurrency,
            per_site=settings.job_concurrency_per_site,
            timeout_s=settings.job_timeout_s,
            lease_s=settings.job_lease_s,
        )

    @property
    def renew_every_s(self) -> float:
        """Four renewals per lease: three may fail (a busy store) before it is at risk."""
        return self.lease_s / 4

    @property
    def give_up_s(self) -> float:
        """Time after a renewal was sent at which a runner that could not renew since stops
        the job itself: a fifth of the lease before another runner may take it over, so the
        two never run it at once (the margin absorbs a pause of the loop and clock skew)."""
        return self.lease_s * 4 / 5
