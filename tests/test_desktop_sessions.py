"""Desktop sessions launched through labgate (in-process, the API and the reconcile loop)
on ``local``, on an SSH resource (the test account on a real sshd) and as a job of a
real single-node SLURM: each becomes running once its VNC server greets; through the
resource's transport (as the RFB bridge will reach it) it offers VNC authentication only,
takes the session's app password and refuses another; its Xvnc opened no TCP port; its
window manager runs; a stop leaves no Xvnc and no X socket. An administrator's desktop
file starts its own session; a resource without Xvnc fails the launch saying what to
install. The start program alone: ``test_desktop_program.py``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labgate.launching.launcher import Endpoint
from labgate.launching.template import app_password
from labgate.sessions.lifecycle import Access
from labgate.sessions.template_files import load_template
from labgate.settings import Settings
from labgate.state import AppState
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.desktops import (
    display_of,
    leftovers,
    named_below,
    tcp_listeners,
    x_display_answer,
    xvnc_of_job,
)
from tests.support.eventually import eventually
from tests.support.local_sessions import local_id, private_daemon, wait_for
from tests.support.processes import Process, skip_unless_root
from tests.support.remote_files import account_dir, add_ssh_resource
from tests.support.rfb_handshake import VNC_AUTH, RfbRefused, authenticate, security_types
from tests.support.slurm import SlurmCluster
from tests.support.sshd import SshServer

# A small job, within the debug partition's limits.
JOB = {"cpus": 1, "memory_gb": 1, "walltime_minutes": 20, "partition": "debug"}
# An administrator's desktop: a terminal only, without a window manager.
TERMINAL_DESKTOP = """
id = "terminal-desktop"
title = "Terminal desktop"
desktop_session = "exec xterm"
desktop_needs = ["xterm"]
"""


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    """The daemon's own directory; the daemon and the apps ended by PID at the end."""
    skip_unless_root("desktops on this machine")
    with private_daemon() as path:
        yield path


@pytest.fixture
def settings(settings: Settings, runtime_dir: Path) -> Settings:
    return settings.model_copy(
        update={
            "local_resource": "everyone",
            "agent_runtime_dir": str(runtime_dir),
            "daemon_idle_minutes": 1,
            "app_reconcile_seconds": 1,
        }
    )


async def launch(user: LoggedIn, resource_id: int, template: str, **body: Any) -> str:
    answer = await user.post(
        "/api/v1/sessions", json={"template": template, "resource_id": resource_id, **body}
    )
    assert answer.status_code == 201, answer.text
    session_id: str = answer.json()["id"]
    return session_id


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


async def xvnc_of(state: AppState, session_id: str) -> Process:
    """The session's Xvnc: below its process (direct), or in its job (SLURM)."""
    snap = await state.lifecycle.snapshot(session_id)
    assert snap is not None
    launched = snap.row.launcher_state

    def found() -> list[Process]:
        if "job_id" in launched:
            return xvnc_of_job(str(launched["job_id"]))
        return named_below(int(launched["pid"]), "Xvnc")

    (xvnc,) = await eventually(found, what=f"the Xvnc of session {session_id}")
    return xvnc


async def check_desktop(
    state: AppState, session_id: str, size: tuple[int, int]
) -> tuple[Process, int]:
    """The running desktop, reached as the RFB bridge reaches it: its Xvnc and display."""
    snap = await state.lifecycle.snapshot(session_id)
    assert snap is not None
    assert snap.row.endpoint is not None
    token = state.session_tokens.open(snap.row.sealed_token, session_id)
    access = Access(state, snap.plan)
    endpoint = Endpoint.from_json(snap.row.endpoint)

    reader, writer = await access.open(endpoint, token)
    assert await security_types(reader, writer) == [VNC_AUTH]
    with pytest.raises(RfbRefused):
        await authenticate(reader, writer, app_password(token + "x"))
    writer.close()
    reader, writer = await access.open(endpoint, token)
    await security_types(reader, writer)
    screen = await authenticate(reader, writer, app_password(token))
    writer.close()
    assert (screen.width, screen.height) == size

    xvnc = await xvnc_of(state, session_id)
    assert tcp_listeners(xvnc[0]) == []
    display = display_of(xvnc)
    assert x_display_answer(display) == 0  # no way in without the desktop's cookie
    return xvnc, display


async def stop(user: LoggedIn, session_id: str, xvnc: Process, display: int) -> None:
    stopped = await user.post(f"/api/v1/sessions/{session_id}/stop")
    assert stopped.status_code == 200, stopped.text
    await wait_for(user, session_id, "stopped")
    await eventually(lambda: leftovers(xvnc, display) == [], what="nothing left of the desktop")


async def test_a_desktop_on_local_and_a_desktop_of_ones_own(
    accounts: AccountFactory, state: AppState, tmp_path: Path
) -> None:
    (tmp_path / "terminal.toml").write_text(TERMINAL_DESKTOP)
    own = load_template(tmp_path / "terminal.toml")
    state.templates[own.id] = own
    alice = await accounts.login("alice")
    local = await local_id(alice)

    desktop = await launch(alice, local, "desktop", form={"resolution": "1280x1024"})
    terminal = await launch(alice, local, own.id)  # beside it: each has its own display
    running = await wait_for(alice, desktop, "running")
    assert running["progress"][-1] == "Desktop is ready."
    assert running["view"] == "desktop"
    xvnc, display = await check_desktop(state, desktop, (1280, 1024))
    await eventually(lambda: named_below(parent_of(xvnc[0]), "openbox"), what="openbox")

    await wait_for(alice, terminal, "running")
    own_xvnc, own_display = await check_desktop(state, terminal, (1600, 900))
    assert own_display != display
    program = parent_of(own_xvnc[0])
    await eventually(lambda: named_below(program, "xterm"), what="the terminal")
    assert named_below(program, "openbox") == []

    await stop(alice, desktop, xvnc, display)
    await stop(alice, terminal, own_xvnc, own_display)


async def test_a_desktop_on_an_ssh_resource(
    accounts: AccountFactory, state: AppState, sshd: SshServer
) -> None:
    alice = await accounts.login("alice")
    box = await add_ssh_resource(alice, sshd, "box")
    desktop = await launch(alice, box, "desktop")
    await wait_for(alice, desktop, "running")
    xvnc, display = await check_desktop(state, desktop, (1600, 900))
    assert Path(f"/proc/{xvnc[0]}").stat().st_uid == sshd.user.uid  # the account's own
    await eventually(lambda: named_below(parent_of(xvnc[0]), "openbox"), what="openbox")
    await stop(alice, desktop, xvnc, display)


async def test_a_desktop_as_a_slurm_job(
    accounts: AccountFactory, state: AppState, sshd: SshServer, slurm: SlurmCluster
) -> None:
    alice = await accounts.login("alice")
    cluster = await add_ssh_resource(alice, sshd, "cluster")
    changed = await alice.patch(
        f"/api/v1/resources/{cluster}", json={"setup_lines": [slurm.setup_lines]}
    )
    assert changed.status_code == 200, changed.text
    desktop = await launch(
        alice, cluster, "desktop", launcher="slurm", form={**JOB, "resolution": "1920x1080"}
    )
    running = await wait_for(alice, desktop, "running")
    assert any(f"Running on {slurm.node_name}" in line for line in running["progress"])
    xvnc, display = await check_desktop(state, desktop, (1920, 1080))
    await eventually(lambda: named_below(parent_of(xvnc[0]), "openbox"), what="openbox")
    await stop(alice, desktop, xvnc, display)


async def test_a_resource_without_xvnc_says_what_to_install(
    accounts: AccountFactory, sshd: SshServer
) -> None:
    alice = await accounts.login("alice")
    box = await add_ssh_resource(alice, sshd, "box")
    with account_dir(sshd.user) as directory:
        # Its PATH has Python and the desktop's programs, not Xvnc.
        links = directory / "bin"
        links.mkdir()
        (links / "python3").symlink_to("/usr/bin/python3")
        for program in ("vncpasswd", "openbox", "xterm", "pcmanfm"):
            (links / program).symlink_to(f"/usr/bin/{program}")
        os.chown(links, sshd.user.uid, sshd.user.gid)
        changed = await alice.patch(
            f"/api/v1/resources/{box}", json={"setup_lines": [f"export PATH={links}"]}
        )
        assert changed.status_code == 200, changed.text
        desktop = await launch(alice, box, "desktop")
        failed = await wait_for(alice, desktop, "failed")
    said = failed["message"]
    assert said.startswith("Desktop cannot start: Xvnc was not found on "), said
    assert "install tigervnc-standalone-server (Debian, Ubuntu) or tigervnc-server" in said
