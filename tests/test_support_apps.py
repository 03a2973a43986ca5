"""Tests for tests/support/apps.py: JupyterLab and TensorBoard from the apps environment,
run as the test account the way a session on a resource runs them (a base URL, a token,
TCP on loopback or a Unix socket), checked through their own HTTP APIs."""

from __future__ import annotations

import os
import re
import secrets
import socket
from collections.abc import Callable
from pathlib import Path
from subprocess import Popen
from typing import TypeVar

import httpx
import pytest

from tests.support.apps import REQUIREMENTS, AppsEnv, ensure_apps_env, write_scalars
from tests.support.eventually import NotEventually, eventually_sync
from tests.support.processes import (
    Process,
    alive,
    descendants,
    run_as,
    running_as,
    skip_unless_root,
    user_directory,
)
from tests.support.sshd import TestUser, ensure_test_user

T = TypeVar("T")


@pytest.fixture(scope="module")
def user() -> TestUser:
    return ensure_test_user()


def _pins() -> dict[str, str]:
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        found = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if found:
            pins[found[1].lower()] = found[2]
    return pins


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(what: str, probe: Callable[[], T | None], process: Popen[bytes], log_path: Path) -> T:
    """Poll ``probe`` until it returns something; fail with the app's log if the app
    exits or the tests' patience runs out."""

    def answered() -> T | None:
        try:
            found = probe()
        except httpx.TransportError:
            found = None
        if found is None and process.poll() is not None:
            pytest.fail(f"exited ({process.returncode}) before {what}:\n{log_path.read_text()}")
        return found

    try:
        return eventually_sync(answered, what=what)
    except NotEventually as exc:
        pytest.fail(f"{exc}:\n{log_path.read_text()}")


def _jupyter_argv(env: AppsEnv, root_dir: Path, token: str, base_url: str) -> list[str]:
    return [
        str(env.jupyter_lab),
        "--no-browser",
        f"--ServerApp.root_dir={root_dir}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.base_url={base_url}",
    ]


def _status_ok(http: httpx.Client) -> bool | None:
    return True if http.get("api/status").status_code == 200 else None


def _kernel_processes(below: list[Process]) -> list[Process]:
    found = []
    for process in below:
        try:
            arguments = Path(f"/proc/{process[0]}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"ipykernel_launcher" in argument for argument in arguments):
            found.append(process)
    return found


def _owner(pid: int) -> int:
    return os.stat(f"/proc/{pid}").st_uid


def _one_kernel_of(user: TestUser, server: Popen[bytes], log_path: Path) -> None:
    """Wait for the one kernel process below ``server``; it runs as ``user``."""
    kernels = _wait(
        "the kernel's process",
        lambda: _kernel_processes(descendants(server.pid)) or None,
        server,
        log_path,
    )
    assert len(kernels) == 1, kernels
    assert _owner(kernels[0][0]) == user.uid


def test_the_environment_has_the_pinned_versions_and_the_account_can_run_it(
    apps_env: AppsEnv, user: TestUser
) -> None:
    pins = _pins()
    for distribution in ("jupyterlab", "tensorboard", "numpy"):
        assert apps_env.version(distribution) == pins[distribution]
    assert (apps_env.path / "labgate-test-apps.txt").read_bytes() == REQUIREMENTS.read_bytes()
    # The account, not only root, runs it.
    result = run_as(user, [str(apps_env.jupyter_lab), "--version"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == pins["jupyterlab"]
    result = run_as(user, [str(apps_env.tensorboard), "--version_tb"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == pins["tensorboard"]


def test_ensuring_it_again_changes_nothing(apps_env: AppsEnv) -> None:
    stamp = apps_env.path / "labgate-test-apps.txt"
    before = stamp.stat().st_mtime_ns
    assert ensure_apps_env() == apps_env
    assert stamp.stat().st_mtime_ns == before


def test_jupyterlab_on_a_port_with_a_base_url_and_a_token(
    apps_env: AppsEnv, user: TestUser
) -> None:
    token = secrets.token_hex(16)
    port = _free_port()
    with user_directory(user, "labgate-jupyter-") as work:
        log_path = work / "jupyter.log"
        argv = [
            *_jupyter_argv(apps_env, work, token, "/s/abc/"),
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
        ]
        base = f"http://127.0.0.1:{port}/s/abc/"
        with (
            running_as(user, argv, log_path=log_path, cwd=work) as server,
            httpx.Client(base_url=base, headers={"Authorization": f"token {token}"}) as http,
            httpx.Client(base_url=base) as anonymous,
        ):
            _wait("api/status answering 200", lambda: _status_ok(http), server, log_path)
            assert _owner(server.pid) == user.uid
            # The token is what lets a client in; labgate's proxy will inject it.
            assert anonymous.get("api/status").status_code == 403
            assert http.get(f"http://127.0.0.1:{port}/api/status").status_code == 404

            created = http.post("api/kernels", json={"name": "python3"})
            assert created.status_code == 201, created.text
            kernel_id = created.json()["id"]
            kernel = http.get(f"api/kernels/{kernel_id}")
            assert kernel.status_code == 200
            assert kernel.json()["name"] == "python3"
            # (Its execution_state stays "starting" until a client opens its WebSocket.)
            assert [k["id"] for k in http.get("api/kernels").json()] == [kernel_id]
            _one_kernel_of(user, server, log_path)
            below = descendants(server.pid)
        # Stopped by PID, with everything it started.
        assert server.returncode is not None
        assert not [p for p in below if alive(p)], below


def test_jupyterlab_on_a_unix_socket_only_its_user_can_open(
    apps_env: AppsEnv, user: TestUser
) -> None:
    token = secrets.token_hex(16)
    with user_directory(user, "labgate-jupyter-") as work:
        sock = work / "jupyter.sock"
        log_path = work / "jupyter.log"
        argv = [*_jupyter_argv(apps_env, work, token, "/s/ghi/"), f"--ServerApp.sock={sock}"]
        transport = httpx.HTTPTransport(uds=str(sock))
        with (
            running_as(user, argv, log_path=log_path, cwd=work) as server,
            httpx.Client(
                transport=transport,
                base_url="http://localhost/s/ghi/",
                headers={"Authorization": f"token {token}"},
            ) as http,
        ):
            _wait("api/status on the socket", lambda: _status_ok(http), server, log_path)
            info = sock.stat()
            assert info.st_uid == user.uid
            assert info.st_mode & 0o777 == 0o600  # JupyterLab's default sock_mode
            created = http.post(
                "api/sessions",
                json={
                    "path": "probe.ipynb",
                    "type": "notebook",
                    "kernel": {"name": "python3"},
                },
            )
            assert created.status_code == 201, created.text
            assert created.json()["kernel"]["name"] == "python3"
            _one_kernel_of(user, server, log_path)
            below = descendants(server.pid)
        assert not [p for p in below if alive(p)], below
        # JupyterLab leaves its socket file behind when stopped by SIGTERM, and nobody
        # listens there any more: a launcher removes a stale socket before a new start.
        assert sock.is_socket()
        with pytest.raises(httpx.ConnectError), httpx.Client(transport=transport) as stale:
            stale.get("http://localhost/s/ghi/api/status")


def test_write_scalars_makes_a_log_directory_owned_by_the_account(
    apps_env: AppsEnv, user: TestUser
) -> None:
    with user_directory(user, "labgate-tb-") as work:
        logdir = work / "runs" / "run1"
        points = write_scalars(apps_env, logdir, user, tag="accuracy", values=[0.1, 0.7])
        assert points == [(0, 0.1), (1, 0.7)]
        events = list(logdir.glob("events.out.tfevents.*"))
        assert len(events) == 1
        assert events[0].stat().st_uid == user.uid
        assert logdir.stat().st_uid == user.uid


def test_tensorboard_with_a_path_prefix_lists_the_scalars_written(
    apps_env: AppsEnv, user: TestUser
) -> None:
    port = _free_port()
    with user_directory(user, "labgate-tb-") as work:
        logdir = work / "runs"
        points = write_scalars(apps_env, logdir / "run1", user, tag="loss", values=[1, 0.5, 0.25])
        log_path = work / "tensorboard.log"
        argv = [
            str(apps_env.tensorboard),
            f"--logdir={logdir}",
            "--host=127.0.0.1",
            f"--port={port}",
            "--path_prefix=/s/def",
        ]
        base = f"http://127.0.0.1:{port}/s/def/"

        def tags(http: httpx.Client) -> dict[str, object] | None:
            response = http.get("data/plugin/scalars/tags")
            body = response.json() if response.status_code == 200 else {}
            return body if "run1" in body else None  # TensorBoard loads logs in the background

        with (
            running_as(user, argv, log_path=log_path, cwd=work) as server,
            httpx.Client(base_url=base) as http,
        ):
            found = _wait(
                "the run in data/plugin/scalars/tags", lambda: tags(http), server, log_path
            )
            assert found == {"run1": {"loss": {"displayName": "", "description": ""}}}
            scalars = http.get("data/plugin/scalars/scalars", params={"run": "run1", "tag": "loss"})
            assert scalars.status_code == 200
            assert [(step, value) for _, step, value in scalars.json()] == points
            assert http.get(f"http://127.0.0.1:{port}/data/plugin/scalars/tags").status_code == 404
            assert _owner(server.pid) == user.uid
            below = descendants(server.pid)
        assert server.returncode is not None
        assert not [p for p in below if alive(p)], below


def test_fixtures_are_skipped_with_a_reason_when_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    skip_unless_root("the apps environment")  # as root: nothing happens
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(pytest.skip.Exception, match="the apps environment needs root"):
        skip_unless_root("the apps environment")
