"""A real OpenSSH server on 127.0.0.1 for the tests, logging in to a real local account.

``ensure_test_user()`` creates the local account ``labgate-test`` (once; later calls only
reset its password) and returns a ``TestUser``. ``running_sshd(tmp_dir, user)`` starts a
private ``/usr/sbin/sshd`` with a configuration, host key and client key of its own in a
new directory under ``tmp_dir``, yields an ``SshServer`` once the port answers with an SSH
banner, and stops the server and every process it forked (one per connection) at exit.
The system's sshd service and ``/etc/ssh/sshd_config`` are never touched.

Where the authorized keys live: sshd opens the ``AuthorizedKeysFile`` with the *user's*
privileges, so the file cannot sit in pytest's ``tmp_path`` (``/tmp/pytest-of-root`` is
mode 0700), and with ``StrictModes yes`` every directory above it must be owned by root or
the user and not be group- or world-writable, which rules out anything under ``/tmp``.
So each server gets its own file ``~/.ssh/authorized_keys.labgate-<random>`` in the test
user's home (owned by the user, mode 0600; removed at exit) and keeps ``StrictModes yes``,
as a production sshd would.

``extra_config`` is added to the generated ``sshd_config``. sshd takes the *first* value
it reads for a keyword, so the global lines of ``extra_config`` replace the defaults with
the same keyword (e.g. ``PasswordAuthentication no``); from its first ``Match`` line on it
goes at the very end. The keywords the fixture itself depends on (``Port``,
``ListenAddress``, ``HostKey``, ``PidFile``, ``AuthorizedKeysFile``) cannot be changed.

``netns`` runs sshd inside that network namespace (``ip netns exec``; see
``tests/support/netns.py``) and ``listen_address`` is the address it listens on there
(``127.0.0.1`` by default). The port is chosen free in that namespace, and the server is
ready once a connection made from inside the namespace reads its SSH banner.
``ip netns exec`` becomes sshd (no fork), so stopping by PID works the same.

``program`` is the sshd binary, or a symlink to it: sshd uses its file name as the PAM
service name, so a symlink named ``X`` makes it read ``/etc/pam.d/X`` (a test's own PAM
stack, such as a second factor). ``use_authorized_keys=False`` sets ``AuthorizedKeysFile
none`` (for certificate-only logins); the file and ``authorize_key`` still exist, unread.

sshd needs root (privilege separation, PAM, switching to the test user) and the Debian
package ``openssh-server`` (``scripts/install-test-deps.sh`` installs it). Without them,
or when sshd does not come up, ``SshdNotAvailable`` says why, with sshd's log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.eventually import NotEventually, eventually_sync
from tests.support.netns import connect_from, free_port_in, netns_exec
from tests.support.processes import Process, descendants, end_processes

__all__ = [
    "SSHD",
    "TEST_PASSWORD",
    "TEST_USER",
    "SshServer",
    "SshdNotAvailable",
    "TestUser",
    "ensure_test_user",
    "running_sshd",
]

SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")
TEST_USER = "labgate-test"
TEST_PASSWORD = "labgate test password 1"  # a throw-away test account

SHUTDOWN_TIMEOUT = 10.0
START_ATTEMPTS = 3  # a free port can be taken between choosing it and sshd binding it

RESERVED_KEYWORDS = frozenset({"port", "listenaddress", "hostkey", "pidfile", "authorizedkeysfile"})

log = logging.getLogger("labgate.tests.sshd")


class SshdNotAvailable(RuntimeError):
    """The test account or the private sshd could not be set up."""


@dataclass(frozen=True)
class TestUser:
    """A local account that the tests log in to over SSH."""

    __test__ = False  # not a pytest test class despite its name

    name: str
    uid: int
    gid: int
    home: Path
    password: str


@dataclass(frozen=True)
class SshServer:
    """A private sshd started by ``running_sshd``."""

    host: str
    """The address sshd listens on: ``listen_address`` (``127.0.0.1`` by default)."""
    port: int
    user: TestUser
    """The account that the keys below are authorized for."""
    pid: int
    """PID of the listening sshd (it forks a child per connection)."""
    directory: Path
    """The server's own directory: config, keys, pid file, log, known_hosts."""
    config_path: Path
    host_key_path: Path
    """The ed25519 host private key; ``host_key_path.with_suffix('.pub')`` is public."""
    host_public_key: str
    """The host key as an OpenSSH public key line: ``ssh-ed25519 AAAA... comment``."""
    host_key_fingerprint: str
    """``SHA256:...``, exactly as the second field of ``ssh-keygen -lf`` prints it."""
    client_key_path: Path
    """An ed25519 private key without passphrase, authorized for ``user``."""
    client_public_key: str
    authorized_keys_path: Path
    """The ``AuthorizedKeysFile`` of this server, in the user's ``~/.ssh``."""
    known_hosts_path: Path
    """A known_hosts file holding ``known_hosts_line()``."""
    log_path: Path
    """sshd's stderr (``-e``): its whole log."""
    netns: str | None = None
    """The network namespace sshd runs in; None for the root namespace."""

    @property
    def log(self) -> str:
        """sshd's log so far, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"

    def known_hosts_line(self) -> str:
        """``[127.0.0.1]:PORT ssh-ed25519 AAAA...``: the line a client's known_hosts needs."""
        key_type, key_data = self.host_public_key.split()[:2]
        return f"[{self.host}]:{self.port} {key_type} {key_data}"

    def authorize_key(self, public_line: str) -> None:
        """Allow logins as ``user`` with this OpenSSH public key line (options allowed)."""
        line = public_line.strip()
        if not line or "\n" in line:
            raise ValueError(f"not a single public key line: {public_line!r}")
        with self.authorized_keys_path.open("a") as keys:
            keys.write(line + "\n")

    def session_processes(self) -> list[int]:
        """The sshd processes serving connections now: the listener's children (the
        privileged monitors) and their sshd descendants (which hold the network socket),
        not the programs they run. Killing them drops every connection, as a network
        failure would."""
        found: list[int] = []
        parents = [self.pid]
        while parents:
            pid = parents.pop()
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            for child in children:
                try:
                    name = Path(f"/proc/{child}/comm").read_text().strip()
                except OSError:
                    continue
                if name == "sshd":
                    found.append(int(child))
                    parents.append(int(child))
        return found

    def ssh_command(self, *remote_command: str, key: Path | None = None) -> list[str]:
        """An ``ssh`` argv logging in as ``user`` with ``key`` (default: the client key).

        Strict host key checking against ``known_hosts_path``, no agent, no config files,
        no prompts.
        """
        return [
            "ssh",
            "-F",
            "none",
            "-o",
            f"UserKnownHostsFile={self.known_hosts_path}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
            "-o",
            "ConnectTimeout=10",
            "-i",
            str(key or self.client_key_path),
            "-p",
            str(self.port),
            "-l",
            self.user.name,
            self.host,
            "--",
            *remote_command,
        ]


# --- the account ------------------------------------------------------------------------


def _run_checked(argv: list[str], *, stdin: str | None = None) -> str:
    result = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:
        raise SshdNotAvailable(
            f"{' '.join(argv)} failed (exit {result.returncode}): {result.stderr.strip()}"
        )
    return result.stdout


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise SshdNotAvailable(f"{what} needs root (the tests run sshd and create accounts)")


def ensure_test_user(name: str = TEST_USER, password: str = TEST_PASSWORD) -> TestUser:
    """Create the local account ``name`` if missing and (re)set its password.

    ``useradd`` leaves a new account locked (``!`` in /etc/shadow; an sshd with
    ``UsePAM no`` refuses locked accounts even for keys). Setting a known password unlocks
    it and makes password and keyboard-interactive logins possible.
    """
    _require_root("ensure_test_user")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        log.info("creating the local test account %s", name)
        try:
            _run_checked(["useradd", "--create-home", "--shell", "/bin/bash", name])
        except SshdNotAvailable:
            # Another test process may have created it just now; otherwise, fail.
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                raise
        else:
            entry = pwd.getpwnam(name)
    _run_checked(["chpasswd"], stdin=f"{name}:{password}\n")
    home = Path(entry.pw_dir)
    if not home.is_dir():
        raise SshdNotAvailable(f"the home directory {home} of {name} does not exist")
    return TestUser(name=name, uid=entry.pw_uid, gid=entry.pw_gid, home=home, password=password)


# --- keys -------------------------------------------------------------------------------


def _keygen(path: Path, comment: str) -> str:
    """Make an ed25519 key without passphrase at ``path``; return its public key line."""
    _run_checked(["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-C", comment, "-f", str(path)])
    return path.with_name(path.name + ".pub").read_text().strip()


def _fingerprint(public_key_path: Path) -> str:
    # "256 SHA256:... comment (ED25519)"
    return _run_checked(["ssh-keygen", "-lf", str(public_key_path)]).split()[1]


def _make_authorized_keys(user: TestUser) -> Path:
    """A new, empty authorized keys file for one server in ``~user/.ssh``."""
    ssh_dir = user.home / ".ssh"
    if not ssh_dir.is_dir():
        ssh_dir.mkdir(mode=0o700)
        os.chown(ssh_dir, user.uid, user.gid)
    path = ssh_dir / f"authorized_keys.labgate-{secrets.token_hex(6)}"
    path.touch(mode=0o600, exist_ok=False)
    os.chown(path, user.uid, user.gid)
    return path


# --- configuration ----------------------------------------------------------------------


def _split_extra_config(extra_config: str) -> tuple[list[str], list[str]]:
    """(global lines, lines from the first ``Match`` on) of ``extra_config``."""
    global_lines: list[str] = []
    match_lines: list[str] = []
    for line in extra_config.splitlines():
        keyword = _keyword(line)
        if keyword == "match" or match_lines:
            match_lines.append(line)
            continue
        if keyword in RESERVED_KEYWORDS:
            raise ValueError(f"extra_config may not set {line.split()[0]}: the fixture sets it")
        global_lines.append(line)
    return global_lines, match_lines


def _keyword(line: str) -> str:
    words = line.split(maxsplit=1)
    return words[0].lower() if words and not words[0].startswith("#") else ""


def _config_text(
    *,
    port: int,
    host_key: Path,
    pid_file: Path,
    authorized_keys: Path,
    extra_config: str,
    listen_address: str = "127.0.0.1",
) -> str:
    fixed = [
        f"ListenAddress {listen_address}",
        f"Port {port}",
        f"HostKey {host_key}",
        f"PidFile {pid_file}",
        f"AuthorizedKeysFile {authorized_keys}",
    ]
    defaults = [
        "StrictModes yes",
        "PubkeyAuthentication yes",
        "PasswordAuthentication yes",
        "KbdInteractiveAuthentication yes",
        "UsePAM yes",
        "PermitRootLogin no",
        "PermitEmptyPasswords no",
        "LogLevel VERBOSE",
        "PrintMotd no",
        "PrintLastLog no",
        "Subsystem sftp internal-sftp",
    ]
    extra_global, extra_match = _split_extra_config(extra_config)
    overridden = {_keyword(line) for line in extra_global} - {""}
    kept = [line for line in defaults if _keyword(line) not in overridden]
    return "\n".join([*fixed, *kept, *extra_global, *extra_match, ""])


# --- processes --------------------------------------------------------------------------


def _free_port(address: str = "127.0.0.1", netns: str | None = None) -> int:
    if netns is not None:
        return free_port_in(netns, address)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop sshd and everything it forked.

    The per-connection children call setsid() and outlive the listener, so they are found
    by walking /proc from sshd's PID while sshd is stopped (it cannot fork new ones then).
    """
    children: list[Process] = []
    if process.poll() is None:
        _signal(process.pid, signal.SIGSTOP)
        children = descendants(process.pid)
        log.info("stopping sshd (pid %d) and %d processes below it", process.pid, len(children))
        _signal(process.pid, signal.SIGTERM)
        _signal(process.pid, signal.SIGCONT)
        try:
            process.wait(SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            log.warning("sshd (pid %d) ignored SIGTERM; killing it", process.pid)
            process.kill()
            process.wait()
    end_processes(children, SHUTDOWN_TIMEOUT)


def _log_tail(log_file: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _banner(host: str, port: int, netns: str | None) -> bytes | None:
    """The first bytes ``host:port`` sends, connecting from inside ``netns`` if given."""
    if netns is not None:
        return connect_from(netns, host, port, timeout=1.0, read=64)
    with (
        contextlib.suppress(OSError),
        socket.create_connection((host, port), timeout=1.0) as sock,
    ):
        return sock.recv(64)
    return None


def _wait_for_banner(
    process: subprocess.Popen[bytes],
    port: int,
    log_file: Path,
    *,
    host: str = "127.0.0.1",
    netns: str | None = None,
) -> bool:
    """True once the port sends an SSH banner; False when sshd exited before that."""
    where = f"{host}:{port}" + (f" in namespace {netns}" if netns else "")

    def answered_or_exited() -> bool:
        exited = process.poll() is not None
        return exited or (_banner(host, port, netns) or b"").startswith(b"SSH-2.0-")

    try:
        eventually_sync(answered_or_exited, what=f"sshd answering on {where}")
    except NotEventually as exc:
        raise SshdNotAvailable(f"{exc}:\n{_log_tail(log_file)}") from None
    return process.poll() is None


def _prepare_system() -> None:
    _require_root("running_sshd")
    if not SSHD.is_file():
        raise SshdNotAvailable(
            f"{SSHD} is missing: run scripts/install-test-deps.sh (installs openssh-server)"
        )
    if shutil.which("ssh-keygen") is None:
        raise SshdNotAvailable("ssh-keygen is missing: run scripts/install-test-deps.sh")
    # sshd's privilege separation directory; the system service would create it.
    if not PRIVSEP_DIR.is_dir():
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        PRIVSEP_DIR.chmod(0o755)


@contextlib.contextmanager
def running_sshd(
    tmp_dir: Path,
    user: TestUser,
    *,
    extra_config: str = "",
    netns: str | None = None,
    listen_address: str = "127.0.0.1",
    program: Path = SSHD,
    use_authorized_keys: bool = True,
) -> Iterator[SshServer]:
    """Run a private sshd on ``listen_address`` (in namespace ``netns``, if given) at a
    free port for the duration of the block.

    Its files go to a new directory under ``tmp_dir`` (left there for post-mortems); its
    authorized keys file in ``~user/.ssh`` is removed at exit.
    """
    _prepare_system()
    directory = Path(tempfile.mkdtemp(prefix="sshd-", dir=tmp_dir))
    host_key = directory / "ssh_host_ed25519_key"
    client_key = directory / "client_ed25519_key"
    config_path = directory / "sshd_config"
    pid_file = directory / "sshd.pid"
    log_file = directory / "sshd.log"
    known_hosts = directory / "known_hosts"

    host_public_key = _keygen(host_key, "labgate-test-sshd")
    fingerprint = _fingerprint(host_key.with_name(host_key.name + ".pub"))
    client_public_key = _keygen(client_key, "labgate-test-client")

    in_netns = netns_exec(netns) if netns else []  # ip netns exec NAME, which becomes sshd
    authorized_keys = _make_authorized_keys(user)
    process: subprocess.Popen[bytes] | None = None
    try:
        for attempt in range(1, START_ATTEMPTS + 1):
            port = _free_port(listen_address, netns)
            config_path.write_text(
                _config_text(
                    port=port,
                    host_key=host_key,
                    pid_file=pid_file,
                    # Path("none") is sshd's word for no file at all.
                    authorized_keys=authorized_keys if use_authorized_keys else Path("none"),
                    extra_config=extra_config,
                    listen_address=listen_address,
                )
            )
            check = subprocess.run(
                [str(program), "-t", "-f", str(config_path)],
                capture_output=True,
                text=True,
                check=False,
            )
            if check.returncode != 0:
                raise SshdNotAvailable(
                    f"sshd rejects its configuration {config_path}:\n{check.stderr.strip()}"
                )
            with log_file.open("ab") as log_out:
                process = subprocess.Popen(
                    [*in_netns, str(program), "-D", "-e", "-f", str(config_path)],
                    cwd=directory,
                    env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
                    stdin=subprocess.DEVNULL,
                    stdout=log_out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a Ctrl-C in the terminal is ours to handle
                )
            if _wait_for_banner(process, port, log_file, host=listen_address, netns=netns):
                break
            message = (
                f"sshd exited with status {process.returncode} while starting "
                f"(attempt {attempt}):\n{_log_tail(log_file)}"
            )
            if attempt == START_ATTEMPTS or "Address already in use" not in message:
                raise SshdNotAvailable(message)
            log.warning("%s", message)
        assert process is not None

        server = SshServer(
            host=listen_address,
            port=port,
            user=user,
            pid=process.pid,
            directory=directory,
            config_path=config_path,
            host_key_path=host_key,
            host_public_key=host_public_key,
            host_key_fingerprint=fingerprint,
            client_key_path=client_key,
            client_public_key=client_public_key,
            authorized_keys_path=authorized_keys,
            known_hosts_path=known_hosts,
            log_path=log_file,
            netns=netns,
        )
        server.authorize_key(client_public_key)
        known_hosts.write_text(server.known_hosts_line() + "\n")
        log.info(
            "private sshd (pid %d) listening on %s:%d%s",
            process.pid,
            listen_address,
            port,
            f" in namespace {netns}" if netns else "",
        )
        yield server
    finally:
        if process is not None:
            _stop(process)
        authorized_keys.unlink(missing_ok=True)
