"""The sign-in throttle as a FastAPI dependency: ``Depends(signin_throttle)`` on a sign-in route.

A dependency with ``yield`` wraps the whole handler, so the throttle sees the outcome without
the handler knowing about it: the route gains one line, and the policy stays in
:mod:`tabhooks.services.throttle`. Password and personal access token sign-ins are both
counted, each under its own kind of name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request

from tabhooks.api.wire import read_body
from tabhooks.services.throttle import SigninThrottle


def client_address(request: Request) -> str:
    """The caller's address as the server sees it (behind a proxy: what uvicorn's
    ``--forwarded-allow-ips`` lets ``X-Forwarded-For`` say)."""
    return request.client.host if request.client else "unknown"


async def signin_throttle(request: Request) -> AsyncIterator[None]:
    """Refuse a throttled sign-in with 429 before it is checked, and count its outcome.

    Only :class:`~tabhooks.errors.SigninFailed` counts as a failure; a request that fails
    for another reason (a malformed body, a server error) is not held against anyone.
    """
    throttle: SigninThrottle = request.app.state.signin_throttle
    credentials = (await read_body(request)).child("credentials")
    pat_name = credentials.attr("personalAccessTokenName") if credentials else None
    name = pat_name or (credentials.attr("name") if credentials else None)
    if not name:  # nothing to count: the handler answers 400
        yield
        return
    with throttle.attempt("pat" if pat_name else "password", name, client_address(request)):
        yield
