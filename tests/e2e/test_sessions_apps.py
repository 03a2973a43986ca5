"""Real apps in sessions, through the proxy: JupyterLab launched directly (a kernel runs
code over its WebSocket; other users are refused on every path and socket; a busy kernel
counts as activity), TensorBoard showing scalars written to a log directory, and
JupyterLab as a job of a real single-node SLURM (pending, running on the node, reached
from the login node; a job the scheduler refuses; a pending job cancelled), and SLURM
sessions when the scheduler does not answer: the private slurmctld stopped while a session
runs and started again. A short outage is only a progress line (while the job starts, and
while it runs); one longer than ``app_scheduler_outage_seconds`` gives the session up,
and its job is cancelled once slurmctld is back.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.support.apps import AppsEnv, write_scalars
from tests.support.eventually import PATIENCE_SECONDS, eventually_sync
from tests.support.labgate_api import Browser, labgate_server
from tests.support.netns import JumpNetwork
from tests.support.processes import user_directory
from tests.support.server import RunningServer
from tests.support.sessions import another_user, launch, wait_for
from tests.support.slurm import SlurmCluster
from tests.support.sshd import SshServer, ensure_test_user, running_sshd

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "apps admin password"
BOB_PASSWORD = "bob's password for apps"
# Above two failed scheduler calls (each takes about 20 s with slurmctld down), so that a
# short outage is never given up by a poll that began just before it.
OUTAGE_SECONDS = 50
ASKING_AGAIN = "The scheduler does not answer; asking again."
# A web app that takes a few seconds to answer, so that its session is still starting
# when slurmctld goes away.
SLOW_APP = "bash -c 'sleep 5; exec python3 -m http.server \"$PORT\"'"
# A small job, within the debug partition's limits.
JOB = {"cpus": 1, "memory_gb": 1, "walltime_minutes": 20, "partition": "debug"}


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with running_sshd(tmp_path_factory.mktemp("sshd"), ensure_test_user()) as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {
        "LABGATE_APP_RECONCILE_SECONDS": "2",
        "LABGATE_APP_START_TIMEOUT_SECONDS": "90",
        "LABGATE_APP_SCHEDULER_OUTAGE_SECONDS": str(OUTAGE_SECONDS),
    }
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
def bob(admin: Browser) -> Iterator[Browser]:
    with another_user(admin, "bob", BOB_PASSWORD) as browser:
        yield browser


@pytest.fixture(scope="module")
def box(admin: Browser, sshd: SshServer, apps_env: AppsEnv) -> int:
    """The resource, with the apps environment on its PATH (as a user's set-up lines)."""
    return admin.add_key_resource("box", sshd, setup_lines=[f"export PATH={apps_env.bin}:$PATH"])


@pytest.fixture(scope="module")
def cluster_box(admin: Browser, sshd: SshServer, apps_env: AppsEnv, slurm: SlurmCluster) -> int:
    """The same machine as a SLURM login node."""
    return admin.add_key_resource(
        "cluster",
        sshd,
        setup_lines=[f"export PATH={apps_env.bin}:$PATH", slurm.setup_lines],
    )


def socket_to(browser: Browser, path: str) -> ClientConnection:
    # labgate's session cookie only (the apps' own cookies repeat across sessions' paths).
    cookie = "; ".join(
        f"{c.name}={c.value}" for c in browser.http.cookies.jar if c.name.startswith("labgate_")
    )
    return connect(
        f"ws://{browser.server.host}:{browser.server.port}{path}",
        additional_headers={"Cookie": cookie},
        origin=browser.server.url,  # type: ignore[arg-type]
        open_timeout=30,
        max_size=None,
    )


def run_in_kernel(browser: Browser, base: str, code: str) -> str:
    """Execute ``code`` in a new kernel over JupyterLab's WebSocket; its stdout."""
    kernel = browser.post(f"{base}api/kernels", json={"name": "python3"})
    assert kernel.status_code == 201, kernel.text
    kernel_id = kernel.json()["id"]
    msg_id = uuid.uuid4().hex
    request = {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": "test",
            "session": uuid.uuid4().hex,
            "version": "5.3",
            "date": "",
        },
        "parent_header": {},
        "metadata": {},
        "content": {"code": code, "silent": False, "store_history": False},
        "channel": "shell",
        "buffers": [],
    }
    output = []
    with socket_to(browser, f"{base}api/kernels/{kernel_id}/channels") as ws:
        ws.send(json.dumps(request))
        deadline = time.monotonic() + PATIENCE_SECONDS
        while time.monotonic() < deadline:
            message = json.loads(ws.recv(timeout=PATIENCE_SECONDS))
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if message["msg_type"] == "stream":
                output.append(message["content"]["text"])
            if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                break
    return "".join(output)


def test_jupyterlab_through_the_proxy(
    server: RunningServer, admin: Browser, bob: Browser, box: int, sshd: SshServer
) -> None:
    session = launch(admin, box, "jupyterlab", form={"workdir": "~"})
    running = wait_for(admin, session["id"], "running")
    base = f"/s/{session['id']}/"
    assert running["url"] == f"{base}lab"

    # The page and the API answer through the proxy, the token added by labgate.
    page = admin.get(running["url"])
    assert page.status_code == 200
    assert "JupyterLab" in page.text
    assert admin.get(f"{base}api/status").json()["kernels"] == 0

    # A kernel runs code over its WebSocket, relayed by the proxy.
    assert run_in_kernel(admin, base, "print(6 * 7)").strip() == "42"

    # Nobody else gets anything: pages, API, static files, WebSockets; nor anonymous.
    kernels = admin.get(f"{base}api/kernels").json()
    for path in (
        running["url"],
        f"{base}api/kernels",
        f"{base}static/lab/package.json",
        f"{base}api/contents",
    ):
        assert bob.get(path).status_code == 403, path
        assert httpx.get(server.url + path).status_code == 401, path
    assert bob.post(f"{base}api/kernels", json={"name": "python3"}).status_code == 403
    with pytest.raises(InvalidStatus) as refused:
        socket_to(bob, f"{base}api/kernels/{kernels[0]['id']}/channels")
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        connect(
            f"ws://{server.host}:{server.port}{base}api/kernels/{kernels[0]['id']}/channels",
            origin=server.url,  # type: ignore[arg-type]
        )

    admin.post(f"/api/v1/sessions/{session['id']}/stop")
    wait_for(admin, session["id"], "stopped")
    assert admin.get(f"{base}api/status").status_code == 410


def test_tensorboard_shows_the_scalars_of_a_log_directory(
    admin: Browser, box: int, sshd: SshServer, apps_env: AppsEnv
) -> None:
    with user_directory(sshd.user) as home:
        logdir = home / "tb-runs"
        write_scalars(apps_env, logdir / "run1", sshd.user, tag="loss", values=(1.0, 0.5, 0.25))
        session = launch(admin, box, "tensorboard", form={"logdir": str(logdir)})
        running = wait_for(admin, session["id"], "running")
        base = f"/s/{session['id']}"

        def tags() -> dict[str, Any]:
            answer = admin.get(f"{base}/data/plugin/scalars/tags")
            assert answer.status_code == 200, answer.text
            found: dict[str, Any] = answer.json()
            assert "run1" in found, found
            return found

        assert "loss" in eventually_sync(tags, what="TensorBoard's tags of run1")["run1"]
        scalars = admin.get(
            f"{base}/data/plugin/scalars/scalars", params={"run": "run1", "tag": "loss"}
        )
        assert [point[2] for point in scalars.json()] == [1.0, 0.5, 0.25]
        assert admin.get(running["url"]).status_code == 200
        admin.post(f"/api/v1/sessions/{session['id']}/stop")
        wait_for(admin, session["id"], "stopped")


def test_jupyterlab_as_a_slurm_job(
    admin: Browser, cluster_box: int, slurm: SlurmCluster, sshd: SshServer
) -> None:
    session = launch(
        admin,
        cluster_box,
        "jupyterlab",
        launcher="slurm",
        form={"cpus": 1, "memory_gb": 1, "walltime_minutes": 20, "partition": "debug"},
    )
    running = wait_for(admin, session["id"], "running")
    assert any(line.startswith("Submitted to SLURM (job ") for line in running["progress"])
    assert any(f"Running on {slurm.node_name}" in line for line in running["progress"])
    base = f"/s/{session['id']}/"
    assert (
        run_in_kernel(admin, base, "import os; print(os.environ['SLURM_JOB_ID'])").strip().isdigit()
    )
    # The time limit bounds the session.
    assert running["ends_at"] is not None
    # JupyterLab listens on a socket in a directory only its user can open; another
    # account of the node reaches neither it nor (without the secret) the job's relay.
    folder = sshd.user.home / ".labgate" / "sessions" / session["id"]
    path = Path(re.findall(r"socket (\S+),", folder.joinpath("job.log").read_text())[0])
    assert path.is_socket()
    assert (path.parent.stat().st_uid, path.parent.stat().st_mode & 0o777) == (
        sshd.user.uid,
        0o700,
    )
    tried = subprocess.run(
        ["runuser", "-u", "nobody", "--", "python3", "-c", _CONNECT_UNIX, str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert "PermissionError" in tried.stderr, tried
    node, relay_port = folder.joinpath("endpoint").read_text().split()
    assert fetch_as_nobody(node, int(relay_port)) == "b''"
    admin.post(f"/api/v1/sessions/{session['id']}/stop")
    stopped = wait_for(admin, session["id"], "stopped")
    assert stopped["message"] == "stopped by you"


def test_slurm_refusals_and_cancelling_a_pending_job(
    admin: Browser, cluster_box: int, slurm: SlurmCluster
) -> None:
    # Above the partition's MaxTime: the scheduler refuses it, and the session says so.
    refused = launch(
        admin,
        cluster_box,
        "jupyterlab",
        launcher="slurm",
        form={"walltime_minutes": 600, "partition": "debug"},
    )
    failed = wait_for(admin, refused["id"], "failed")
    assert "scheduler refused" in failed["message"]
    assert "time limit" in failed["message"].lower()

    # Asking for more CPUs than the node has: pending for ever, until cancelled.
    waiting = launch(
        admin,
        cluster_box,
        "webapp",
        launcher="slurm",
        form={"app_command": "python3 -m http.server {port}", "cpus": slurm.cpus * 64},
    )

    def decided() -> dict[str, Any] | None:
        outcome = session_of(admin, waiting["id"])
        pending = any("Pending" in line for line in outcome["progress"])
        return outcome if outcome["state"] == "failed" or pending else None

    outcome = eventually_sync(decided, what="the job pending or refused")
    if outcome["state"] == "failed":  # a scheduler that refuses such a job at once
        assert "scheduler refused" in outcome["message"] or "will not start" in outcome["message"]
    else:
        assert outcome["state"] == "pending"
        admin.post(f"/api/v1/sessions/{waiting['id']}/stop")
        assert wait_for(admin, waiting["id"], "stopped")["state"] == "stopped"


def session_of(browser: Browser, session_id: str) -> dict[str, Any]:
    answer = browser.get(f"/api/v1/sessions/{session_id}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def wait_for_line(browser: Browser, session_id: str, line: str, times: int = 1) -> dict[str, Any]:
    """The session once its progress shows ``line`` ``times`` times."""

    def shown() -> dict[str, Any]:
        session = session_of(browser, session_id)
        assert session["progress"].count(line) >= times, session
        return session

    return eventually_sync(shown, what=f"{line!r} {times} times in {session_id}'s progress")


def job_id(session: dict[str, Any]) -> str:
    for line in session["progress"]:
        found = re.match(r"Submitted to SLURM \(job (\d+)\)", line)
        if found:
            return found.group(1)
    raise AssertionError(f"no job in {session['progress']}")


def current_job_state(cluster: SlurmCluster, job: str) -> str:
    """The job's state from ``scontrol``."""
    shown = cluster.command("scontrol", "-o", "show", "job", job)
    found = re.search(r"JobState=(\S+)", shown.stdout)
    assert found, shown.stdout + shown.stderr
    return found.group(1)


def job_state(cluster: SlurmCluster, job: str, *states: str) -> str:
    """The job's state from ``scontrol``, once it is one of ``states``."""

    def one_of_states() -> str:
        state = current_job_state(cluster, job)
        assert state in states, state
        return state

    return eventually_sync(one_of_states, what=f"job {job} {' or '.join(states)}")


def test_a_scheduler_outage_is_waited_out(
    admin: Browser, cluster_box: int, slurm: SlurmCluster
) -> None:
    session = launch(
        admin, cluster_box, "webapp", launcher="slurm", form={"app_command": SLOW_APP, **JOB}
    )
    sid = session["id"]
    job = job_id(wait_for(admin, sid, "starting"))

    # While it starts: the launch waits, says so once, and carries on.
    with slurm.controller_stopped():
        wait_for_line(admin, sid, ASKING_AGAIN)
        assert session_of(admin, sid)["state"] == "starting"
    running = wait_for(admin, sid, "running")
    assert "The scheduler answers again." in running["progress"]
    assert admin.get(f"/s/{sid}/").status_code == 200

    # While it runs: the reconciler waits too; the app is served all along.
    with slurm.controller_stopped():
        waiting = wait_for_line(admin, sid, ASKING_AGAIN, times=2)
        assert waiting["state"] == "running", waiting
        assert admin.get(f"/s/{sid}/").status_code == 200
    wait_for_line(admin, sid, "The scheduler answers again.", times=2)
    assert session_of(admin, sid)["state"] == "running"
    assert current_job_state(slurm, job) == "RUNNING"
    assert admin.get(f"/s/{sid}/").status_code == 200

    admin.post(f"/api/v1/sessions/{sid}/stop")
    wait_for(admin, sid, "stopped")
    job_state(slurm, job, "CANCELLED", "COMPLETED")


def test_a_long_scheduler_outage_gives_the_session_up(
    admin: Browser, cluster_box: int, slurm: SlurmCluster
) -> None:
    session = launch(
        admin,
        cluster_box,
        "webapp",
        launcher="slurm",
        form={"app_command": "python3 -m http.server {port}", **JOB},
    )
    sid = session["id"]
    job = job_id(wait_for(admin, sid, "running"))

    with slurm.controller_stopped():
        time.sleep(OUTAGE_SECONDS)  # the outage outlasts its bound; nothing is given up sooner
        given_up = wait_for(admin, sid, "stopping")
        assert "The scheduler did not answer for" in given_up["message"]
        assert "Unable to contact slurm controller" in given_up["message"]
        assert "cancelled as soon as the scheduler answers again" in given_up["message"]
        # Not served any more, although the job may still run.
        assert admin.get(f"/s/{sid}/").status_code == 503
        # It stays so while slurmctld is away (scancel cannot reach it either).
        time.sleep(5)
        assert session_of(admin, sid)["state"] == "stopping"

    failed = wait_for(admin, sid, "failed")
    assert failed["message"] == given_up["message"]
    job_state(slurm, job, "CANCELLED")


# Run as another account of the node: fetch a page from host:port, the bytes given first
# (as text) before the request; what came back (empty: closed without an answer).
_FETCH = """
import socket, sys
host, port, first = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
try:
    connection = socket.create_connection((host, port), timeout=30)
except OSError as error:
    print("refused:", error)
    sys.exit()
connection.sendall(first + b"GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
answer = b""
try:
    while True:
        piece = connection.recv(65536)
        if not piece:
            break
        answer += piece
except OSError as error:
    print("reset:", error)
print(repr(answer[:60]))
"""


_CONNECT_UNIX = "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])"


def fetch_as_nobody(host: str, port: int, first: str = "") -> str:
    done = subprocess.run(
        ["runuser", "-u", "nobody", "--", "python3", "-c", _FETCH, host, str(port), first],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def listening_addresses(port: int) -> set[str]:
    """The local addresses (as /proc/net/tcp writes them: 0100007F is 127.0.0.1) that a
    TCP socket of this machine listens on at ``port``."""
    found = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        for line in table.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_a_slurm_app_is_reached_through_its_relay_only(
    admin: Browser, cluster_box: int, sshd: SshServer
) -> None:
    """A web app without a login of its own, as a SLURM job: labgate serves it, another
    account of the node gets nothing from the job's endpoint, and the app listens on
    the node's loopback alone."""
    session = launch(
        admin,
        cluster_box,
        "webapp",
        launcher="slurm",
        form={"app_command": "python3 -m http.server --bind {host} {port}", **JOB},
    )
    sid = session["id"]
    wait_for(admin, sid, "running")
    page = admin.get(f"/s/{sid}/")
    assert page.status_code == 200
    assert "Directory listing" in page.text

    folder = sshd.user.home / ".labgate" / "sessions" / sid
    node, relay_port = folder.joinpath("endpoint").read_text().split()
    # Another account reaches the relay, which closes without a byte: without the
    # secret, with a wrong one, with a half of one.
    for first in ("", "labgate-relay-1 " + "0" * 64 + "\n", "labgate-relay-1 "):
        assert fetch_as_nobody(node, int(relay_port), first) == "b''", first
    log = folder.joinpath("job.log").read_text()
    app_port = int(re.findall(r"port (\d+) \(loopback\)", log)[0])
    # The relay listens on every interface, the app on loopback only.
    assert listening_addresses(int(relay_port)) == {"00000000"}
    assert listening_addresses(app_port) == {"0100007F"}
    # labgate still serves it.
    assert admin.get(f"/s/{sid}/").status_code == 200
    admin.post(f"/api/v1/sessions/{sid}/stop")
    wait_for(admin, sid, "stopped")


def test_bad_batch_forms_are_refused(admin: Browser, cluster_box: int) -> None:
    for form, field in (
        ({"cpus": -1}, "cpus"),
        ({"walltime_minutes": 0}, "walltime_minutes"),
        ({"partition": "debug; rm -rf ~"}, "partition"),
        ({"gpus": "two"}, "gpus"),
    ):
        answer = admin.post(
            "/api/v1/sessions",
            json={
                "template": "jupyterlab",
                "resource_id": cluster_box,
                "launcher": "slurm",
                "form": form,
            },
        )
        assert answer.status_code == 422, (form, answer.text)
        fields = [d["field"] for d in answer.json()["error"]["details"]]
        assert f"body.form.{field}" in fields
    unknown = admin.post(
        "/api/v1/sessions",
        json={"template": "jupyterlab", "resource_id": cluster_box, "launcher": "kubernetes"},
    )
    assert unknown.status_code == 422


def test_jupyterlab_behind_a_jump_host(
    tmp_path: Path,
    network: JumpNetwork,
    jump_sshd: SshServer,
    target_sshd: SshServer,
    apps_env: AppsEnv,
) -> None:
    """The target is reachable only through the jump host (network namespaces): the
    launch, the proxy's channel to the app's socket and the kernel's WebSocket all go
    through the chain."""
    # A server of its own: daemons are found by their socket's path, and this machine
    # plays every host, so the target's daemon must not be the one "box" started.
    with labgate_server(tmp_path, ADMIN_PASSWORD) as server:
        admin = Browser(server, "admin", ADMIN_PASSWORD)
        hops = [{"host": jump_sshd.host, "port": jump_sshd.port, "auth_method": "key"}]
        rid = admin.add_resource(
            "behind-gw",
            target_sshd,
            auth_method="key",
            hops=hops,
            setup_lines=[f"export PATH={apps_env.bin}:$PATH"],
        )
        resource = admin.resource(rid)
        for ssh in (jump_sshd, target_sshd):
            admin.trust_host_key(rid, ssh)
        for hop, ssh in ((resource["hops"][0]["id"], jump_sshd), ("target", target_sshd)):
            remembered = admin.put(
                f"/api/v1/resources/{rid}/remembered-keys/{hop}",
                json={"private_key": ssh.client_key_path.read_text()},
            )
            assert remembered.status_code == 200, remembered.text
        session = launch(admin, rid, "jupyterlab")
        wait_for(admin, session["id"], "running")
        base = f"/s/{session['id']}/"
        # The kernel runs on the target: its network namespace has only its own link.
        links = run_in_kernel(
            admin, base, "import os; print(' '.join(sorted(os.listdir('/sys/class/net'))))"
        )
        assert set(links.split()) == {"lo", network.target_link}
        admin.post(f"/api/v1/sessions/{session['id']}/stop")
        wait_for(admin, session["id"], "stopped")
        admin.close()
