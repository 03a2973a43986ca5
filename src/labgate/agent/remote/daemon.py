"""The per-user daemon.

Work must outlive the connection that started it. The first agent on a host forks a
daemon that listens on a Unix socket in a directory only its user can open. Every
agent (the first, a reconnect, a restarted server, a second server) passes its
standard input and output to the daemon over that socket (SCM_RIGHTS) and waits: the
daemon reads and writes the connection's pipes itself, so no byte passes through a
second Python process. The daemon serves a connection until its input ends (the
server or the SSH connection went), its output breaks, or its agent ends; then it
closes that connection's descriptors, which ends its agent. It leaves when it has had
no client and no running process for its idle time.

The daemon's socket name carries ``AGENT_VERSION``: a newer agent starts a newer daemon
beside an older one instead of talking to it. The old daemon gets no new connections,
lets its processes run to their end (only a server of its version can still reach them)
and leaves once none runs and it has been idle for its idle time.
"""

from __future__ import annotations

import array
import asyncio
import fcntl
import os
import socket
import sys
import time
from typing import BinaryIO, List, Set, Tuple

from .connection import Agent, _streams
from .processes import PROCESSES
from .runtime import STATE, Options, socket_path
from .tasks import _resolve
from .wire import ProtocolError

# An agent hands its connection to the daemon: these bytes, with its standard input and
# output attached (SCM_RIGHTS), on a connection to the daemon's socket that stays open
# while the daemon serves them.
HAND_OVER = b"LGFD"
_FD_BYTES = array.array("i").itemsize


async def _serve_daemon(path: str, idle_seconds: float) -> None:
    STATE.mode = "daemon"
    STATE.started_at = time.time()
    loop = asyncio.get_event_loop()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(64)
    listener.setblocking(False)
    clients: Set[asyncio.Future[None]] = set()

    async def accept() -> None:
        while True:
            control, _ = await loop.sock_accept(listener)
            client = asyncio.ensure_future(_serve_client(control))
            clients.add(client)
            client.add_done_callback(clients.discard)

    acceptor = asyncio.ensure_future(accept())
    try:
        while (
            STATE.clients
            or PROCESSES.running()
            or time.monotonic() - STATE.last_active < idle_seconds
        ):
            await asyncio.sleep(min(1.0, idle_seconds))
    finally:
        acceptor.cancel()
        listener.close()
        if os.path.exists(path):
            os.unlink(path)


async def _serve_client(control: socket.socket) -> None:
    """Serve one connection on the standard input and output its agent handed over, until
    it ends: end of input (the server or the SSH connection went), a broken output, or the
    agent's end (the control socket closes). Only this connection is cleaned up."""
    loop = asyncio.get_event_loop()
    STATE.clients += 1
    try:
        try:
            incoming, outgoing = await _handed_over(control)
        except (OSError, ProtocolError):
            return  # a probe of the socket, or not an agent of this version
        reader, writer, read_transport = await _streams(incoming, outgoing)
        session = asyncio.ensure_future(Agent(reader, writer).run())
        agent_gone: asyncio.Future[None] = loop.create_future()
        loop.add_reader(control.fileno(), _resolve, agent_gone)
        try:
            await asyncio.wait([session, agent_gone], return_when=asyncio.FIRST_COMPLETED)
        finally:
            loop.remove_reader(control.fileno())
            session.cancel()
            await asyncio.wait([session])
            if not session.cancelled():
                session.exception()  # a connection that broke is no news
            read_transport.close()
            writer.close()
    finally:
        STATE.clients -= 1
        STATE.last_active = time.monotonic()
        control.close()


async def _handed_over(control: socket.socket) -> Tuple[BinaryIO, BinaryIO]:
    """The standard input and output an agent sends on ``control``."""
    loop = asyncio.get_event_loop()
    while True:
        readable: asyncio.Future[None] = loop.create_future()
        loop.add_reader(control.fileno(), _resolve, readable)
        try:
            await asyncio.wait_for(readable, HAND_OVER_SECONDS)
        finally:
            loop.remove_reader(control.fileno())
        try:
            data, ancillary, _, _ = control.recvmsg(
                len(HAND_OVER), socket.CMSG_SPACE(2 * _FD_BYTES)
            )
            break
        except BlockingIOError:
            continue
    fds: List[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.extend(array.array("i", payload[: len(payload) - len(payload) % _FD_BYTES]))
    if data != HAND_OVER or len(fds) != 2:
        for fd in fds:
            os.close(fd)
        raise ProtocolError("an agent hands over its standard input and output")
    return os.fdopen(fds[0], "rb", buffering=0), os.fdopen(fds[1], "wb", buffering=0)


HAND_OVER_SECONDS = 10.0


def _start_daemon(path: str, idle_seconds: float, lock_fd: int) -> None:
    """Fork the daemon: its own session, no ties to this connection's stdio, and not
    holding the start-up lock (flock belongs to every copy of the descriptor)."""
    if os.fork() != 0:
        return
    try:
        os.close(lock_fd)
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        asyncio.run(_serve_daemon(path, idle_seconds))
    finally:
        os._exit(0)


def _connect_or_start(options: Options) -> str:
    """The daemon's socket path, with a daemon listening on it."""
    path = socket_path(options)
    # Agents starting at the same moment take turns here, so only one starts a daemon.
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _listening(path):
            if os.path.exists(path):
                os.unlink(path)  # left by a daemon that died
            _start_daemon(path, options.idle_seconds, lock.fileno())
            deadline = time.monotonic() + 10
            while not _listening(path):
                if time.monotonic() > deadline:
                    raise SystemExit("labgate-agent: the daemon did not start")
                time.sleep(0.02)
    return path


def _listening(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def _hand_over(path: str) -> None:
    """Give this connection's standard input and output to the daemon, so that its bytes
    go between sshd and the daemon without passing through this process, then wait while
    the daemon serves them. This process must live as long as the connection: sshd stops
    passing input to a session whose program has exited, which ends the connection."""
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    control.connect(path)
    stdio = array.array("i", [sys.stdin.fileno(), sys.stdout.fileno()])
    control.sendmsg([HAND_OVER], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, stdio.tobytes())])
    # No copy here may keep the connection open once the daemon closes its own.
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    try:
        while control.recv(4096):  # closed by the daemon when the connection ends
            pass
    except OSError:
        pass
