"""Asking an app through its tunnel: is it ready? is it busy? The readiness check and
the activity probe its template names (:mod:`labgate.launching.probes`) ask; this module
gives them the app (:class:`AppOverTunnel`) and holds labgate's own, a plug-in like any
other: the ``http`` readiness check (the template's ``ready_path`` answers 2xx or 3xx),
the ``rfb`` readiness check (a VNC server greets with its RFB version), and the
``jupyter`` activity probe (a kernel running code, Jupyter's last activity).

Every question has a deadline (``app_probe_timeout_seconds``): an app that accepts the
connection and never answers (stopped with SIGSTOP, or deadlocked) counts as not ready,
or not busy, instead of holding up whoever asked. So does a probe that fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from datetime import datetime

from labgate.launching.probes import Activity, ActivityProbe, AppHttp, ReadinessCheck
from labgate.launching.template import AppTemplate
from labgate.launching.upstream import UpstreamError, UpstreamPool
from labgate.plugins import hookimpl
from labgate.transport.base import ByteReader, StreamOpenFailed, StreamWriter

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


class AppOverTunnel:
    """The app of a session as probes and checks ask it (:class:`AppHttp`): through its
    upstream pool, as the proxy would, with the template's auth header."""

    def __init__(
        self, pool: UpstreamPool, template: AppTemplate, base_url: str, token: str
    ) -> None:
        self._pool = pool
        self._template = template
        self._base_url = base_url
        self._headers = _headers(template, token)

    @property
    def template(self) -> AppTemplate:
        return self._template

    async def get(self, path: str) -> tuple[int, bytes]:
        return await _get(self._pool, _path(self._template, self._base_url, path), self._headers)

    async def open_stream(self) -> tuple[ByteReader, StreamWriter]:
        return await self._pool.opener()


_UNANSWERED = (StreamOpenFailed, UpstreamError, ConnectionError, OSError)


async def is_ready(check: ReadinessCheck, app: AppHttp, *, within: float) -> bool:
    """Whether ``check`` says the app is ready; not while nothing answers (within
    ``within`` seconds), nor when the check fails."""
    try:
        async with asyncio.timeout(within):
            return await check.ask(app)
    except TimeoutError:
        log.info("%s did not answer within %g s", app.template.title, within)
    except _UNANSWERED:
        pass
    except Exception:
        log.exception("the readiness check %r failed", check.name)
    return False


async def activity_of(probe: ActivityProbe, app: AppHttp, *, within: float) -> Activity:
    """What ``probe`` learns of the app's use; not busy and unknown when it does not
    answer within ``within`` seconds, or the probe fails."""
    try:
        async with asyncio.timeout(within):
            return await probe.ask(app)
    except TimeoutError:
        log.info("%s did not say whether it is busy within %g s", app.template.title, within)
    except (*_UNANSWERED, ValueError, AttributeError):
        pass
    except Exception:
        log.exception("the activity probe %r failed", probe.name)
    return Activity(busy=False)


# -- the built-ins: a plug-in like any other ---------------------------------------------


async def http_ready(app: AppHttp) -> bool:
    """The template's ``ready_path`` answers 2xx or 3xx."""
    status, _ = await app.get(app.template.ready_path)
    return 200 <= status < 400


#: A VNC server's first words: the RFB protocol version it speaks (RFC 6143, 7.1.1).
RFB_GREETING = re.compile(rb"RFB \d{3}\.\d{3}\n")


async def rfb_ready(app: AppHttp) -> bool:
    """The app greets a new connection with an RFB version (a VNC server that takes
    viewers). Nothing else is said: the connection closes before authentication."""
    reader, writer = await app.open_stream()
    try:
        greeting = b""
        while len(greeting) < 12:
            piece = await reader.read(12 - len(greeting))
            if not piece:
                return False
            greeting += piece
        return RFB_GREETING.fullmatch(greeting) is not None
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def jupyter_activity(app: AppHttp) -> Activity:
    """From Jupyter's REST API: a kernel busy, and the server's own last activity."""
    busy = False
    last: datetime | None = None
    status, body = await app.get("api/kernels")
    if status == 200:
        for kernel in json.loads(body):
            busy = busy or kernel.get("execution_state") == "busy"
    status, body = await app.get("api/status")
    if status == 200:
        stamp = json.loads(body).get("last_activity")
        if isinstance(stamp, str):
            last = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return Activity(busy, last)


@hookimpl
def register_readiness_checks() -> list[ReadinessCheck]:
    return [ReadinessCheck("http", http_ready), ReadinessCheck("rfb", rfb_ready)]


@hookimpl
def register_activity_probes() -> list[ActivityProbe]:
    return [ActivityProbe("jupyter", jupyter_activity)]
