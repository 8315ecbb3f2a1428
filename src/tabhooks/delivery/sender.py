"""The one HTTP client that sends webhooks, shared by the dispatcher and "test webhook".

Both callers go through :class:`Sender` so a test delivery is subject to exactly the same
guard, timeouts, headers and limits as a real one; a test that passes means a delivery would
get through. Inbox replay and relay targets (which are deliveries) use it too. One
:func:`~tabhooks.delivery.guard.guarded_session` is built at start-up and reused, because
connection reuse is most of delivery throughput. Redirects are never followed: Tableau does
not follow them either, and a receiver that redirects has not accepted the event.

Every network failure is converted here into an :class:`AttemptOutcome` with an
:class:`ErrorClass`; nothing above this module sees aiohttp's exceptions, and ``send`` never
raises for a problem on the network or at the receiver.
"""

from __future__ import annotations

import errno
import ssl
import time
from collections.abc import Iterator, Mapping
from types import TracebackType

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.http_exceptions import LineTooLong
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

import tabhooks
from tabhooks.delivery.guard import (
    BlockedDestination,
    DestinationPolicy,
    guarded_session,
    parse_destination,
)
from tabhooks.delivery.retry import AttemptOutcome, ErrorClass

#: Time allowed to open the TCP connection and finish the TLS handshake.
CONNECT_TIMEOUT_S = 5.0
#: Time allowed for a whole attempt, connect to last byte kept (Standard Webhooks suggests
#: 15 to 30 s; Svix's hosted service waits 15 s).
TOTAL_TIMEOUT_S = 15.0
#: Response bytes kept per attempt: enough to show an error page, small enough to store per
#: attempt in bulk.
RESPONSE_BODY_MAX_BYTES = 16 * 1024
#: Concurrent connections to one destination host, so a slow receiver cannot take the
#: whole pool and one busy receiver is not flooded.
PER_HOST_CONNECTION_LIMIT = 16
#: Concurrent connections overall, kept well under the usual 1024 open-file limit.
CONNECTION_LIMIT = 256
#: Sent with every delivery so receivers can identify and allow-list us.
USER_AGENT = f"tabhooks/{tabhooks.__version__}"

#: Checked destination URLs remembered per sender.
CHECKED_URLS_MAX = 10_000

#: Longest error explanation kept per attempt; aiohttp quotes response bytes in some messages.
DETAIL_MAX_CHARS = 500

_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})


class Sender:
    """POSTs webhook bodies and reports what happened, never raising for network trouble.

    Use it as an async context manager, or call :meth:`start` and :meth:`close`.

    Args:
        policy: Which destinations may be reached; checked on the URL before sending, and on
            the URL and every address (IP literals included) at connect time.
        connect_timeout_s: See :data:`CONNECT_TIMEOUT_S`.
        total_timeout_s: See :data:`TOTAL_TIMEOUT_S`.
        max_response_bytes: See :data:`RESPONSE_BODY_MAX_BYTES`.
        per_host_limit: See :data:`PER_HOST_CONNECTION_LIMIT`.
        connection_limit: See :data:`CONNECTION_LIMIT`.
        user_agent: The ``User-Agent`` header.
        inner_resolver: The DNS resolver the guard wraps; aiohttp's default when omitted.
            Tests pass a fake to make any name resolve to any address.
    """

    def __init__(
        self,
        policy: DestinationPolicy,
        *,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        total_timeout_s: float = TOTAL_TIMEOUT_S,
        max_response_bytes: int = RESPONSE_BODY_MAX_BYTES,
        per_host_limit: int = PER_HOST_CONNECTION_LIMIT,
        connection_limit: int = CONNECTION_LIMIT,
        user_agent: str = USER_AGENT,
        inner_resolver: AbstractResolver | None = None,
    ) -> None:
        self.policy = policy
        self.connect_timeout_s = connect_timeout_s
        self.total_timeout_s = total_timeout_s
        self.max_response_bytes = max_response_bytes
        self.per_host_limit = per_host_limit
        self.connection_limit = connection_limit
        self.user_agent = user_agent
        self._inner_resolver = inner_resolver
        self._session: aiohttp.ClientSession | None = None
        # URLs already checked against the (fixed) policy, as parsed: a webhook's URL is
        # checked once, not on every attempt. Addresses are still checked at every connect.
        self._checked: dict[str, URL] = {}
        self._default_headers = CIMultiDict(
            {
                "Content-Type": "application/json",
                "User-Agent": user_agent,
                "Accept-Encoding": "identity",
            }
        )

    async def start(self) -> None:
        """Create the session; must run inside the event loop that will send."""
        if self._session is not None:
            return
        self._session = guarded_session(
            self.policy,
            timeout=aiohttp.ClientTimeout(
                total=self.total_timeout_s, sock_connect=self.connect_timeout_s
            ),
            limit=self.connection_limit,
            limit_per_host=self.per_host_limit,
            # Keep bodies as sent; decompressing would let a small gzip bomb grow unbounded.
            auto_decompress=False,
            inner_resolver=self._inner_resolver,
        )

    async def close(self) -> None:
        """Close pooled connections and the resolver; safe to call twice."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Sender:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def send(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        method: str = "POST",
    ) -> AttemptOutcome:
        """POST ``body`` to ``url`` once, without following redirects.

        Args:
            url: The destination; checked against the policy before any network access.
            body: The JSON document, exactly as signed.
            headers: Extra request headers (signatures, custom headers); they may override
                the defaults ``Content-Type: application/json`` and ``User-Agent``.
            method: The HTTP method; webhooks always POST, relay targets may choose.

        Returns:
            The outcome; a 3xx is reported as its status, since a webhook receiver that
            redirects has not accepted the event.

        Raises:
            RuntimeError: :meth:`start` has not been called.
        """
        if self._session is None:
            raise RuntimeError("Sender.start() must be called before send()")
        started = time.perf_counter()
        target = self._checked.get(url)
        if target is None:
            try:
                target = parse_destination(url, self.policy)
            except BlockedDestination as exc:
                return _failure(ErrorClass.BLOCKED, str(exc), started)
            if len(self._checked) >= CHECKED_URLS_MAX:
                self._checked.clear()
            self._checked[url] = target
        # Case-insensitive, so a caller's "content-type" replaces ours instead of doubling it.
        request_headers = self._default_headers.copy()
        if headers:
            request_headers.update(headers)
        try:
            async with self._session.request(
                method, target, data=body, headers=request_headers, allow_redirects=False
            ) as response:
                return await self._read_response(response, started)
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            error, detail = classify_error(exc)
            return _failure(error, detail, started)

    async def _read_response(
        self, response: aiohttp.ClientResponse, started: float
    ) -> AttemptOutcome:
        """Keep the start of the body; the verdict is the status, so read errors are notes."""
        cap = self.max_response_bytes
        content = response.content
        body = b""
        truncated = False
        detail = None
        try:
            # Usually the whole (small or empty) body is already buffered: one read.
            body = await content.read(cap)
            while len(body) < cap and body and not content.at_eof():
                chunk = await content.read(cap - len(body))
                if not chunk:
                    break
                body += chunk
            truncated = len(body) >= cap and not content.at_eof()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            error, text = classify_error(exc)
            detail = f"response body incomplete ({error}): {text}"
        return AttemptOutcome(
            status=response.status,
            duration_ms=_elapsed_ms(started),
            response_headers=_lowercase_headers(response.headers),
            response_body=body,
            response_truncated=truncated,
            retry_after=response.headers.get("Retry-After"),
            detail=detail,
        )


def classify_error(exc: BaseException) -> tuple[ErrorClass, str]:
    """Map an exception raised while sending to an :class:`ErrorClass` and a message.

    aiohttp wraps the interesting error (a :class:`BlockedDestination` from the resolver, a
    refused connect, an ``ssl.SSLError``) in its own classes, so the whole cause chain is
    inspected, most specific meaning first.
    """
    chain = list(_exception_chain(exc))
    for item in chain:
        if isinstance(item, BlockedDestination):
            return ErrorClass.BLOCKED, str(item)
    message = _describe(exc)
    if any(isinstance(item, TimeoutError) for item in chain):
        return ErrorClass.TIMEOUT, message
    if any(isinstance(item, aiohttp.ClientSSLError | ssl.SSLError) for item in chain):
        return ErrorClass.TLS, message
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return ErrorClass.DNS, message
    if any(isinstance(item, ConnectionRefusedError) for item in chain):
        return ErrorClass.CONNECT_REFUSED, message
    if any(_is_reset(item) for item in chain):
        return ErrorClass.RESET, message
    too_large = any(isinstance(item, LineTooLong) for item in chain)
    if too_large or "too many headers" in message.lower():
        return ErrorClass.TOO_LARGE, message
    if isinstance(exc, aiohttp.ClientResponseError | aiohttp.ClientPayloadError):
        return ErrorClass.PROTOCOL, message
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ClientOSError):
        return ErrorClass.CONNECT_ERROR, message
    if isinstance(exc, aiohttp.ServerConnectionError):
        return ErrorClass.RESET, message
    return ErrorClass.OTHER, message


def _is_reset(exc: BaseException) -> bool:
    if isinstance(exc, aiohttp.ServerDisconnectedError | ConnectionResetError | BrokenPipeError):
        return True
    # aiohttp re-raises some socket errors as ClientOSError carrying only the errno.
    return isinstance(exc, OSError) and exc.errno in _RESET_ERRNOS


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, aiohttp.ClientConnectorError):
            # aiohttp keeps the underlying OSError here, not always as __cause__.
            pending.append(current.os_error)
        if current.__cause__ is not None:
            pending.append(current.__cause__)
        elif current.__context__ is not None and not current.__suppress_context__:
            pending.append(current.__context__)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, TimeoutError) and not text:
        return "timed out waiting for the receiver"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _failure(error: ErrorClass, detail: str, started: float) -> AttemptOutcome:
    if len(detail) > DETAIL_MAX_CHARS:
        detail = detail[: DETAIL_MAX_CHARS - 1] + "…"
    return AttemptOutcome(error=error, duration_ms=_elapsed_ms(started), detail=detail)


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _lowercase_headers(headers: CIMultiDictProxy[str]) -> dict[str, str]:
    combined: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        combined[key] = f"{combined[key]}, {value}" if key in combined else value
    return combined
