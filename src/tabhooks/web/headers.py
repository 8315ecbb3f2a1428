"""The security headers every HTML response carries, added in one place.

Pages, partials fetched by scripts, error pages and the API docs page are built by different
handlers; a header set by each handler is a header some new handler forgets (two partials
once went out with no Content-Security-Policy and no ``X-Frame-Options``). So the headers are
added here, by a pure ASGI middleware, to every response whose type is HTML, whoever built
it. A header the response already carries is kept: the inbox's capture endpoint answers with
``Content-Security-Policy: sandbox``, stricter than the pages' policy, and must keep it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class SecurityHeadersMiddleware:
    """Add :data:`SECURITY_HEADERS` to every ``text/html`` response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
                if _is_html(headers):
                    present = {name.lower() for name, _ in headers}
                    headers += [(n, v) for n, v in _ENCODED if n not in present]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _is_html(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name.lower() == _CONTENT_TYPE:
            return value.lower().lstrip().startswith(_HTML)
    return False
