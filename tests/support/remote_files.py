"""A resource for file-transfer tests: the test account on a real sshd on loopback,
reached with the labgate user's generated key (so API calls connect by themselves, as
they do for keys and certificates), and fresh directories that account owns.

Its fixtures (``sshd``, ``runtime_dir``, ``alice``, ``work``) are a plugin of the test
suite (``pytest_plugins`` in ``tests/conftest.py``); a module's own fixture of the same
name takes precedence.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.daemons import daemon_runtime_dir
from tests.support.sshd import SshServer, TestUser, ensure_test_user, running_sshd


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with running_sshd(tmp_path_factory.mktemp("sshd"), ensure_test_user()) as server:
        yield server


@pytest.fixture
def runtime_dir() -> Iterator[str]:
    """Where the agents keep their daemons (killed by PID afterwards)."""
    with daemon_runtime_dir("labgate-transfers-") as path:
        yield path


@pytest.fixture
async def alice(accounts: AccountFactory) -> AsyncIterator[LoggedIn]:
    yield await accounts.login("alice")
    await accounts.close()


@pytest.fixture
def work(sshd: SshServer) -> Iterator[Path]:
    """A fresh directory of the test account's."""
    with account_dir(sshd.user) as path:
        yield path


async def add_ssh_resource(user: LoggedIn, server: SshServer, name: str) -> int:
    """An own resource of ``user`` on ``server``: their labgate key authorised there,
    the host key trusted, so nothing needs typing to connect."""
    key = await user.get("/api/v1/users/me/ssh-key")
    if key.status_code == 404:
        key = await user.post("/api/v1/users/me/ssh-key")
    assert key.status_code in (200, 201), key.text
    server.authorize_key(key.json()["public_key"])
    created = await user.post(
        "/api/v1/resources",
        json={
            "name": name,
            "host": server.host,
            "port": server.port,
            "username": server.user.name,
            "auth_method": "generated-key",
        },
    )
    assert created.status_code == 201, created.text
    resource_id: int = created.json()["id"]
    trusted = await user.post(
        f"/api/v1/resources/{resource_id}/host-keys",
        json={"host": server.host, "port": server.port, "public_key": server.host_public_key},
    )
    assert trusted.status_code == 201, trusted.text
    return resource_id


@contextlib.contextmanager
def account_dir(user: TestUser, prefix: str = "labgate-test-") -> Iterator[Path]:
    """A new directory in the test account's home, owned by it; removed afterwards."""
    path = user.home / f"{prefix}{secrets.token_hex(4)}"
    path.mkdir(mode=0o755)
    chown_tree(path, user)
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-R", "-i", str(path)], capture_output=True, check=False)
        for inner in [path, *path.rglob("*")]:
            if inner.is_dir() and not inner.is_symlink():
                inner.chmod(0o755)
        shutil.rmtree(path, ignore_errors=True)


def chown_tree(path: Path, user: TestUser) -> None:
    """Give ``path`` and everything below it to the test account (tests write as root)."""
    for inner in [path, *path.rglob("*")]:
        with contextlib.suppress(FileNotFoundError):
            os.chown(inner, user.uid, user.gid, follow_symlinks=False)


@contextlib.contextmanager
def small_disk(directory: Path, user: TestUser, size: str = "2m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``directory`` (created), writable by the account;
    unmounted afterwards, whatever happened."""
    directory.mkdir()
    mounted = subprocess.run(
        [
            "mount",
            "-t",
            "tmpfs",
            "-o",
            f"size={size},uid={user.uid},gid={user.gid},mode=0755",
            "tmpfs",
            str(directory),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=True)


def error_of(response: Any) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error
