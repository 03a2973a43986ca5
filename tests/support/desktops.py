"""Looking at a desktop session's processes from the test (the resource is this machine):
its Xvnc, the display it took, what it listens on, whether its X display lets in a
program without the desktop's cookie, and whether it left anything behind; and running
X programs on it as the desktop's account (:func:`as_user`, :func:`screen_size`)."""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import Process, alive, descendants
from tests.support.sshd import TestUser


def command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def named_below(pid: int, name: str) -> list[Process]:
    """The processes called ``name`` below ``pid``."""
    return [p for p in descendants(pid) if command_name(p[0]) == name]


def xvnc_of_job(job_id: str) -> list[Process]:
    """The Xvnc processes of SLURM job ``job_id`` (by the job id in their environment)."""
    found: list[Process] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or command_name(int(entry.name)) != "Xvnc":
            continue
        with contextlib.suppress(OSError):
            environment = (entry / "environ").read_bytes().split(b"\0")
            if f"SLURM_JOB_ID={job_id}".encode() in environment:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                found.append((int(entry.name), int(stat[19])))
    return found


def xvnc_of_user(uid: int) -> list[Process]:
    """The Xvnc processes running as ``uid``."""
    found: list[Process] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or command_name(int(entry.name)) != "Xvnc":
            continue
        with contextlib.suppress(OSError):
            if entry.stat().st_uid == uid:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                found.append((int(entry.name), int(stat[19])))
    return found


def x_authority_of(xvnc: Process) -> str:
    """The X authority file Xvnc was given (``-auth``): what a program on the desktop
    needs, beside DISPLAY, to be let in."""
    argv = Path(f"/proc/{xvnc[0]}/cmdline").read_bytes().split(b"\0")
    return argv[argv.index(b"-auth") + 1].decode()


def _listening(kind: str, pid: int | None = None) -> list[str]:
    """The listening sockets of ``kind`` (``t`` TCP, ``x`` Unix) that ``ss -l`` shows,
    those of ``pid`` only if given."""
    shown = subprocess.run(
        ["ss", f"-l{kind}npH"], capture_output=True, text=True, check=True
    ).stdout
    return [line for line in shown.splitlines() if pid is None or f"pid={pid}," in line]


_X_SOCKET = re.compile(r"/tmp/\.X11-unix/X(\d+)\s")


def display_of(xvnc: Process) -> int:
    """The display number Xvnc took (-displayfd makes no lock file): the X socket it
    listens on."""
    for line in _listening("x", xvnc[0]):
        found = _X_SOCKET.search(line)
        if found:
            return int(found.group(1))
    raise AssertionError(f"Xvnc {xvnc[0]} listens on no X socket")


def tcp_listeners(pid: int) -> list[str]:
    """The TCP sockets ``pid`` listens on, as ``ss -ltnp`` shows them."""
    return _listening("t", pid)


def x_display_answer(display: int) -> int:
    """The first byte of the X server's answer to a connection without authorisation on
    ``display``'s socket: 0 refused, 1 accepted, 2 more authentication wanted."""
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(10)
        client.connect(f"/tmp/.X11-unix/X{display}")
        # Little-endian, protocol 11.0, no authorisation name and data.
        client.sendall(b"l\0" + struct.pack("<HHHH", 11, 0, 0, 0) + b"\0\0")
        return client.recv(1)[0]


def leftovers(xvnc: Process, display: int) -> list[str]:
    """What of a stopped desktop is still there: its Xvnc, an X lock file of its, its X
    socket with nobody listening (a display another X server took since is not counted)."""
    found = [f"Xvnc {xvnc[0]}"] if alive(xvnc) else []
    lock = Path(f"/tmp/.X{display}-lock")
    with contextlib.suppress(OSError, ValueError):
        if int(lock.read_text().strip()) == xvnc[0]:
            found.append(str(lock))
    path = f"/tmp/.X11-unix/X{display}"
    taken = any(f"{path} " in line for line in _listening("x"))
    if Path(path).exists() and not taken:
        found.append(path)
    return found


@dataclass(frozen=True)
class XAccess:
    """What a program needs to use a desktop's X display."""

    display: str
    authority: str

    @classmethod
    def of(cls, xvnc: Process) -> XAccess:
        return cls(f":{display_of(xvnc)}", x_authority_of(xvnc))


def as_user(user: TestUser, x: XAccess, *argv: str) -> list[str]:
    """``argv`` run as ``user`` on the desktop ``x``."""
    return [
        "runuser",
        "-u",
        user.name,
        "--",
        "env",
        f"DISPLAY={x.display}",
        f"XAUTHORITY={x.authority}",
        f"HOME={user.home}",
        *argv,
    ]


def screen_size(user: TestUser, x: XAccess) -> str:
    """The desktop's screen size, ``1280x800``, as its X server says."""
    out = subprocess.run(as_user(user, x, "xdpyinfo"), capture_output=True, text=True, check=True)
    match = re.search(r"dimensions:\s+(\d+x\d+) pixels", out.stdout)
    assert match, out.stdout
    return match.group(1)
