"""Running the application under uvicorn, with graceful shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import signal
from types import FrameType

import uvicorn

from labgate.app import create_app
from labgate.http.protocol import BatchedHttpToolsProtocol
from labgate.logs import configure_logging
from labgate.plugins.manager import Plugins
from labgate.settings import Settings

# Open requests and WebSockets get this long to finish after SIGTERM.
GRACEFUL_SHUTDOWN_SECONDS = 15


def serve(settings: Settings, plugins: Plugins | None = None) -> None:
    """Serve until stopped; ``plugins``: the loaded plug-ins, if not those installed (a
    benchmark's server adds one)."""
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings, freeze_after_start=True, plugins=plugins)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        http=BatchedHttpToolsProtocol,  # a response's head and body in one write
        proxy_headers=False,  # labgate reads X-Forwarded-* itself, from trusted proxies only
        server_header=False,
        # No permessage-deflate: terminals send a frame per keystroke and apps (JupyterLab)
        # decline it anyway; compressing tiny frames only adds latency and CPU.
        ws_per_message_deflate=False,
        ws_max_size=settings.proxy_websocket_max_message_bytes,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        lifespan="on",
        ssl_certfile=settings.tls_certfile,
        ssl_keyfile=settings.tls_keyfile,
    )
    # uvicorn re-raises the stop signal once it has shut down gracefully; with this
    # handler in place (uvicorn restores it before re-raising), a requested stop exits 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.Server(config).run()


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)
