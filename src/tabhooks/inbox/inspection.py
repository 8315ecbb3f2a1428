"""What a captured request means: decoded parts, Tableau event, signature verdict, duplicates.

Everything here is derived when a request is shown, never stored, so changing a bin's secret
re-judges every request it holds, and the rules can improve without a migration. The
signature is judged against the request's *arrival* time, not the viewer's clock: a delivery
that was fresh when it arrived stays "valid" when looked at a day later.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Self
from urllib.parse import parse_qsl

from tabhooks.delivery import signing
from tabhooks.inbox.tableau import TableauEvent, recognise

#: Bytes of a body pretty-printed as JSON; larger bodies are shown as sent.
PRETTY_MAX_BYTES = 256 * 1024


class Signature(StrEnum):
    """The Standard Webhooks verdict on one request, when its bin has a secret."""

    #: A ``v1`` signature matches and the timestamp was within tolerance on arrival.
    VALID = "valid"
    #: The signature matches but the timestamp was too old or too new on arrival.
    STALE = "stale"
    #: No signature matches the secret.
    INVALID = "invalid"
    #: ``webhook-id``, ``webhook-timestamp`` or ``webhook-signature`` is missing.
    UNSIGNED = "unsigned"


@dataclass(frozen=True, slots=True)
class Captured:
    """One captured request, ready to show."""

    id: str
    bin_id: str
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    body_size: int
    client_addr: str | None
    webhook_msg_id: str | None
    response_status: int | None
    note: str | None
    received_at: datetime
    #: Which arrival of its ``webhook-id`` this is (1 = first) and how many the bin holds.
    occurrence: int = 1
    occurrences: int = 1
    signature: Signature | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        return cls(
            id=row["id"],
            bin_id=row["bin_id"],
            method=row["method"],
            path=row["path"],
            query=row["query"],
            headers=[(str(k), str(v)) for k, v in json.loads(row["headers"])],
            body=bytes(row["body"]),
            body_size=row["body_size"],
            client_addr=row["client_addr"],
            webhook_msg_id=row["webhook_msg_id"],
            response_status=row["response_status"],
            note=row["note"],
            received_at=row["received_at"],
        )

    @property
    def truncated(self) -> bool:
        return self.body_size > len(self.body)

    @property
    def query_pairs(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query, keep_blank_values=True)

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "").split(";")[0].strip().lower()

    @property
    def body_text(self) -> str | None:
        """The body as text, or ``None`` when it is not UTF-8 (shown as base64 instead)."""
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            return None

    @property
    def body_base64(self) -> str:
        return base64.b64encode(self.body).decode("ascii")

    @property
    def body_json(self) -> str | None:
        """The body re-indented, when it is a complete JSON document."""
        if self.truncated or not self.body or len(self.body) > PRETTY_MAX_BYTES:
            return None
        try:
            return json.dumps(json.loads(self.body), indent=2, ensure_ascii=False)
        except ValueError:
            return None

    @property
    def tableau(self) -> TableauEvent | None:
        return None if self.truncated else recognise(self.body)

    @property
    def duplicate(self) -> bool:
        """Another request in the bin carries the same ``webhook-id``."""
        return self.occurrences > 1


def judge(secret: str, request: Captured) -> Signature:
    """Verify ``request`` against ``secret`` as a Standard Webhooks receiver would on arrival."""
    headers = dict(request.headers)
    lowered = {k.lower(): v for k, v in headers.items()}
    stamp = lowered.get(signing.TIMESTAMP_HEADER, "").strip()
    if not (
        lowered.get(signing.ID_HEADER)
        and lowered.get(signing.SIGNATURE_HEADER)
        and stamp.isascii()
        and stamp.isdigit()
    ):
        return Signature.UNSIGNED
    # Verify the signature at the request's own timestamp, then judge the time separately,
    # so a stale delivery is told apart from a forged one.
    if not signing.verify(secret, headers, request.body, now=float(stamp)):
        return Signature.INVALID
    skew = abs(request.received_at.timestamp() - int(stamp))
    return Signature.VALID if skew <= signing.TIMESTAMP_TOLERANCE_S else Signature.STALE


def annotate(
    rows: list[dict[str, Any]], *, secret: str | None, seen: dict[str, list[str]]
) -> list[Captured]:
    """Captured requests with their duplicate counts and, given a secret, signature verdicts.

    Args:
        rows: Stored requests.
        secret: The bin's signing secret, if any.
        seen: For each ``webhook-id``, the ids of the bin's requests carrying it, oldest first
            (:func:`tabhooks.store.inbox.occurrences`).
    """
    out = []
    for row in rows:
        item = Captured.from_row(row)
        ids = seen.get(item.webhook_msg_id or "", [])
        if item.id in ids:
            item = replace(item, occurrence=ids.index(item.id) + 1, occurrences=len(ids))
        if secret:
            item = replace(item, signature=judge(secret, item))
        out.append(item)
    return out
