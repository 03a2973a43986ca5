"""Child processes for the servers under test: started with their output in log files,
optionally pinned to CPUs, polled until they answer, and stopped by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

STOP_TIMEOUT = 20.0


class BenchmarkError(RuntimeError):
    """A server or a peer could not be set up or misbehaved; the message says why."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port of ``host`` that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def run_command(argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> str:
    """Run a fixed command of ours to completion; its standard output, stripped.
    subprocess.CalledProcessError (with ``stderr``) if it fails."""
    done = subprocess.run(  # noqa: S603 (fixed command lines built here, no shell)
        list(argv),
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _pin_to(cpus: frozenset[int] | None) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)


class ManagedProcess:
    """One server process. Its standard output and error go to ``<logdir>/<name>.log``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        cpus: frozenset[int] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.cpus = cpus
        self.log_path = cwd / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchmarkError(f"{self.name} was never started")
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def start(self) -> None:
        """Start the process in its own session (a Ctrl-C reaches only this program,
        which then stops the server itself), pinned to ``cpus`` if given."""
        cpus = self.cpus
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 (our own fixed command lines)
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=(lambda: _pin_to(cpus)) if cpus else None,
            )

    def wait_until_answers(self, url: str, *, status: int = 200, timeout: float = 60.0) -> None:
        """Poll ``url`` until it answers ``status``; BenchmarkError if the process exits
        or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False, timeout=2.0) as http:
            while time.monotonic() < deadline:
                if not self.running:
                    raise BenchmarkError(f"{self.name} exited early:\n{self.log_tail()}")
                with contextlib.suppress(httpx.TransportError):
                    if http.get(url).status_code == status:
                        return
                time.sleep(0.1)
        raise BenchmarkError(
            f"{self.name} did not answer {url} in {timeout:.0f} s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """SIGTERM to our child's PID, then SIGKILL if it is still there after
        ``STOP_TIMEOUT`` seconds. Never fails; does nothing if it was not started."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
