"""The real ``labgate serve`` as a child process, for end-to-end and browser tests.

``running_server(workdir)`` starts it on a free port of 127.0.0.1 with a data directory
under ``workdir``, waits until ``/healthz`` answers, and kills it when the block ends,
whatever happened inside. Its output goes to files in ``workdir``, read through
``RunningServer.stderr``. The server runs without the ``LABGATE_*`` settings of the
calling environment; pass what it needs in ``env`` (``LABGATE_DATABASE_URL``, ...).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

from tests.support.environment import settings_variables
from tests.support.eventually import NotEventually, eventually_sync

LABGATE = Path(sys.executable).with_name("labgate")
# Longer than labgate.server.GRACEFUL_SHUTDOWN_SECONDS: a stop may use all of it.
STOP_TIMEOUT = 30.0


class ServerFailed(RuntimeError):
    """The server exited, or never became healthy; the message carries its output."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def labgate_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without labgate settings, plus ``extra``."""
    unwanted = set(settings_variables())
    env = {k: v for k, v in os.environ.items() if k not in unwanted}
    env.update(extra or {})
    return env


class RunningServer:
    """One ``labgate serve`` process, which may be stopped and started again (same port,
    same data directory)."""

    def __init__(
        self,
        workdir: Path,
        *,
        env: Mapping[str, str] | None = None,
        data_dir: Path | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        tls_ca: Path | None = None,
    ) -> None:
        self.workdir = workdir
        self.data_dir = data_dir or workdir / "data"
        self.host = host
        self.port = port or free_port(host)
        self.env = labgate_environment(env)
        # With a CA file the server is expected to speak HTTPS, verified against it.
        self.tls_ca = tls_ca
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        scheme = "https" if self.tls_ca else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server was never started"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _log(self, stream: str) -> Path:
        return self.workdir / f"server-{self.starts}.{stream}.log"

    @property
    def stderr(self) -> str:
        """What the latest run wrote to standard error: the banner and the log."""
        path = self._log("stderr")
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def stdout(self) -> str:
        path = self._log("stdout")
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        assert not self.running, "the server is already running"
        self.starts += 1
        with self._log("stdout").open("wb") as out, self._log("stderr").open("wb") as err:
            self.process = subprocess.Popen(
                [
                    str(LABGATE),
                    "serve",
                    "--host",
                    self.host,
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                env=self.env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )

    def wait_until_healthy(self) -> None:
        """Poll ``/healthz`` until it answers 200; ServerFailed if the process exits or
        it does not answer so within the tests' patience."""

        def healthy(http: httpx.Client) -> bool:
            if not self.running:
                raise ServerFailed(f"labgate serve exited early:\n{self.stderr}")
            with contextlib.suppress(httpx.TransportError):
                return http.get("/healthz", timeout=2.0).status_code == 200
            return False

        with self.client() as http:
            try:
                eventually_sync(lambda: healthy(http), what="labgate serve healthy")
            except NotEventually as exc:
                raise ServerFailed(f"{exc}:\n{self.stderr}") from None

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Send ``sig`` to the server's PID and wait for it to exit; its exit status."""
        assert self.process is not None, "the server was never started"
        if self.running:
            os.kill(self.process.pid, sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ServerFailed(
                f"labgate serve still running {timeout:.0f} s after {sig.name}:\n{self.stderr}"
            ) from None

    def kill(self) -> None:
        """SIGKILL, if still running; never fails."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def client(self, *, cookies: dict[str, str] | None = None) -> httpx.Client:
        """An HTTP client for the server, ignoring any proxy settings of the environment."""
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(self.tls_ca)) if self.tls_ca else True
        )
        return httpx.Client(base_url=self.url, cookies=cookies, trust_env=False, verify=verify)


@contextlib.contextmanager
def running_server(
    workdir: Path,
    *,
    env: Mapping[str, str] | None = None,
    data_dir: Path | None = None,
    tls_ca: Path | None = None,
    port: int | None = None,
) -> Iterator[RunningServer]:
    """A healthy server for the block; killed at its end even if the block failed."""
    server = RunningServer(workdir, env=env, data_dir=data_dir, tls_ca=tls_ca, port=port)
    try:
        server.start()
        server.wait_until_healthy()
        yield server
    finally:
        server.kill()


def banner_credentials(stderr: str) -> tuple[str, str]:
    """The user name and one-time password the first start prints."""
    username = re.search(r"^Log in as:\s+(\S+)$", stderr, re.MULTILINE)
    password = re.search(r"^Password:\s+(\S+)$", stderr, re.MULTILINE)
    assert username, f"no login banner in:\n{stderr}"
    assert password, f"no password in the login banner:\n{stderr}"
    return username.group(1), password.group(1)
