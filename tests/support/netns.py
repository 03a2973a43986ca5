"""Test networks of several hosts on one machine, built from Linux network namespaces.

``jump_network()`` builds the smallest network with a jump host: two namespaces, a *jump*
host the root namespace (where the tests run) can reach, and a *target* the jump host
can reach but the root namespace cannot::

    root namespace  --veth 10.201.X.0/24--  <prefix>-jump  --veth 10.201.Y.0/24--  <prefix>-target
      10.201.X.1                   10.201.X.2     10.201.Y.1                  10.201.Y.2

The jump namespace does not forward packets (``net.ipv4.ip_forward=0``) and the root
namespace has no route to 10.201.Y.0/24, so the only way to the target is to log in to the
jump host and open a TCP connection from there (what an SSH jump host does).

The test network rule (``/work/shared/DESIGN.md``): before any namespace, link or address is
made, ``ensure_guard_route()`` adds ``unreachable 10.201.0.0/16`` to the root namespace
(when it is not there yet), so that a packet for a test address can never leave the
machine: the more specific link routes of the test network win over it, every other
address in the range is unreachable. Every address used here lies in that range. The guard
route is **left in place** at the end, also when this module added it: another test run
may be using the range at the same moment, and it costs nothing.

Names carry the PID of the test process (``lgt-<pid>-<n>-jump``, links ``lg<pid hex>-<n>..``)
so that parallel runs cannot collide; a run that starts removes what earlier runs of
processes that no longer exist left behind (``remove_leftovers()``). At exit every process
still inside the two namespaces is ended by PID (everything in them was started by the
test), then the links and the namespaces are removed by name, also when the test failed.

This needs root and ``ip`` from the Debian package ``iproute2`` (``ip netns``;
``scripts/install-test-deps.sh`` installs it). Without them ``NetnsNotAvailable`` says
why, as ``SshdNotAvailable`` does for sshd.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import itertools
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.eventually import within

__all__ = [
    "GUARD_RANGE",
    "JumpNetwork",
    "NetnsNotAvailable",
    "connect_from",
    "ensure_guard_route",
    "free_port_in",
    "jump_network",
    "namespace_pids",
    "netns_exec",
    "remove_leftovers",
]

GUARD_RANGE = "10.201.0.0/16"
"""Every test address lies here; the root namespace routes the whole range nowhere."""

NAME_PREFIX = "lgt"
_NAMESPACE_NAME = re.compile(rf"^{NAME_PREFIX}-(?P<pid>\d+)-(?P<seq>\d+)-(?:jump|target)$")
_LINK_NAME = re.compile(r"^lg(?P<pid>[0-9a-f]+)-(?P<seq>\d+)(?:rj|jr|jt|tj)$")
# Parallel runs choose their subnets one after the other.
_LOCK_FILE = Path("/run/lock/labgate-test-netns.lock")
_COMMAND_TIMEOUT = 30.0
_STOP_GRACE = 5.0

_sequence = itertools.count()
log = logging.getLogger("labgate.tests.netns")


class NetnsNotAvailable(RuntimeError):
    """The test network could not be built (not root, no ``ip netns``, ...)."""


@dataclass(frozen=True)
class JumpNetwork:
    """A jump host and a target only the jump host can reach; see the module docstring."""

    jump: str
    """Name of the jump host's namespace, for ``ip netns exec``."""
    target: str
    """Name of the target's namespace."""
    root_address: str
    """The root namespace's end of the root <-> jump link (10.201.X.1)."""
    jump_address: str
    """The jump host's address on the root side (10.201.X.2): reachable from the tests."""
    jump_inner_address: str
    """The jump host's address on the target side (10.201.Y.1)."""
    target_address: str
    """The target's address (10.201.Y.2): reachable from the jump namespace only."""
    root_link: str
    """The root namespace's end of the root <-> jump veth pair."""
    jump_outer_link: str
    """The jump namespace's end of the root <-> jump pair."""
    jump_inner_link: str
    """The jump namespace's end of the jump <-> target pair."""
    target_link: str
    """The target namespace's end of the jump <-> target pair."""


# --- running ip ---------------------------------------------------------------------------


def _ip_binary() -> str:
    found = shutil.which("ip", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if found is None:
        raise NetnsNotAvailable(
            "ip is missing: run scripts/install-test-deps.sh (installs iproute2)"
        )
    return found


def _run(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        argv, capture_output=True, text=True, check=False, timeout=_COMMAND_TIMEOUT
    )
    if check and result.returncode != 0:
        raise NetnsNotAvailable(
            f"{' '.join(argv)} failed (exit {result.returncode}): {result.stderr.strip()}"
        )
    return result


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run([_ip_binary(), *args], check=check)


def netns_exec(namespace: str) -> list[str]:
    """The argv prefix that runs a command inside ``namespace``.

    ``ip netns exec`` replaces itself with the command (no fork), so the PID of the
    started process is the command's own.
    """
    return [_ip_binary(), "netns", "exec", namespace]


def _require_netns() -> None:
    if os.geteuid() != 0:
        raise NetnsNotAvailable("the test network needs root (ip netns, veth links, routes)")
    _ip_binary()
    listing = _ip("netns", "list", check=False)
    if listing.returncode != 0:
        raise NetnsNotAvailable(f"ip netns does not work here: {listing.stderr.strip()}")


def ensure_guard_route() -> bool:
    """Route ``GUARD_RANGE`` nowhere in the root namespace; True if this call added it.

    Idempotent. The route is never removed by this module (see the module docstring).
    """
    _require_netns()
    shown = _ip("-4", "route", "show", "exact", GUARD_RANGE).stdout
    if re.search(rf"^unreachable {re.escape(GUARD_RANGE)}\b", shown, re.MULTILINE):
        return False
    added = _ip("route", "add", "unreachable", GUARD_RANGE, check=False)
    if added.returncode != 0 and "File exists" not in added.stderr:
        raise NetnsNotAvailable(f"cannot add the guard route: {added.stderr.strip()}")
    shown = _ip("-4", "route", "show", "exact", GUARD_RANGE).stdout
    if not shown.startswith("unreachable"):
        raise NetnsNotAvailable(
            f"{GUARD_RANGE} is routed somewhere in the root namespace ({shown.strip()}); "
            "the tests will not put test addresses on a real network"
        )
    if added.returncode == 0:
        log.info("added the guard route: unreachable %s", GUARD_RANGE)
    return added.returncode == 0


# --- processes inside a namespace ---------------------------------------------------------


def namespace_pids(namespace: str) -> list[int]:
    """PIDs of the processes in ``namespace`` (none when it does not exist)."""
    result = _ip("netns", "pids", namespace, check=False)
    return [int(word) for word in result.stdout.split() if word.isdigit()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def _none_alive(pids: list[int]) -> bool:
    return not any(_alive(pid) for pid in pids)


def _end_namespace_processes(namespace: str) -> None:
    """SIGTERM the processes in ``namespace``, SIGKILL what is left after a grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = [pid for pid in namespace_pids(namespace) if pid != os.getpid()]
        if not pids:
            return
        log.info("ending %s in namespace %s with %s", pids, namespace, sig.name)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        within(_STOP_GRACE, functools.partial(_none_alive, pids))


def connect_from(
    namespace: str, host: str, port: int, *, timeout: float = 2.0, read: int = 256
) -> bytes | None:
    """Connect to ``host:port`` from inside ``namespace``; the first bytes the server
    sent (up to ``read``; ``b""`` if it sent none in ``timeout``), or None when the
    connection failed."""
    probe = (
        "import socket, sys\n"
        "host, port, timeout, size = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]),"
        " int(sys.argv[4])\n"
        "try:\n"
        "    sock = socket.create_connection((host, port), timeout=timeout)\n"
        "except OSError as exc:\n"
        "    sys.stderr.write(str(exc))\n"
        "    sys.exit(3)\n"
        "try:\n"
        "    sys.stdout.buffer.write(sock.recv(size))\n"
        "except OSError:\n"
        "    pass\n"
    )
    argv = [*netns_exec(namespace), sys.executable, "-I", "-S", "-c", probe]
    result = subprocess.run(
        [*argv, host, str(port), str(timeout), str(read)],
        capture_output=True,
        check=False,
        timeout=timeout + _COMMAND_TIMEOUT,
    )
    if result.returncode == 3:
        return None
    if result.returncode != 0:
        raise NetnsNotAvailable(
            f"cannot run a probe in namespace {namespace}: {result.stderr.decode().strip()}"
        )
    return result.stdout


def free_port_in(namespace: str, address: str) -> int:
    """A TCP port nobody listens on at ``address`` inside ``namespace`` right now."""
    probe = (
        "import socket, sys\n"
        "with socket.socket() as sock:\n"
        "    sock.bind((sys.argv[1], 0))\n"
        "    print(sock.getsockname()[1])\n"
    )
    argv = [*netns_exec(namespace), sys.executable, "-I", "-S", "-c", probe, address]
    return int(_run(argv).stdout)


# --- leftovers ------------------------------------------------------------------------------


def _namespace_lines() -> list[str]:
    """``ip netns list``: one line per namespace, ``NAME`` or ``NAME (id: N)``."""
    return [line for line in _ip("netns", "list", check=False).stdout.splitlines() if line.strip()]


def remove_leftovers() -> None:
    """Remove namespaces and root-side links of this module whose creating process is
    gone (a crashed or killed earlier run), with the processes still inside them."""
    for line in _namespace_lines():
        name = line.split()[0]
        found = _NAMESPACE_NAME.match(name)
        if found and not _alive(int(found["pid"])):
            log.warning("removing namespace %s left by an earlier run", name)
            _end_namespace_processes(name)
            _ip("netns", "delete", name, check=False)
    for line in _ip("-o", "link", "show", check=False).stdout.splitlines():
        # "12: lg1f2e-0rj@if11: <BROADCAST,..."
        parts = line.split(":", 2)
        name = parts[1].strip().split("@")[0] if len(parts) > 2 else ""
        found = _LINK_NAME.match(name)
        if found and not _alive(int(found["pid"], 16)):
            log.warning("removing link %s left by an earlier run", name)
            _ip("link", "delete", name, check=False)


# --- building the network -------------------------------------------------------------------


def _used_third_octets() -> set[int]:
    """Third octets of 10.201.*.* already routed or assigned in the root namespace."""
    used: set[int] = set()
    routes = _ip("-4", "-o", "route", "show", "root", GUARD_RANGE).stdout
    addresses = _ip("-4", "-o", "address", "show").stdout
    for match in re.finditer(r"\b10\.201\.(\d+)\.\d+/(\d+)", routes + addresses):
        if int(match[2]) >= 24:  # the guard itself (/16) does not use a subnet
            used.add(int(match[1]))
    return used


def _choose_subnets() -> tuple[int, int]:
    """Third octets (X, Y) of a free pair 10.201.X.0/24 (root <-> jump) and Y = X + 1."""
    used = _used_third_octets()
    for outer in range(2, 254, 2):
        if outer not in used and outer + 1 not in used:
            return outer, outer + 1
    raise NetnsNotAvailable(f"no free pair of /24 subnets left in {GUARD_RANGE}")


@contextlib.contextmanager
def _subnet_lock() -> Iterator[None]:
    _LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with _LOCK_FILE.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _in(namespace: str, *args: str) -> None:
    _ip("-n", namespace, *args)


def _set_forwarding_off(namespace: str) -> None:
    path = "/proc/sys/net/ipv4/ip_forward"  # the namespace's own, read from inside it
    _run([*netns_exec(namespace), "sh", "-c", f"echo 0 > {path}"])
    value = _run([*netns_exec(namespace), "cat", path]).stdout.strip()
    if value != "0":
        raise NetnsNotAvailable(f"cannot turn forwarding off in {namespace} (it is {value})")


def _teardown(network: JumpNetwork) -> None:
    """End every process in the namespaces, then remove the links and namespaces."""
    for namespace in (network.target, network.jump):
        _end_namespace_processes(namespace)
    # Deleting one end of a veth pair deletes both.
    _ip("link", "delete", network.root_link, check=False)
    _ip("-n", network.jump, "link", "delete", network.jump_inner_link, check=False)
    for namespace in (network.target, network.jump):
        _ip("netns", "delete", namespace, check=False)
    listed = {line.split()[0] for line in _namespace_lines()}
    left = sorted(listed & {network.jump, network.target})
    if left:
        log.warning("namespaces still listed after deleting them: %s", left)
    log.info("removed the test network %s / %s", network.jump, network.target)


@contextlib.contextmanager
def jump_network() -> Iterator[JumpNetwork]:
    """Build a jump host and a target in two new namespaces; remove them at exit.

    The guard route goes in first, before anything else is created.
    """
    _require_netns()
    ensure_guard_route()
    remove_leftovers()
    pid = os.getpid()
    seq = next(_sequence)
    prefix = f"{NAME_PREFIX}-{pid}-{seq}"
    link = f"lg{pid:x}-{seq}"
    if len(link) + 2 > 15:  # Linux interface names have at most 15 characters
        raise NetnsNotAvailable(f"interface name {link}.. would be too long")
    with _subnet_lock():
        outer, inner = _choose_subnets()
        network = JumpNetwork(
            jump=f"{prefix}-jump",
            target=f"{prefix}-target",
            root_address=f"10.201.{outer}.1",
            jump_address=f"10.201.{outer}.2",
            jump_inner_address=f"10.201.{inner}.1",
            target_address=f"10.201.{inner}.2",
            root_link=f"{link}rj",
            jump_outer_link=f"{link}jr",
            jump_inner_link=f"{link}jt",
            target_link=f"{link}tj",
        )
        try:
            _build(network)
        except BaseException:
            _teardown(network)
            raise
    log.info(
        "test network: root %s <-> %s jump %s %s <-> %s target %s",
        network.root_address,
        network.jump_address,
        network.jump,
        network.jump_inner_address,
        network.target_address,
        network.target,
    )
    try:
        yield network
    finally:
        _teardown(network)


def _build(network: JumpNetwork) -> None:
    for namespace in (network.jump, network.target):
        _ip("netns", "add", namespace)
        _in(namespace, "link", "set", "lo", "up")
    _set_forwarding_off(network.jump)
    # root <-> jump; the root end stays here, the other goes straight into the namespace.
    _ip(
        "link",
        "add",
        network.root_link,
        "type",
        "veth",
        "peer",
        "name",
        network.jump_outer_link,
        "netns",
        network.jump,
    )
    # jump <-> target, made inside the jump namespace: it never appears in the root one.
    _in(
        network.jump,
        "link",
        "add",
        network.jump_inner_link,
        "type",
        "veth",
        "peer",
        "name",
        network.target_link,
        "netns",
        network.target,
    )
    ends: list[tuple[str | None, str, str]] = [
        (None, network.root_link, f"{network.root_address}/24"),
        (network.jump, network.jump_outer_link, f"{network.jump_address}/24"),
        (network.jump, network.jump_inner_link, f"{network.jump_inner_address}/24"),
        (network.target, network.target_link, f"{network.target_address}/24"),
    ]
    for inside, name, address in ends:
        where = ["-n", inside] if inside else []
        # No IPv6 link-local addresses: only addresses of the test range on these links.
        _ip(*where, "link", "set", "dev", name, "addrgenmode", "none")
        _ip(*where, "address", "add", address, "dev", name)
        _ip(*where, "link", "set", "dev", name, "up")
    # The root namespace knows its link's subnet, and nothing of the target's.
    routed = _ip("-4", "route", "get", network.target_address, check=False)
    if routed.returncode == 0:
        raise NetnsNotAvailable(
            f"the root namespace has a route to the target ({routed.stdout.strip()})"
        )
