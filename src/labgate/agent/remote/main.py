"""The agent's entry point: what ``python3 -c <loader>`` runs on the resource."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys

# Their methods declare themselves (@rpc) as they are imported.
from . import files, ports, processes, streams, system, transfers  # noqa: F401
from .connection import Agent, _streams
from .daemon import _connect_or_start, _hand_over
from .processes import PROCESSES
from .relay import _serve_relay
from .runtime import STATE, Options


async def _serve_stdio() -> None:
    STATE.clients = 1
    reader, writer, _ = await _streams(sys.stdin.buffer, sys.stdout.buffer)
    try:
        await Agent(reader, writer).run()
    finally:
        # Without a daemon nothing outlives this connection: hang up what it started.
        for process in PROCESSES.processes.values():
            if process.returncode is None:
                with contextlib.suppress(OSError):
                    os.killpg(process.pid, signal.SIGHUP)


def _pass_on_default_signals() -> None:
    """A server started with ``nohup`` or in the background of a script ignores SIGINT
    and SIGQUIT, and an ignored signal stays ignored across fork and exec: every program
    the daemon starts would ignore them, and Ctrl-C in a terminal would do nothing.
    Handled signals are reset by exec, so the programs get the defaults again."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGQUIT) == signal.SIG_IGN:
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def main() -> None:
    """Entry point: hand standard input and output to this user's daemon (starting it if
    needed), or with ``--no-daemon`` answer calls in this process until EOF, or with
    ``--relay`` be a batch job's relay."""
    _pass_on_default_signals()
    options = Options(sys.argv[1:])
    STATE.options = options
    if options.relay_endpoint_file is not None:
        target = (options.relay_to_port, options.relay_to_socket)
        asyncio.run(_serve_relay(options.relay_endpoint_file, target))
        return
    if not options.daemon:
        asyncio.run(_serve_stdio())
        return
    _hand_over(_connect_or_start(options))
