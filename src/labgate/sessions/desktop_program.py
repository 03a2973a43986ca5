"""A desktop session as it runs on the resource (Python 3.8 or newer, the standard library
only): TigerVNC's X server (Xvnc) on a Unix socket, then the desktop's programs on it.

labgate does not copy this file to the resource: the desktop template
(:mod:`labgate.sessions.desktop`) gives its text to the app in the environment
(``LABGATE_DESKTOP_PROGRAM``) and runs it with ``python3 -c``, so that every launcher
(direct, SLURM) starts it like any other app's command, and ``ps`` shows a short command.

    python3 -c "..." --socket PATH --resolution 1600x900 [--name TITLE] [--needs PROGRAM]...

The environment holds the VNC password (``LABGATE_DESKTOP_PASSWORD``, the session's
``app_password``) and the desktop's session, shell lines run once the X server is ready
(``LABGATE_DESKTOP_SESSION``, e.g. ``xterm & pcmanfm & exec openbox``). The program:

1. checks that Xvnc, vncpasswd and the ``--needs`` programs are there; a missing one ends
   it with a line for the user, ``labgate: cannot start: <why and what to install>``
   (``labgate.launching.diagnosis`` gives that line as the failure's cause);
2. writes, in a directory of its own (0700) beside the socket, the VNC password file
   (``vncpasswd -f``, password on its stdin) and an X authority file with a random
   cookie, so that only the desktop's own programs reach the X display (its sockets,
   ``/tmp/.X11-unix/X<n>`` and the abstract one, are open to every local user);
3. starts Xvnc: RFB only on the socket (mode 0600, no TCP port), VNC authentication
   only, every viewer shared, the first free display number (``-displayfd``), the X
   server's own TCP listener off. Xvnc accepts SetDesktopSize (its default), so a viewer
   can resize the screen;
4. once Xvnc says its display number, runs the session with ``DISPLAY`` and
   ``XAUTHORITY`` set, in a process group of its own;
5. waits until the session ends, Xvnc ends, or it is asked to stop (SIGTERM, SIGINT,
   SIGHUP: labgate's stop, a batch job's end); then it ends the session's processes and
   Xvnc (which removes its X lock and socket) and its directory.

Text in this file must not look like a placeholder of a template (a lower-case name in
curly braces): labgate fills those in in the environment it is given through.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

#: The start of the line that says, for the user, why the desktop cannot start.
CANNOT_START = "labgate: cannot start: "
PROGRAM_VARIABLE = "LABGATE_DESKTOP_PROGRAM"
PASSWORD_VARIABLE = "LABGATE_DESKTOP_PASSWORD"  # noqa: S105 (its name)
SESSION_VARIABLE = "LABGATE_DESKTOP_SESSION"
#: The resolution at which a screen that follows its pane starts (the pane resizes it).
FOLLOW_THE_PANE = "follow the pane"
PANE_START_SIZE = "1600x900"
#: What to install when a program is missing, by program.
PACKAGES = {
    "Xvnc": "tigervnc-standalone-server (Debian, Ubuntu) or tigervnc-server (RHEL, Fedora)",
    "vncpasswd": "tigervnc-tools (Debian, Ubuntu) or tigervnc-server (RHEL, Fedora)",
}
# How long Xvnc may take to say its display number, and processes to end after TERM.
READY_SECONDS = 30.0
GRACE_SECONDS = 5.0
_POLL_SECONDS = 0.2
# X authority: any address (FamilyWild), any display number, MIT-MAGIC-COOKIE-1.
_FAMILY_WILD = 0xFFFF
_COOKIE_NAME = b"MIT-MAGIC-COOKIE-1"


class CannotStart(Exception):
    """The desktop cannot start; the message is for the user."""


def say(text: str) -> None:
    print("labgate: " + text, flush=True)


def missing(program: str) -> str:
    package = PACKAGES.get(program, program)
    return (
        "%s was not found on %s: install %s there, or add the lines that make it "
        "available to the environment of the launch form."
        % (program, socket.gethostname(), package)
    )


def geometry(resolution: str) -> str:
    """Xvnc's ``-geometry`` for the form's resolution (``1600x900``, or the pane's)."""
    if resolution == FOLLOW_THE_PANE:
        return PANE_START_SIZE
    width, _, height = resolution.partition("x")
    if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
        raise CannotStart("the resolution %r is not WIDTHxHEIGHT." % resolution)
    return resolution


def write_private(path: str, data: bytes) -> None:
    """A new file only the user can read (never one that was there)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _counted(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def x_authority(cookie: bytes) -> bytes:
    """An X authority file's one entry: ``cookie`` for every display of every host."""
    entry = struct.pack(">H", _FAMILY_WILD) + _counted(b"") + _counted(b"")
    return entry + _counted(_COOKIE_NAME) + _counted(cookie)


def password_file(vncpasswd: str, password: str, path: str) -> None:
    """The VNC password file, as ``vncpasswd -f`` writes it (the password on its stdin,
    never on a command line)."""
    done = subprocess.run(
        [vncpasswd, "-f"], input=(password + "\n").encode(), capture_output=True, check=False
    )
    if done.returncode != 0 or not done.stdout:
        said = done.stderr.decode("utf-8", "replace").strip()
        raise CannotStart("vncpasswd could not write the password file: %s" % (said or "?"))
    write_private(path, done.stdout)


def xvnc_arguments(xvnc: str, args: argparse.Namespace, files: str, display_fd: int) -> list[str]:
    return [
        xvnc,
        "-displayfd",
        str(display_fd),
        "-rfbunixpath",
        args.socket,
        "-rfbunixmode",
        "0600",
        "-rfbport",
        "-1",  # no TCP port (Xvnc opens 5900 beside the socket otherwise)
        "-nolisten",
        "tcp",
        "-SecurityTypes",
        "VncAuth",
        "-PasswordFile",
        os.path.join(files, "passwd"),
        "-auth",
        os.path.join(files, "Xauthority"),
        "-AlwaysShared",
        "-geometry",
        geometry(args.resolution),
        "-depth",
        "24",
        "-desktop",
        args.name,
    ]


def read_display(reader: int, xvnc: subprocess.Popen[bytes]) -> str:
    """The display number Xvnc writes once it is ready."""
    deadline = time.monotonic() + READY_SECONDS
    said = b""
    os.set_blocking(reader, False)
    while not said.endswith(b"\n"):
        if xvnc.poll() is not None:
            raise CannotStart("Xvnc ended with status %s as it started." % xvnc.returncode)
        if time.monotonic() > deadline:
            raise CannotStart("Xvnc was not ready after %d seconds." % READY_SECONDS)
        try:
            said += os.read(reader, 16)
        except BlockingIOError:
            time.sleep(0.05)
    return said.decode().strip()


class Stop:
    """Whether a signal asked the desktop to stop."""

    def __init__(self) -> None:
        self.asked = False
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(number, self._ask)

    def _ask(self, number: int, frame: object) -> None:
        self.asked = True


def end(process: subprocess.Popen[bytes] | None) -> None:
    """TERM, then KILL if it is still there after the grace time."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _group_left(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def end_group(process: subprocess.Popen[bytes] | None) -> None:
    """TERM to the process group ``process`` leads (the session's shell and the programs
    it started), then KILL to what is left of it after the grace time."""
    if process is None:
        return
    group = process.pid
    deadline = time.monotonic() + GRACE_SECONDS
    try:
        os.killpg(group, signal.SIGTERM)
        while time.monotonic() < deadline:
            process.poll()  # a shell that ended is no longer counted once reaped
            if not _group_left(group):
                return
            time.sleep(_POLL_SECONDS)
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.poll()


def run(args: argparse.Namespace, stop: Stop) -> int:
    password = os.environ.pop(PASSWORD_VARIABLE, "")
    session = os.environ.pop(SESSION_VARIABLE, "")
    os.environ.pop(PROGRAM_VARIABLE, None)
    if not password or not session:
        raise CannotStart("the desktop's password or session is missing from its environment.")
    found = {name: shutil.which(name) for name in ("Xvnc", "vncpasswd", *args.needs)}
    for name, path in found.items():
        if path is None:
            raise CannotStart(missing(name))
    files = tempfile.mkdtemp(prefix="desktop-", dir=os.path.dirname(args.socket) or None)
    xvnc = desktop = None
    try:
        password_file(str(found["vncpasswd"]), password, os.path.join(files, "passwd"))
        cookie = secrets.token_bytes(16)
        write_private(os.path.join(files, "Xauthority"), x_authority(cookie))
        reader, writer = os.pipe()
        xvnc = subprocess.Popen(
            xvnc_arguments(str(found["Xvnc"]), args, files, writer),
            pass_fds=(writer,),
            stdin=subprocess.DEVNULL,
        )
        os.close(writer)
        display = read_display(reader, xvnc)
        os.close(reader)
        say("Xvnc is ready: display :%s, RFB on %s." % (display, args.socket))
        env = dict(os.environ, DISPLAY=":" + display, XAUTHORITY=os.path.join(files, "Xauthority"))
        desktop = subprocess.Popen(
            ["/bin/sh", "-c", session], env=env, stdin=subprocess.DEVNULL, start_new_session=True
        )
        while not stop.asked:
            if desktop.poll() is not None:
                say("the desktop's session ended (status %s)." % desktop.returncode)
                return 0 if desktop.returncode == 0 else 1
            if xvnc.poll() is not None:
                say("Xvnc ended (status %s)." % xvnc.returncode)
                return 1
            time.sleep(_POLL_SECONDS)
        say("stopping the desktop.")
        return 0
    finally:
        end_group(desktop)
        end(xvnc)
        shutil.rmtree(files, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="labgate-desktop")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--resolution", default=FOLLOW_THE_PANE)
    parser.add_argument("--name", default="Desktop")
    parser.add_argument("--needs", action="append", default=[])
    args = parser.parse_args(argv)
    stop = Stop()
    try:
        return run(args, stop)
    except CannotStart as exc:
        print(CANNOT_START + str(exc), file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
