"""A daemon per machine, not per host name: two network namespaces on this kernel share
/tmp, a host name and the test account (a jump host and the target behind it, an sshd in
each), and labgate reaches each as a resource of its own. Each gets its own daemon, and
a web app launched on each runs in that host's network, where labgate reaches it. An app
that runs where labgate cannot reach it fails with a launch error that says so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.labgate_api import Browser, labgate_server
from tests.support.netns import JumpNetwork
from tests.support.server import RunningServer
from tests.support.sessions import launch, wait_for
from tests.support.sshd import SshServer

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "daemons admin password"
SERVE = "python3 -m http.server {port} --bind 127.0.0.1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"LABGATE_APP_RECONCILE_SECONDS": "1", "LABGATE_APP_START_TIMEOUT_SECONDS": "8"}
    with labgate_server(tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def admin(server: RunningServer) -> Iterator[Browser]:
    browser = Browser(server, "admin", ADMIN_PASSWORD)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def jump_box(admin: Browser, jump_sshd: SshServer) -> int:
    return admin.add_key_resource("jump-box", jump_sshd)


@pytest.fixture(scope="module")
def target_box(admin: Browser, jump_sshd: SshServer, target_sshd: SshServer) -> int:
    hops = [{"host": jump_sshd.host, "port": jump_sshd.port, "auth_method": "key"}]
    rid = admin.add_resource("target-box", target_sshd, auth_method="key", hops=hops)
    hop_id = admin.resource(rid)["hops"][0]["id"]
    for ssh in (jump_sshd, target_sshd):
        admin.trust_host_key(rid, ssh)
    for hop, ssh in ((hop_id, jump_sshd), ("target", target_sshd)):
        remembered = admin.put(
            f"/api/v1/resources/{rid}/remembered-keys/{hop}",
            json={"private_key": ssh.client_key_path.read_text()},
        )
        assert remembered.status_code == 200, remembered.text
    return rid


def web_app(browser: Browser, rid: int, command: str = SERVE) -> dict[str, object]:
    return launch(browser, rid, "webapp", form={"app_command": command, "workdir": "~"})


def network_of(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def namespace(name: str) -> str:
    """``ip netns``'s namespace ``name`` as /proc shows a process's (``net:[inode]``)."""
    return f"net:[{os.stat(f'/run/netns/{name}').st_ino}]"


def app_pid(browser: Browser, rid: int, session_id: object) -> int:
    listing = browser.get(f"/api/v1/resources/{rid}/processes")
    assert listing.status_code == 200, listing.text
    (process,) = [p for p in listing.json()["processes"] if p["name"] == f"session:{session_id}"]
    pid: int = process["pid"]
    return pid


def test_each_network_gets_its_own_daemon_and_its_apps_are_reached(
    server: RunningServer,
    admin: Browser,
    network: JumpNetwork,
    jump_box: int,
    target_box: int,
) -> None:
    for rid in (jump_box, target_box):
        assert admin.get(f"/api/v1/resources/{rid}/system").status_code == 200
    # The same host name on both, yet two daemons.
    assert (
        len(
            {
                admin.get(f"/api/v1/resources/{r}/system").json()["hostname"]
                for r in (jump_box, target_box)
            }
        )
        == 1
    )
    sockets = list(Path(server.env["LABGATE_AGENT_RUNTIME_DIR"]).glob("daemon-v*.sock"))
    assert len(sockets) == 2, sockets

    sessions = {rid: web_app(admin, rid) for rid in (jump_box, target_box)}
    for rid, name in ((jump_box, network.jump), (target_box, network.target)):
        session_id = sessions[rid]["id"]
        running = wait_for(admin, str(session_id), "running")
        page = admin.get(str(running["url"]))
        assert page.status_code == 200, page.text
        assert "Directory listing" in page.text
        # The app runs in the network of the host it was launched on.
        assert network_of(app_pid(admin, rid, session_id)) == namespace(name)
    for session in sessions.values():
        admin.post(f"/api/v1/sessions/{session['id']}/stop")
        wait_for(admin, str(session["id"]), "stopped")


def test_an_app_labgate_cannot_reach_is_named_in_the_error(admin: Browser, jump_box: int) -> None:
    # It listens, but not where labgate's SSH connection asks for it.
    session = web_app(admin, jump_box, "python3 -m http.server {port} --bind 127.0.0.2")
    failed = wait_for(admin, str(session["id"]), "failed")
    message = str(failed["message"])
    assert message.startswith("The app is running but labgate cannot reach it at 127.0.0.1:")
    assert "from this host's network (Connection refused; it listens at 127.0.0.2:" in message
