"""The delivery hot path's row shapes, each declared once.

Each is a :class:`~typing.NamedTuple`: the statement that writes or reads it is built from
the declaration (:func:`tabhooks.store.driver.insert_into` takes the type, a
:class:`~tabhooks.store.driver.DriverStatement` maps its placeholders to the fields by name),
and the code builds and reads rows by field. So a column is added in one place, and nothing
is written positionally in step with a list somewhere else. A named tuple is still a tuple:
the driver takes it as it is, at a tuple's cost.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple


class EventRow(NamedTuple):
    """One ``events`` row as the outbox writes it."""

    id: str
    site_id: str
    event: str
    resource: str
    resource_name: str
    resource_luid: str
    payload: str
    created_at: datetime


class DeliveryRow(NamedTuple):
    """One ``deliveries`` row as the outbox writes it: pending, or leased by a hand-off."""

    id: str
    event_id: str
    webhook_id: str | None
    site_id: str
    status: str
    attempts: int
    schedule_base: int
    next_attempt_at: datetime
    lease_expires_at: datetime | None
    leased_by: str | None
    created_at: datetime
    updated_at: datetime
    destination: str | None


class AttemptRow(NamedTuple):
    """One ``attempts`` row as the dispatcher's writer records it."""

    id: str
    delivery_id: str
    number: int
    started_at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None
    detail: str | None
    response_headers: str
    response_body: bytes


class FinishParams(NamedTuple):
    """How one attempted delivery moves on (``deliveries._FINISH``)."""

    status: str
    #: 1 when an attempt was made, 0 when the delivery was settled without one.
    tried: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    now: datetime
    completed_at: datetime | None
    id: str
    #: Only the dispatcher holding the lease may move it on.
    worker: str


class LeaseParams(NamedTuple):
    """One claimed row leased to a dispatcher (SQLite's claims)."""

    until: datetime
    worker: str
    now: datetime
    id: str


class DestinationParams(NamedTuple):
    """Where one claimed row goes, recorded when the row did not say."""

    destination: str
    id: str


class Subscriber(NamedTuple):
    """An enabled webhook an emitted event goes to, with what its deliveries need."""

    webhook_id: str
    url: str
    #: Exhausted deliveries in a row (a success resets them only when there are some).
    failures: int
    #: The live signing secrets, newest first, opened.
    secrets: tuple[str, ...]
    destination: str


class SendingRow(NamedTuple):
    """One row of a claim: a leased delivery with what sending it needs.

    A delivery comes once per live signing secret of its webhook (``secret``), or once with
    ``secret`` None; the sealed columns are as stored and opened by the claim.
    """

    id: str
    webhook_id: str | None
    site_id: str
    attempts: int
    schedule_base: int
    body: str | None
    destination: str | None
    url: str | None
    is_enabled: bool | None
    consecutive_failures: int | None
    payload: str
    relay_url: str | None
    relay_method: str | None
    relay_headers: str | None
    relay_type: str | None
    relay_secret: str | None
    secret: str | None
