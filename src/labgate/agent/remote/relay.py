"""The relay in a batch job.

An app in a batch job listens on a Unix socket in a private directory of the compute
node, or on its loopback, where the login node's sshd cannot reach it. The job starts
the agent with ``--relay`` beside it: it listens on every interface of the node and
relays each connection to the app, but only once the connection has begun with the
relay's preamble (``wire.relay_preamble``), which holds a secret only labgate and the job
know (from the environment, ``RELAY_SECRET_VARIABLE``). Anyone else on the cluster's
network is cut off before a byte reaches the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import signal
import socket
from typing import Tuple

from .tasks import _resolve
from .wire import RELAY_SECRET_VARIABLE, relay_preamble

# A connection that has not shown the secret within this long is closed.
RELAY_PREAMBLE_SECONDS = 10.0
RELAY_CHUNK = 256 * 1024


async def _relay_pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy ``reader`` to ``writer`` until the end of its input, then half-close."""
    try:
        while True:
            data = await reader.read(RELAY_CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.close()


async def _relay_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    target: "Tuple[int, str]",
    preamble: bytes,
) -> None:
    try:
        try:
            shown = await asyncio.wait_for(
                reader.readexactly(len(preamble)), RELAY_PREAMBLE_SECONDS
            )
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, OSError):
            return
        if not hmac.compare_digest(shown, preamble):
            return
        port, path = target
        try:
            if path:
                app_reader, app_writer = await asyncio.open_unix_connection(path)
            else:
                app_reader, app_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return  # the app does not listen (yet, or any more): like a refused connection
        try:
            await asyncio.gather(_relay_pipe(reader, app_writer), _relay_pipe(app_reader, writer))
        finally:
            app_writer.close()
    finally:
        writer.close()


async def _serve_relay(endpoint_file: str, target: "Tuple[int, str]") -> None:
    """Relay to the app at ``target``: a port on loopback, or a Unix socket's path."""
    secret = os.environ.pop(RELAY_SECRET_VARIABLE, "")
    if len(secret) < 32:
        raise SystemExit("labgate-agent: the relay has no secret (%s)" % RELAY_SECRET_VARIABLE)
    preamble = relay_preamble(secret)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _relay_connection(reader, writer, target, preamble)

    # SLURM ends a cancelled job with SIGTERM: the app's socket and its directory (made
    # for the job by mktemp -d) go with it. (Heard from before the endpoint is known.)
    loop = asyncio.get_event_loop()
    ended = loop.create_future()  # type: asyncio.Future[None]
    loop.add_signal_handler(signal.SIGTERM, _resolve, ended)
    # Every interface: the login node reaches the job by the node's name.
    server = await asyncio.start_server(serve, host="0.0.0.0", port=0)  # noqa: S104
    try:
        listening = server.sockets[0].getsockname()[1]
        temporary = endpoint_file + ".new"
        with open(temporary, "w") as out:
            out.write("%s %d\n" % (socket.gethostname(), listening))
        os.rename(temporary, endpoint_file)  # whole, or not there at all
        await ended
    finally:
        server.close()
        if target[1]:
            with contextlib.suppress(OSError):
                os.unlink(target[1])
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(target[1]))
