"""Where the daemon lives and what the process serving calls knows about itself: the
agent's options, its private runtime directory, the daemon's socket path, its state."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from typing import Optional

from .wire import AGENT_VERSION, RemoteError

# The longest path given to a Unix socket (sun_path holds 108 bytes, NUL included).
_SOCKET_PATH_MAX = 100


class Options:
    def __init__(self, argv: "list[str]") -> None:
        self.runtime_dir = None  # type: Optional[str]
        self.idle_seconds = 3600.0
        self.daemon = True
        # --relay ENDPOINT_FILE --to-port PORT | --to-socket PATH: a batch job's relay.
        self.relay_endpoint_file = None  # type: Optional[str]
        self.relay_to_port = 0
        self.relay_to_socket = ""
        words = list(argv)
        while words:
            word = words.pop(0)
            if word == "--runtime-dir" and words:
                self.runtime_dir = words.pop(0)
            elif word == "--relay" and words:
                self.relay_endpoint_file = words.pop(0)
            elif word == "--to-port" and words:
                self.relay_to_port = int(words.pop(0))
            elif word == "--to-socket" and words:
                self.relay_to_socket = words.pop(0)
            elif word == "--idle-seconds" and words:
                self.idle_seconds = float(words.pop(0))
            elif word == "--no-daemon":
                self.daemon = False


def runtime_dir(options: Options) -> str:
    """A directory only this user can open: created 0700, and refused if anyone else
    owns it or can enter it (another user could otherwise plant a socket there)."""
    base = options.runtime_dir
    if base is not None:
        # One setting for every account on a machine: "{uid}" makes it each one's own.
        base = base.replace("{uid}", "%d" % os.getuid())
    if base is None:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        # /tmp is safe here: the checks below refuse a directory anyone else controls.
        base = os.path.join(xdg, "labgate") if xdg else "/tmp/labgate-%d" % os.getuid()  # noqa: S108
    os.makedirs(base, mode=0o700, exist_ok=True)
    info = os.lstat(base)
    if info.st_uid != os.getuid() or (info.st_mode & 0o077) or not os.path.isdir(base):
        raise SystemExit("labgate-agent: %s is not a private directory of this user" % base)
    return base


def machine_identity() -> str:
    """What tells this machine apart for a daemon: its host name, and its network
    namespace when it can be read. Containers on one kernel may share /tmp and a host
    name, yet an app listening on one's loopback cannot be reached from the other's
    network, where labgate's SSH connection arrives; without a readable namespace, the
    machine id tells containers apart."""
    name = socket.gethostname()[:40]
    try:
        return "%s-n%x" % (name, os.stat("/proc/self/ns/net").st_ino)
    except OSError:
        pass
    try:
        with open("/etc/machine-id") as handle:
            machine = handle.read(12).strip()
    except OSError:
        return name
    return "%s-m%s" % (name, machine) if machine.isalnum() else name


def socket_path(options: Options) -> str:
    """The daemon's socket: one per machine (home directories and /tmp are often shared
    between hosts) and per agent version (a newer server starts a newer daemon beside
    the old one). A name too long for a socket path is replaced by a digest of it."""
    directory = runtime_dir(options)
    identity = machine_identity()
    path = os.path.join(directory, "daemon-v%d-%s.sock" % (AGENT_VERSION, identity))
    if len(os.fsencode(path)) > _SOCKET_PATH_MAX:
        digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
        path = os.path.join(directory, "daemon-v%d-%s.sock" % (AGENT_VERSION, digest))
    return path


class DaemonState:
    """What the process serving calls knows about itself (a daemon, or a direct agent)."""

    def __init__(self) -> None:
        self.started_at = time.time()
        self.mode = "direct"
        self.clients = 0
        self.last_active = time.monotonic()
        self.options: Optional[Options] = None


STATE = DaemonState()


def private_dir() -> str:
    """The daemon's private directory (sockets for apps, the terminal's start-up file)."""
    try:
        return runtime_dir(STATE.options or Options([]))
    except SystemExit as exc:
        raise RemoteError("runtime_dir", str(exc)) from None
