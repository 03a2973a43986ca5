"""uvicorn's HTTP protocol (httptools), writing through a ``BatchedTransport``.

uvicorn writes a response's status line and headers when the app sends
``http.response.start`` and the body when it sends ``http.response.body``: two writes,
and for a small answer two packets and two wake-ups of the client, where one would do.
Through :class:`labgate.batched_writes.BatchedTransport` both leave in one write when they
are sent in the same turn of the event loop, as a small answer's are (a proxied
JupyterLab request, an API call). A WebSocket upgraded from such a connection writes
through it too.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from labgate.batched_writes import BatchedTransport


class BatchedHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(BatchedTransport(transport, self.loop))
