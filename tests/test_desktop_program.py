"""The Desktop template and its start program (sessions/desktop.py, desktop_program.py),
run here with the real Xvnc, openbox, xterm and pcmanfm, as the template's command and
environment say: RFB only on the socket (no TCP port), VNC authentication only with the
session's app password, several viewers at once, the X display closed to programs
without the desktop's cookie, the window manager running, and nothing left after a stop;
the ``rfb`` readiness check; a missing Xvnc said as such. Launched through labgate's
sessions on local, SSH and SLURM: ``test_desktop_sessions.py``."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from labgate.launching.diagnosis import CANNOT_START_PREFIX, explain
from labgate.launching.template import (
    PLACEHOLDER,
    AppTemplate,
    Placeholders,
    app_password,
    command_of,
    validate_form,
)
from labgate.sessions import desktop_program
from labgate.sessions.desktop import DESKTOP, program_text
from labgate.sessions.probes import rfb_ready
from labgate.transport.base import ByteReader, StreamWriter
from tests.support.desktops import (
    display_of,
    leftovers,
    named_below,
    tcp_listeners,
    x_display_answer,
)
from tests.support.eventually import eventually
from tests.support.processes import skip_unless_root
from tests.support.rfb_handshake import VNC_AUTH, RfbRefused, authenticate, security_types

TOKEN = "the session's token"


class AppOnSocket:
    """The app as a readiness check sees it (``launching.probes.AppHttp``), on a socket."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def template(self) -> AppTemplate:
        return DESKTOP

    async def get(self, path: str) -> tuple[int, bytes]:
        raise AssertionError("the rfb check asks nothing over HTTP")

    async def open_stream(self) -> tuple[ByteReader, StreamWriter]:
        return await asyncio.open_unix_connection(str(self.path))


def start(
    directory: Path, form: dict[str, str] | None = None, path: str | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    """The Desktop template's command with its environment, as a launcher runs it (a
    shell in a process group of its own); and its socket."""
    socket = directory / "desktop.sock"
    checked = validate_form(DESKTOP, form or {}, batch=False)
    command, env = command_of(DESKTOP, checked, Placeholders("/s/d/", TOKEN, socket=str(socket)))
    environment = {**os.environ, **env, **({"PATH": path} if path else {})}
    process = subprocess.Popen(
        ["/bin/bash", "-c", command],
        env=environment,
        cwd=directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, socket


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    """A private directory for the socket, as the daemon's is."""
    skip_unless_root("a desktop on this machine")
    path = tmp_path / "app"
    path.mkdir(mode=0o700)
    return path


def test_the_password_and_the_program_go_in_the_environment_never_the_command() -> None:
    form = validate_form(DESKTOP, {}, batch=False)
    assert form["resolution"] == "follow the pane"
    command, env = command_of(DESKTOP, form, Placeholders("/s/d/", TOKEN, socket="/run/d.sock"))
    assert env["LABGATE_DESKTOP_PASSWORD"] == app_password(TOKEN)
    assert app_password(TOKEN) not in command
    # The program arrives as written: nothing in it looks like a placeholder.
    assert env["LABGATE_DESKTOP_PROGRAM"] == program_text()
    assert PLACEHOLDER.search(program_text()) is None
    assert "--socket /run/d.sock" in command
    assert "--resolution 'follow the pane'" in command
    assert len(command) < 300  # what ps shows stays short
    described = DESKTOP.describe()
    assert (described["view"], described["icon"], DESKTOP.readiness) == (
        "desktop",
        "monitor",
        "rfb",
    )
    assert CANNOT_START_PREFIX == desktop_program.CANNOT_START


async def test_a_desktop_speaks_rfb_on_its_socket_only(directory: Path) -> None:
    process, socket = start(directory, {"resolution": "1280x720"})
    try:
        app = AppOnSocket(socket)
        await eventually(socket.exists, what="the socket")
        assert await rfb_ready(app)
        (xvnc,) = named_below(process.pid, "Xvnc")

        # VNC authentication only; the session's password is taken, another is not.
        reader, writer = await asyncio.open_unix_connection(str(socket))
        assert await security_types(reader, writer) == [VNC_AUTH]
        with pytest.raises(RfbRefused):
            await authenticate(reader, writer, "wrong!!!")
        writer.close()
        viewers = []
        for _ in range(2):  # several viewers at once
            reader, writer = await asyncio.open_unix_connection(str(socket))
            await security_types(reader, writer)
            screen = await authenticate(reader, writer, app_password(TOKEN))
            assert (screen.width, screen.height, screen.name) == (1280, 720, "Desktop")
            viewers.append(writer)
        for writer in viewers:
            writer.close()

        # No TCP port; the socket is the user's alone; the X display wants the cookie.
        assert tcp_listeners(xvnc[0]) == []
        assert socket.stat().st_mode & 0o777 == 0o600
        display = display_of(xvnc)
        assert x_display_answer(display) == 0  # refused
        # The window manager, the terminal and the file manager run on it.
        for program in ("openbox", "xterm", "pcmanfm"):
            await eventually(
                lambda program=program: named_below(process.pid, program), what=program
            )
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # as labgate's stop does
        output = process.communicate(timeout=60)[0].decode()
    assert "labgate: stopping the desktop." in output, output
    await eventually(lambda: leftovers(xvnc, display) == [], what="nothing left of the desktop")
    assert not socket.exists()
    assert [p.name for p in directory.iterdir()] == []  # its password and cookie removed


async def test_a_desktop_that_follows_its_pane_starts_at_a_common_size(directory: Path) -> None:
    process, socket = start(directory)
    try:
        await eventually(lambda: socket.exists(), what="the socket")
        reader, writer = await asyncio.open_unix_connection(str(socket))
        await security_types(reader, writer)
        screen = await authenticate(reader, writer, app_password(TOKEN))
        writer.close()
        assert (screen.width, screen.height) == (1600, 900)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.communicate(timeout=60)


def test_a_missing_xvnc_is_said_with_what_to_install(directory: Path) -> None:
    # A PATH with python3 and the desktop's programs, without Xvnc.
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(os.path.realpath(sys.executable))
    for program in ("vncpasswd", "openbox", "xterm", "pcmanfm"):
        found = shutil.which(program)
        assert found is not None, program
        (bin_dir / program).symlink_to(found)
    process, socket = start(directory, path=str(bin_dir))
    output = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 1
    assert not socket.exists()
    said = explain(DESKTOP, output, "Desktop exited with status 1.")
    assert said.startswith("Desktop cannot start: Xvnc was not found on "), said
    assert "install tigervnc-standalone-server (Debian, Ubuntu) or tigervnc-server" in said


async def test_the_rfb_check_is_not_fooled_by_another_protocol(tmp_path: Path) -> None:
    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    path = tmp_path / "http.sock"
    server = await asyncio.start_unix_server(http, str(path))
    async with server:
        assert await rfb_ready(AppOnSocket(path)) is False
