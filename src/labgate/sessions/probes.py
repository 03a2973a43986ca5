"""Asking an app through its tunnel: is it ready (does it answer HTTP)? is it busy (for
JupyterLab: a kernel running code)?

Every question has a deadline (``app_probe_timeout_seconds``): an app that accepts the
connection and never answers (stopped with SIGSTOP, or deadlocked) counts as not ready,
or not busy, instead of holding up whoever asked.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime

from labgate.launching.template import AppTemplate
from labgate.launching.upstream import UpstreamError, UpstreamPool
from labgate.transport.base import StreamOpenFailed

log = logging.getLogger(__name__)

# Largest answer read from a probe (the kernels list of a busy server is small).
_MAX_PROBE_BYTES = 1 << 20


def _path(template: AppTemplate, base_url: str, below: str) -> bytes:
    prefix = base_url if template.keeps_base_path else "/"
    return (prefix + below.lstrip("/")).encode()


def _headers(template: AppTemplate, token: str) -> list[tuple[bytes, bytes]]:
    headers = [(b"host", b"localhost"), (b"accept", b"application/json, text/html")]
    if template.auth_header is not None:
        name, value = template.auth_header
        headers.append((name.lower().encode(), value.replace("{token}", token).encode()))
    return headers


async def _get(
    pool: UpstreamPool, path: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[int, bytes]:
    connection = await pool.connection_new()
    try:
        response = await connection.request(b"GET", path, headers, None)
        body = bytearray()
        async for piece in response.body():
            if len(body) < _MAX_PROBE_BYTES:
                body += piece
        return response.status, bytes(body)
    finally:
        connection.close()


async def ready_status(
    pool: UpstreamPool, template: AppTemplate, base_url: str, token: str, *, within: float
) -> int | None:
    """The HTTP status of the app's readiness path, or None while nothing answers (within
    ``within`` seconds)."""
    try:
        async with asyncio.timeout(within):
            status, _ = await _get(
                pool, _path(template, base_url, template.ready_path), _headers(template, token)
            )
    except TimeoutError:
        log.info("the app at %s did not answer within %g s", base_url, within)
        return None
    except (StreamOpenFailed, UpstreamError, ConnectionError, OSError):
        return None
    return status


def is_ready(status: int | None) -> bool:
    return status is not None and 200 <= status < 400


async def jupyter_activity(
    pool: UpstreamPool, template: AppTemplate, base_url: str, token: str, *, within: float
) -> tuple[bool, datetime | None]:
    """(a kernel is busy, the server's own last activity) from Jupyter's REST API; not
    busy and unknown when it does not answer both questions within ``within`` seconds."""
    headers = _headers(template, token)
    busy = False
    last: datetime | None = None
    try:
        async with asyncio.timeout(within):
            status, body = await _get(pool, _path(template, base_url, "api/kernels"), headers)
            if status == 200:
                for kernel in json.loads(body):
                    busy = busy or kernel.get("execution_state") == "busy"
            status, body = await _get(pool, _path(template, base_url, "api/status"), headers)
            if status == 200:
                stamp = json.loads(body).get("last_activity")
                if isinstance(stamp, str):
                    last = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except TimeoutError:
        log.info("the app at %s did not say whether it is busy within %g s", base_url, within)
        return False, None
    except (StreamOpenFailed, UpstreamError, ConnectionError, OSError, ValueError, AttributeError):
        return False, None
    return busy, last
