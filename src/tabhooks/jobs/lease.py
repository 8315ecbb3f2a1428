"""Holding a running job: renew its lease, and stop the work the moment it is no longer ours.

A claim's lease says how long other runners leave the job alone. Without renewal, a job that
runs longer than the lease is taken over and run a second time alongside the first. So while a
job runs its lease is renewed every quarter lease, under the claim's token
(:func:`tabhooks.store.jobs.renew`), and the work is cancelled when

* the renewal is refused: the job was cancelled, or another runner took it over (after this
  process paused longer than the lease); or
* no renewal has got through for most of a lease (the store is unreachable or too slow): the
  job is stopped before another runner may take it, rather than run twice at once.

Either way the outcome is never recorded by this runner: :func:`tabhooks.store.jobs.finish`
checks the token too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from tabhooks.jobs.limits import JobLimits
from tabhooks.store import Store
from tabhooks.store import jobs as jobs_store
from tabhooks.store.jobs import Claim

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews one claim's lease while its work runs.

    Args:
        store: Where the job is.
        claim: The claim to hold.
        limits: The lease length and renewal pace.
        held_since: Loop time (``loop.time()``) just before the claim was written: the lease
            lasts at least ``lease_s`` from then.
    """

    def __init__(self, store: Store, claim: Claim, limits: JobLimits, held_since: float) -> None:
        self.store = store
        self.claim = claim
        self.limits = limits
        self._held_since = held_since
        #: Why the work was stopped, once it was.
        self.lost: str | None = None
        self._over = asyncio.Event()

    async def keep(self, work: asyncio.Task[Any]) -> None:
        """Renew until :meth:`done`; cancel ``work`` and return once the job is no longer ours.

        Never cancelled itself (a renewal cut off half-way would cost the store connection):
        after :meth:`done` it returns at once if asleep, or after the renewal in flight.
        """
        loop = asyncio.get_running_loop()
        job = self.claim.job
        while not self._over.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._over.wait(), self.limits.renew_every_s)
            if self._over.is_set():
                return
            give_up_at = self._held_since + self.limits.give_up_s
            sent = loop.time()
            kept: bool | None = None
            try:
                async with asyncio.timeout_at(give_up_at):
                    kept = await self._renew()
            except TimeoutError:
                pass
            except Exception:
                log.exception("action=job_lease_renew_failed job=%s", job.id)
            if self._over.is_set():
                return  # the outcome was recorded meanwhile (or the runner is stopping)
            if kept:
                self._held_since = sent
                continue
            if kept is False:
                self.lost = "cancelled or taken over by another runner"
            elif loop.time() >= give_up_at:
                self.lost = "its lease could not be renewed in time"
            else:
                continue  # a failed renewal, with time left to try again
            log.warning("action=job_stopped job=%s reason=%s", job.id, self.lost)
            work.cancel()
            return

    def done(self) -> None:
        """The work is over: stop renewing (see :meth:`keep`)."""
        self._over.set()

    async def _renew(self) -> bool:
        async with self.store.write() as conn:
            return await jobs_store.renew(
                conn, self.claim.job.id, self.claim.token, self.limits.lease_s
            )
