"""Ports and sockets for apps: ``net.free_port``, ``net.listening``, ``net.socket_path``."""

from __future__ import annotations

import base64
import os
import socket
import sys
from typing import Any, Dict, List

from .methods import rpc
from .runtime import _SOCKET_PATH_MAX, private_dir
from .wire import RemoteError


@rpc("net.free_port")
async def rpc_net_free_port(params: Dict[str, Any]) -> Dict[str, Any]:
    """A TCP port free on 127.0.0.1 at this moment (the app that takes it may race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return {"port": probe.getsockname()[1]}


@rpc("net.listening")
async def rpc_net_listening(params: Dict[str, Any]) -> Dict[str, Any]:
    """The addresses on which something listens at TCP ``port`` in this process's
    network (from /proc; none where that cannot be read): for saying why an app that
    runs cannot be reached."""
    port = int(params.get("port", 0))
    found: List[str] = []
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            with open("/proc/self/net/" + name) as handle:
                lines = handle.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != "0A":  # 0A: LISTEN
                continue
            address, _, hex_port = fields[1].partition(":")
            if int(hex_port, 16) != port:
                continue
            raw = bytes.fromhex(address)
            if sys.byteorder == "little":  # each 32-bit word is shown in host order
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.append(socket.inet_ntop(family, raw))
    return {"addresses": found}


@rpc("net.socket_path")
async def rpc_net_socket_path(params: Dict[str, Any]) -> Dict[str, Any]:
    """A fresh path for a Unix socket in the daemon's private directory."""
    name = str(params.get("name", "app"))
    if (
        not name
        or len(name) > 40
        or not all(c.isascii() and (c.isalnum() or c in "-_.") for c in name)
    ):
        raise RemoteError("bad_request", "name must be up to 40 letters, digits, - _ or .")
    directory = os.path.join(private_dir(), "sockets")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    path = os.path.join(
        directory, "%s-%s.sock" % (name, base64.b16encode(os.urandom(4)).decode().lower())
    )
    if len(os.fsencode(path)) > _SOCKET_PATH_MAX:
        raise RemoteError("name_too_long", "The runtime directory's path is too long for sockets.")
    return {"path": path}
