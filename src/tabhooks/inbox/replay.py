"""Replaying a captured request to another URL, e.g. the service being developed locally.

The replay goes through the delivery engine's one :class:`~tabhooks.delivery.sender.Sender`,
so it obeys the same SSRF guard, https rule, timeouts and response cap as a real delivery: a
replay is not a way around the guard. Like a delivery it never follows a redirect: a 3xx is
the answer reported, so an allowed receiver cannot bounce the replay to an internal address.
It is a POST (webhooks are POSTs; the sender sends nothing else) of the captured body with the
captured headers, ``webhook-*`` included, so a receiver verifying Standard Webhooks signatures
accepts it while the timestamp is fresh; which headers are dropped (credentials, the original
connection's framing) is :mod:`tabhooks.forwarded_headers`' one list, the one ``tabhooks listen
--forward`` uses too.
"""

from __future__ import annotations

from tabhooks.delivery.retry import AttemptOutcome
from tabhooks.delivery.sender import Sender
from tabhooks.errors import BadRequest
from tabhooks.forwarded_headers import forwardable
from tabhooks.inbox import bins, history
from tabhooks.services.principal import Principal
from tabhooks.store import Store


async def replay(
    store: Store, sender: Sender, principal: Principal, bin_id: str, request_id: str, url: str
) -> AttemptOutcome:
    """Send captured request ``request_id`` of bin ``bin_id`` to ``url`` once and report.

    Only those who may manage the bin may replay from it: a replay is a request the server
    makes on their behalf, like a change to the bin (see :func:`bins.may_manage`).
    """
    bin_ = await bins.get_managed(store, principal, bin_id)
    captured = await history.one(store, bin_, request_id)
    if captured.truncated:
        raise BadRequest(
            f"Only the first {len(captured.body)} of {captured.body_size} body bytes were kept; "
            "a replay would send a different message."
        )
    headers = dict(forwardable(captured.headers))
    return await sender.send(url, captured.body, headers)
