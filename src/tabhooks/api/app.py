"""The application factory: the only place routers, middleware and state are wired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tabhooks import __version__
from tabhooks.api import auth, extensions, server_info, sites, users, webhooks
from tabhooks.api.errors import BodyLimitMiddleware, install_error_handlers
from tabhooks.config import Settings
from tabhooks.delivery.guard import DestinationPolicy
from tabhooks.delivery.sender import Sender
from tabhooks.services.bootstrap import BootstrapReport, bootstrap
from tabhooks.store import Store, migrate


def create_app(settings: Settings, store: Store) -> FastAPI:
    """Build the ASGI app over ``store``; start-up migrates and bootstraps it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await migrate(store)
        app.state.bootstrap = await bootstrap(store, settings)
        async with Sender(policy) as sender:
            app.state.sender = sender
            try:
                yield
            finally:
                await store.dispose()

    app = FastAPI(
        title="tabhooks",
        version=__version__,
        description="Tableau webhooks, self-hosted: Tableau's REST API plus /tabhooks/v1.",
        lifespan=lifespan,
        docs_url="/tabhooks/docs",
        redoc_url=None,
        openapi_url="/tabhooks/openapi.json",
    )
    policy = DestinationPolicy.from_settings(settings)
    app.state.settings = settings
    app.state.destination_policy = policy
    app.state.store = store
    app.state.bootstrap = None
    install_error_handlers(app)
    for module in (server_info, auth, sites, users, webhooks, extensions):
        app.include_router(module.router)
    app.add_middleware(
        BodyLimitMiddleware,
        max_request_bytes=settings.max_request_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    return app


__all__ = ["BootstrapReport", "create_app"]
