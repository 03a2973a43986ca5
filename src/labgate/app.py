"""The ASGI application: routers, middleware and start-up, assembled from settings."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI

from labgate import __version__, housekeeping
from labgate.accounts import guest_expiry
from labgate.api import API_PREFIX, meta
from labgate.auth import passwords
from labgate.auth.providers import load_providers
from labgate.bootstrap import ensure_admin
from labgate.db import migrate
from labgate.db.engine import Database
from labgate.http.body_limit import BodyLimitMiddleware
from labgate.http.errors import install_error_handlers
from labgate.http.metrics import MetricsMiddleware
from labgate.http.security_headers import SecurityHeadersMiddleware
from labgate.http.socket_watch import SocketWatchMiddleware
from labgate.plugins.bundles import URL_PREFIX as PLUGIN_ASSETS
from labgate.plugins.manager import Plugins
from labgate.proxy.asgi import ProxyMiddleware
from labgate.resources import leftovers
from labgate.resources.catalog import ensure_local_resource
from labgate.resources.local_accounts import local_summary
from labgate.settings import Settings
from labgate.state import AppState
from labgate.web.apidocs import install_api_docs
from labgate.web.plugin_assets import PluginAssets
from labgate.web.spa import STATIC_DIR, install_spa

log = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL_SECONDS = 3600


def api_router(plugins: Plugins) -> APIRouter:
    """Every plug-in's routers below ``/api/v1``: labgate's own (``labgate.api.routers``)
    first, then the others in the order they were loaded."""
    router = APIRouter(prefix=API_PREFIX)
    for plugged in plugins.routers():
        router.include_router(plugged)
    return router


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    bootstrap: bool = True,
    static_dir: Path = STATIC_DIR,
    freeze_after_start: bool = False,
    plugins: Plugins | None = None,
) -> FastAPI:
    """Build the application. The database is migrated and (with ``bootstrap``) the first
    administrator created when the app starts, i.e. in its lifespan. A server process
    asks to ``freeze_after_start``: what starting made (modules, schemas, routes) is moved
    out of the cyclic garbage collector's sight, so that its full collections, which
    large answers set off, walk only what requests made."""
    db = database or Database(
        settings.effective_database_url, pool_size=settings.database_pool_size
    )
    passwords.configure(
        time_cost=settings.password_hash_time_cost, memory_kib=settings.password_hash_memory_kib
    )
    plugins = plugins or Plugins.load(settings)
    plugins.check()
    state = AppState(
        settings=settings,
        database=db,
        plugins=plugins,
        providers=load_providers(settings, plugins),
    )
    state.templates  # noqa: B018 -- the administrator's templates are checked now, not at first use
    state.bundles  # noqa: B018 -- and the plug-ins' front-end manifests

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if db.is_sqlite:
            settings.make_data_dir()
        await migrate.upgrade(db)
        await ensure_local_resource(db)
        if bootstrap:
            scheme = "https" if settings.serves_tls else "http"
            url = settings.public_url or f"{scheme}://{settings.host}:{settings.port}"
            local = await local_summary(db, settings, settings.admin_username)
            await ensure_admin(db, settings, url=url, notes=[local] if local else [])
        cleaner = asyncio.create_task(
            housekeeping.run_periodically(db, settings, HOUSEKEEPING_INTERVAL_SECONDS)
        )
        sweeper = asyncio.create_task(leftovers.run_periodically(state))
        guest_ends = asyncio.create_task(guest_expiry.run_periodically(state))
        reconciler = asyncio.create_task(state.reconciler.run_forever())
        socket_watch = asyncio.create_task(state.live_sockets.run_forever())
        revoker = asyncio.create_task(state.revocation.run_forever())
        rechecker = asyncio.create_task(state.identity_recheck.run_forever())
        presence = asyncio.create_task(state.presence.run_forever())
        state.delivery.start()
        announcer = asyncio.create_task(state.announcer.run_forever())
        state.fanout.start()
        if freeze_after_start:
            gc.collect()
            gc.freeze()
        log.info("labgate %s ready", __version__)
        try:
            yield
        finally:
            log.info("labgate shutting down")
            # The daemons on the resources keep everything running; only the
            # connections to them end here.
            sweeper.cancel()
            guest_ends.cancel()
            socket_watch.cancel()
            await state.live_sockets.close()
            await state.login_steps.close()  # sign-ins waiting for a second factor
            revoker.cancel()
            await state.revocation.close()
            rechecker.cancel()
            presence.cancel()
            await state.presence.close()
            announcer.cancel()
            await state.transfers.close()  # partial copies removed while connected
            reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reconciler
            await state.reconciler.close()
            await state.lifecycle.close()
            await state.fanout.close()
            await state.activity.close()
            await state.delivery.close()
            state.routes.close()
            await state.connections.close()
            cleaner.cancel()
            for task in (
                cleaner,
                sweeper,
                guest_ends,
                socket_watch,
                revoker,
                rechecker,
                presence,
                announcer,
            ):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await db.dispose()

    app = FastAPI(
        title="labgate",
        version=__version__,
        summary="A web platform for scientific data analysis on any computer reachable by SSH.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        # labgate's metrics are Prometheus' (/metrics); without this FastAPI asks
        # OpenTelemetry on every request whether a tracer or a meter is set up.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.labgate = state
    install_error_handlers(app)
    app.include_router(api_router(plugins))
    app.include_router(meta.probes)
    install_api_docs(app, f"{API_PREFIX}/openapi.json")
    app.mount(PLUGIN_ASSETS, PluginAssets(state.bundles.values()), name="plugins")
    install_spa(app, static_dir)
    # Outermost last: headers on everything, metrics around the limit's 413s too.
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        max_streamed_bytes=settings.max_upload_bytes,
    )
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    app.add_middleware(
        SecurityHeadersMiddleware,
        hsts=settings.secure_cookies,
        frame_sources=[state.origins.frame_source] if state.origins.enabled else [],
    )
    # Outermost: /s/... goes to the apps, past the API's limits and headers.
    app.add_middleware(ProxyMiddleware)
    # Around every WebSocket, the proxy's too: closed when its credential ends.
    app.add_middleware(SocketWatchMiddleware, sockets=state.live_sockets)
    return app
