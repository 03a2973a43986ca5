"""Tests for tests/support/sshd.py: a real OpenSSH sshd on 127.0.0.1, checked with real clients.

The OpenSSH client (``ssh``, ``ssh-keyscan``, ``ssh-keygen``) checks key logins and the
host key; asyncssh checks password and keyboard-interactive logins (through PAM).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.eventually import eventually_sync
from tests.support.sshd import SshServer, TestUser, ensure_test_user, running_sshd


@pytest.fixture(scope="module")
def test_user() -> TestUser:
    return ensure_test_user()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory, test_user: TestUser) -> Iterator[SshServer]:
    with running_sshd(tmp_path_factory.mktemp("sshd"), test_user) as server:
        yield server


def _ssh(server: SshServer, *command: str, key: Path | None = None) -> str:
    result = subprocess.run(
        server.ssh_command(*command, key=key),
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, f"ssh failed: {result.stderr}\nsshd log:\n{server.log}"
    return result.stdout


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet collected by PID 1) has ended."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_test_user_is_a_real_unlocked_account(test_user: TestUser) -> None:
    assert test_user == ensure_test_user()  # idempotent
    assert test_user.name == "labgate-test"
    assert test_user.uid > 0
    assert test_user.home.is_dir()
    status = subprocess.run(
        ["passwd", "--status", test_user.name], capture_output=True, text=True, check=True
    )
    assert status.stdout.split()[1] == "P"  # a usable password, not locked (L) or none (NP)


def test_key_login_runs_commands_as_the_test_user(sshd: SshServer) -> None:
    assert sshd.host == "127.0.0.1"
    assert sshd.known_hosts_line() == (
        f"[127.0.0.1]:{sshd.port} {' '.join(sshd.host_public_key.split()[:2])}"
    )
    # The documented client options, spelt out rather than through ssh_command().
    known_hosts = sshd.directory / "known_hosts.test"
    known_hosts.write_text(sshd.known_hosts_line() + "\n")
    result = subprocess.run(
        [
            "ssh",
            "-F",
            "none",
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-i",
            str(sshd.client_key_path),
            "-p",
            str(sshd.port),
            f"{sshd.user.name}@127.0.0.1",
            "id -un",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, f"{result.stderr}\nsshd log:\n{sshd.log}"
    assert result.stdout.strip() == sshd.user.name
    assert f"Accepted publickey for {sshd.user.name}" in sshd.log


def test_python3_runs_on_the_account(sshd: SshServer) -> None:
    assert _ssh(sshd, "python3 --version").startswith("Python 3.")


def test_host_key_fingerprint_matches_keyscan(sshd: SshServer) -> None:
    scan = subprocess.run(
        ["ssh-keyscan", "-t", "ed25519", "-p", str(sshd.port), "127.0.0.1"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert scan.stdout.split()[1:3] == sshd.host_public_key.split()[:2]
    fingerprint = subprocess.run(
        ["ssh-keygen", "-lf", "-"],
        input=scan.stdout,
        capture_output=True,
        text=True,
        check=True,
    )
    assert fingerprint.stdout.split()[1] == sshd.host_key_fingerprint
    assert sshd.host_key_fingerprint.startswith("SHA256:")


def test_wrong_host_key_is_refused(sshd: SshServer, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", str(other)], check=True)
    key_type, key_data = (tmp_path / "other_key.pub").read_text().split()[:2]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {key_type} {key_data}\n")
    argv = sshd.ssh_command("true")
    argv[argv.index(f"UserKnownHostsFile={sshd.known_hosts_path}")] = (
        f"UserKnownHostsFile={known_hosts}"
    )
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    assert result.returncode == 255
    assert "HOST IDENTIFICATION HAS CHANGED" in result.stderr


def test_authorize_key_adds_a_key(sshd: SshServer, tmp_path: Path) -> None:
    key = tmp_path / "extra_key"
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", str(key)], check=True)
    denied = subprocess.run(
        sshd.ssh_command("true", key=key), capture_output=True, text=True, check=False
    )
    assert denied.returncode == 255
    assert "Permission denied" in denied.stderr

    sshd.authorize_key((tmp_path / "extra_key.pub").read_text())
    assert _ssh(sshd, "id -un", key=key).strip() == sshd.user.name


@pytest.mark.parametrize("method", ["password", "keyboard-interactive"])
async def test_password_login_through_pam(sshd: SshServer, method: str) -> None:
    asyncssh = pytest.importorskip("asyncssh", reason="asyncssh checks password logins")
    async with asyncssh.connect(
        sshd.host,
        sshd.port,
        username=sshd.user.name,
        password=sshd.user.password,
        known_hosts=asyncssh.import_known_hosts(sshd.known_hosts_line() + "\n"),
        client_keys=None,
        agent_path=None,
        preferred_auth=method,
        config=None,
    ) as conn:
        result = await conn.run("id -un", check=True)
    assert result.stdout == f"{sshd.user.name}\n"


async def test_wrong_password_is_refused(sshd: SshServer) -> None:
    asyncssh = pytest.importorskip("asyncssh", reason="asyncssh checks password logins")
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect(
            sshd.host,
            sshd.port,
            username=sshd.user.name,
            password="not the password",
            known_hosts=asyncssh.import_known_hosts(sshd.known_hosts_line() + "\n"),
            client_keys=None,
            agent_path=None,
            preferred_auth="password",
            config=None,
        )


def test_root_login_is_refused(sshd: SshServer) -> None:
    argv = sshd.ssh_command("true")
    argv[argv.index("-l") + 1] = "root"
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    assert result.returncode == 255


def test_extra_config_overrides_defaults(tmp_path: Path, test_user: TestUser) -> None:
    extra = "PasswordAuthentication no\nMatch User nobody\n    PermitTTY no\n"
    with running_sshd(tmp_path, test_user, extra_config=extra) as server:
        config = server.config_path.read_text()
        assert "PasswordAuthentication yes" not in config
        assert config.rstrip().endswith("Match User nobody\n    PermitTTY no")
        assert _ssh(server, "id -un").strip() == test_user.name
        effective = subprocess.run(
            ["/usr/sbin/sshd", "-T", "-f", str(server.config_path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "passwordauthentication no" in effective.splitlines()


def test_extra_config_may_not_move_the_server(tmp_path: Path, test_user: TestUser) -> None:
    with (
        pytest.raises(ValueError, match="Port"),
        running_sshd(tmp_path, test_user, extra_config="Port 22"),
    ):
        pass


def test_servers_are_independent(tmp_path: Path, test_user: TestUser, sshd: SshServer) -> None:
    with running_sshd(tmp_path, test_user) as other:
        assert other.port != sshd.port
        assert other.host_key_fingerprint != sshd.host_key_fingerprint
        assert other.authorized_keys_path != sshd.authorized_keys_path
        # Each server trusts only its own client key.
        denied = subprocess.run(
            other.ssh_command("true", key=sshd.client_key_path),
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        assert denied.returncode == 255
        assert _ssh(other, "id -un").strip() == test_user.name


def test_server_and_sessions_are_gone_after_exit(tmp_path: Path, test_user: TestUser) -> None:
    with running_sshd(tmp_path, test_user) as server:
        pid = server.pid
        assert _alive(pid)
        # A session that would outlive the listener: sshd's children call setsid().
        session = subprocess.Popen(
            server.ssh_command("echo $$; exec sleep 300"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert session.stdout is not None
        remote_pid = int(session.stdout.readline())
        assert _alive(remote_pid)
        authorized_keys = server.authorized_keys_path
        assert authorized_keys.exists()
    try:
        eventually_sync(lambda: not _alive(pid), what=f"sshd (pid {pid}) ended")
        eventually_sync(
            lambda: not _alive(remote_pid), what=f"the command (pid {remote_pid}) ended"
        )
        assert session.wait(timeout=30) != 0  # its connection was cut
        assert not authorized_keys.exists()
        assert "Received signal 15; terminating." in server.log
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()
