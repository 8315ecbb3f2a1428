"""The security headers every HTML response carries, added in one place.

Pages, partials fetched by scripts, error pages and the API docs page are built by different
handlers; a header set by each handler is a header some new handler forgets (two partials
once went out with no Content-Security-Policy and no ``X-Frame-Options``). So the headers are
added here, by :func:`secure_html`, which the app's request guard applies to every response
whose type is HTML, whoever built it. A header the response already carries is kept: the
inbox's capture endpoint answers with ``Content-Security-Policy: sandbox``, stricter than the
pages' policy, and must keep it.
"""

from __future__ import annotations

from starlette.types import Message

#: Our own scripts, styles and images only; no inline script; no framing; no plugins.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
#: Sent with every HTML response (see the module docstring).
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_ENCODED = [
    (name.lower().encode("latin-1"), value.encode("latin-1"))
    for name, value in SECURITY_HEADERS.items()
]
_CONTENT_TYPE = b"content-type"
_HTML = b"text/html"


def secure_html(message: Message) -> Message:
    """``message`` (an ``http.response.start``) with :data:`SECURITY_HEADERS` added when its
    type is ``text/html``; any other response's message is returned as it is, not copied.

    The app's request guard (:class:`tabhooks.api.guard.RequestGuard`) calls it for every
    response, so it stays cheap for the XML and JSON ones that are nearly all of them: one
    look at the headers for the content type, and nothing built. (It was a middleware of its
    own, a layer every request went through; see docs/performance.md, "REST API per-request
    layers".)
    """
    headers: list[tuple[bytes, bytes]] = message.get("headers", [])
    for name, value in headers:
        if name.lower() == _CONTENT_TYPE:
            if value.lower().lstrip().startswith(_HTML):
                present = {n.lower() for n, _ in headers}
                added = [(n, v) for n, v in _ENCODED if n not in present]
                return {**message, "headers": [*headers, *added]}
            return message
    return message
