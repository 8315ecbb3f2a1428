"""Which headers of a captured request are sent on when it is replayed or forwarded.

A bin records whatever its sender sent, including credentials that were never meant for the
place a capture is sent on to (``Authorization``, ``Cookie``, Tableau's ``X-Tableau-Auth``:
a sender that posts its session to a bin must not thereby post it to the developer's local
app) and headers that describe the sender's connection rather than the message (RFC 9110
7.6.1). Everything else — ``Content-Type``, ``webhook-id``, ``webhook-timestamp``,
``webhook-signature`` — is kept, so a receiver verifying signatures still accepts the
message. This module has no dependencies so that both the server (inbox replay) and the CLI
(``tabhooks listen --forward``) use this one definition.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Credentials: never sent on to another destination.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-tableau-auth"})

#: The original connection's framing and hop-by-hop fields; the new request sets its own.
CONNECTION_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "upgrade",
        "te",
        "trailer",
        "accept-encoding",
    }
)

#: Every header name (lower case) a replay or forward drops.
NOT_FORWARDED = CREDENTIAL_HEADERS | CONNECTION_HEADERS


def forwardable(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers to send on: without :data:`NOT_FORWARDED` and those ``Connection`` names.

    ``Connection: close, X-Custom`` makes ``X-Custom`` hop-by-hop too (RFC 9110 7.6.1), so it
    is dropped as well.

    Args:
        headers: The captured ``(name, value)`` pairs, in the order they arrived.
    """
    pairs = list(headers)
    named = {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == "connection"
        for token in value.split(",")
        if token.strip()
    }
    return [(k, v) for k, v in pairs if k.lower() not in NOT_FORWARDED and k.lower() not in named]
