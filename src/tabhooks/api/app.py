"""The application factory: the only place routers, middleware, state and roles are wired.

Roles follow the settings: the REST API unless ``roles`` is ``relay`` (then only the relay's
inbound route); the delivery dispatcher when ``dispatcher_enabled`` (``tabhooks serve``
default; ``tabhooks worker`` runs it alone).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager

from fastapi import FastAPI

from tabhooks import __version__, hosts
from tabhooks.api import (
    auth,
    content,
    extensions,
    favorites,
    groups,
    jobs,
    labels,
    operations,
    permissions,
    projects,
    relays,
    server_info,
    sites,
    tags,
    uploads,
    users,
    views,
    webhooks,
)
from tabhooks.api import inbox as inbox_api
from tabhooks.api import schedules as schedules_api
from tabhooks.api import tasks as tasks_api
from tabhooks.api.errors import install_error_handlers
from tabhooks.api.guard import RequestGuard
from tabhooks.config import Settings
from tabhooks.delivery.guard import DestinationPolicy
from tabhooks.delivery.metrics import DeliveryMetrics
from tabhooks.delivery.runtime import delivery_runtime, sender_for
from tabhooks.inbox.capture import CaptureEndpoint
from tabhooks.inbox.hub import InboxHub
from tabhooks.inbox.runtime import inbox_runtime
from tabhooks.inbox.watchers import Watchers
from tabhooks.jobs.runtime import job_runtime
from tabhooks.relay.lookup import Enricher
from tabhooks.relay.render_pool import RenderLimits, RenderPool
from tabhooks.services.auth import PrincipalCache
from tabhooks.services.bootstrap import BootstrapReport, bootstrap
from tabhooks.services.revocation import revocation_runtime
from tabhooks.services.throttle import RouteLimiter, SigninLimits, SigninThrottle
from tabhooks.store import Store, migrate
from tabhooks.store.keys import install_secret_box
from tabhooks.web import install as install_web

#: Allocations of tracked objects between two young-generation collections (CPython: 700).
GC_GEN0_THRESHOLD = 10_000


@contextmanager
def _young_gc_threshold(threshold: int) -> Iterator[None]:
    """Collect the young generation less often while serving; restored at shutdown.

    A List Webhooks of 1,000 holds about 2,000 tracked objects (its rows) until the response
    is written, so at CPython's default three young collections ran inside every list, each
    walking those live rows: 4 to 7 % of the list for nothing, as they are all freed right after.
    Cycles are still collected, only in larger batches.
    """
    saved = gc.get_threshold()
    gc.set_threshold(threshold, *saved[1:])
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def create_app(settings: Settings, store: Store) -> FastAPI:
    """Build the ASGI app over ``store``; start-up migrates, bootstraps and starts delivery."""
    policy = DestinationPolicy.from_settings(settings)
    metrics = DeliveryMetrics()
    hub = InboxHub()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_secret_box(settings)  # stored secrets are sealed with these keys
        await migrate(store)
        app.state.bootstrap = await bootstrap(store, settings)
        async with AsyncExitStack() as stack:
            stack.enter_context(_young_gc_threshold(GC_GEN0_THRESHOLD))
            stack.push_async_callback(store.dispose)
            sender = await stack.enter_async_context(sender_for(settings, policy))
            app.state.sender = sender
            app.state.enricher = await stack.enter_async_context(
                Enricher(policy, budget_s=settings.relay_enrich_timeout_s)
            )
            # Relay templates render in worker processes, off this loop (see render_pool).
            renderer = RenderPool(RenderLimits.from_settings(settings))
            app.state.renderer = await stack.enter_async_context(renderer)
            await stack.enter_async_context(inbox_runtime(store, hub))
            await stack.enter_async_context(revocation_runtime(store, app.state.principals))
            if settings.dispatcher_enabled:
                await stack.enter_async_context(delivery_runtime(store, sender, settings, metrics))
                await stack.enter_async_context(job_runtime(store, settings))
            yield

    app = FastAPI(
        title="tabhooks",
        version=__version__,
        description="Tableau webhooks, self-hosted: Tableau's REST API plus /tabhooks/v1.",
        lifespan=lifespan,
        docs_url=None,  # served by tabhooks.web.apidocs, without a CDN
        redoc_url=None,
        openapi_url="/tabhooks/openapi.json",
    )
    app.state.settings = settings
    app.state.store = store
    app.state.destination_policy = policy
    app.state.metrics = metrics
    app.state.principals = PrincipalCache(settings.auth_cache_s)
    app.state.bootstrap = None
    app.state.enricher = None  # set by the lifespan; relay enrichment notes its absence
    app.state.renderer = None  # set by the lifespan
    app.state.relay_limiter = RouteLimiter.from_settings(settings)
    app.state.signin_throttle = SigninThrottle(SigninLimits.from_settings(settings))
    app.state.inbox_hub = hub
    app.state.inbox_watchers = Watchers.from_settings(settings)  # live views of bins, bounded
    install_error_handlers(app)
    if settings.roles != "relay":
        # Webhooks, the routes clients call hottest, go first (before even FastAPI's docs
        # routes) and straight into the app's own table: Starlette tries routes in order,
        # and an included router costs a second match per request (once to select it, once
        # to dispatch), 13 µs of a 170 µs Get Webhook. Their router adds no dependencies or
        # tags (its prefix is in each route's path already), and no two routes' paths
        # overlap (tests/unit/api/test_app.py), so no answer changes.
        app.router.routes[0:0] = webhooks.router.routes
    app.include_router(relays.inbound_router)
    app.include_router(operations.metrics_router)
    if settings.roles == "relay":
        app.add_api_route("/tabhooks/v1/health", extensions.health, methods=["GET"])
        # `tabhooks relay serve`: the only public surface is /relay/{route-id} (see docs/relay.md).
        _guard(app, settings, security_headers=False)  # no pages
        return app
    for module in (server_info, auth, sites, users, projects, views, uploads, jobs):
        app.include_router(module.router)
    for router in content.routers:
        app.include_router(router)
    for module in (extensions, labels, operations):
        app.include_router(module.router)
    for module in (tags, favorites):  # the follow-up API (issue 18)
        app.include_router(module.router)
    app.include_router(tags.session_router)
    for module in (groups, permissions):  # groups and permissions (issue 18)
        app.include_router(module.router)
    for router in (schedules_api.router, schedules_api.site_router, tasks_api.router):
        app.include_router(router)
    app.include_router(inbox_api.router)
    app.include_router(relays.router)
    # Any method, any path below the bin: a pure ASGI endpoint (see tabhooks.inbox.capture).
    app.add_route(
        "/inbox/{bin_id}{rest:path}",
        CaptureEndpoint(store, settings, hub),  # type: ignore[arg-type]
        include_in_schema=False,
    )
    install_web(app)
    _guard(app, settings, security_headers=True)
    return app


def _guard(app: FastAPI, settings: Settings, *, security_headers: bool) -> None:
    """Add the app's one middleware of its own: :class:`~tabhooks.api.guard.RequestGuard`.

    It refuses (400) a ``Host`` that is not ours (links are built from it; see
    tabhooks.hosts) before anything reads the request, caps bodies, refuses hostile input,
    answers what escapes the routes and adds the security headers to HTML pages — in one
    pass, where five middlewares each added a layer to every request (Get Webhook 7.4 →
    2.4 µs of middleware; docs/performance.md, "REST API per-request layers"). Keep it the
    only one: each layer costs every request, and ``BaseHTTPMiddleware`` a task per request.
    """
    app.add_middleware(
        RequestGuard,
        allowed_hosts=hosts.allowed_hosts(settings),
        max_request_bytes=settings.max_request_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        security_headers=security_headers,
    )


__all__ = ["BootstrapReport", "create_app"]
