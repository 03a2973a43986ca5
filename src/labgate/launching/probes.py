"""Asking a started app about itself: is it ready to be opened (a readiness check), is it
in use (an activity probe)?

Both are plug-ins (``register_readiness_checks``, ``register_activity_probes``) that a
template names (``AppTemplate.readiness``, ``AppTemplate.activity``). Each is a name and
one async call given the app as :class:`AppHttp`: requests to it through its tunnel,
authenticated as the proxy's are. The caller gives every call its deadline
(``app_probe_timeout_seconds``) and treats a failure as "not ready" or "not busy", so a
probe needs neither.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from labgate.launching.template import AppTemplate
from labgate.transport.base import ByteReader, StreamWriter


class AppHttp(Protocol):
    """A started app, as a probe or a check asks it."""

    @property
    def template(self) -> AppTemplate:
        """The template the app was started from."""

    async def get(self, path: str) -> tuple[int, bytes]:
        """GET ``path`` (below the app's base URL, as the app sees it): the status and
        the body (its first MiB). The template's auth header is added."""

    async def open_stream(self) -> tuple[ByteReader, StreamWriter]:
        """A new connection to the app, as the proxy opens one (through a batch job's
        relay too), to speak the app's own protocol; the caller closes it."""


@dataclass(frozen=True)
class Activity:
    """What an app says of its use: ``busy`` now (a kernel running code), and the time
    of its own last activity (None: it does not say)."""

    busy: bool
    last_activity: datetime | None = None


@dataclass(frozen=True)
class ActivityProbe:
    """How labgate asks an app whether it is in use, for idle clean-up, beside the
    requests through labgate (which always count)."""

    name: str
    ask: Callable[[AppHttp], Awaitable[Activity]]


@dataclass(frozen=True)
class ReadinessCheck:
    """How labgate knows a started app can be opened: ``ask`` answers True once it is."""

    name: str
    ask: Callable[[AppHttp], Awaitable[bool]]
