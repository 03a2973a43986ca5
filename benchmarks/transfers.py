"""Transfers: uploading and downloading a large file through labgate, side by side with
``scp`` in the same run (issue 4).

The same set-up as the resources section (``benchmarks/resources.py``, whose helpers this
module uses): the local test account behind a private sshd on 127.0.0.1, ``labgate
serve`` with a resource on it that connects with a remembered key, a 1 GiB file of
random bytes in the account's home (written just before, so it is in the page cache: the
path from file to file is measured, not the disk). Then:

1. **Uploading** it: labgate's resumable upload API as a browser uses it (``POST
   …/uploads``, the file in parts of ``upload_chunk_max_bytes`` sent by ``curl -T`` with
   their offsets, ``POST …/complete``, which checks the SHA-256 on the resource and renames
   the file into place), against ``scp`` on a fresh connection and through a ControlMaster;
   and, as the ceiling of the server's side, labgate's SSH transport alone writing the
   file into ``cat`` on the resource. Every upload starts after a ``sync``.
2. **Downloading** it: ``GET …/files/content`` with ``curl`` and the same file as a
   streamed zip (``GET …/files/archive``, built on the resource), against ``scp`` to
   ``/dev/null``, fresh and warm.

Each comparison runs every contender once untimed, then ``rounds`` times taking turns (see
``resources.run_comparison``). Everything started is stopped by PID; files are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import importlib.metadata
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from tests.support.daemons import daemon_runtime_dir
from tests.support.hops import key_hop
from tests.support.sshd import SshdNotAvailable, SshServer, TestUser, ensure_test_user, running_sshd

from benchmarks.machine import describe
from benchmarks.peers.labgate import labgate_version
from benchmarks.process import BenchmarkError
from benchmarks.report import TIMES, size_text
from benchmarks.resources import (
    COMMAND_TIMEOUT,
    GIB,
    MIB,
    RANDOM_BLOCK,
    Comparison,
    Contender,
    Goal,
    LabgateServer,
    control_master,
    judge,
    labgate_server,
    openssh_version,
    read_size,
    run_comparison,
    summarise,
)
from labgate.settings import Settings
from labgate.transport.ssh import SshTransport

# The server's default part size: what a browser following its limits sends.
PART_BYTES: int = Settings.model_fields["upload_chunk_max_bytes"].default
# What the SSH-alone contender writes at a time (the agent's frames are as large).
SSH_PIECE = 256 * 1024


@dataclass(frozen=True)
class Sizes:
    file_bytes: int
    rounds: int


FULL = Sizes(file_bytes=GIB, rounds=5)
QUICK = Sizes(file_bytes=32 * MIB, rounds=2)


@dataclass(frozen=True)
class Files:
    """In the account's home: the file, its parts (for curl), where uploads go."""

    base: Path
    source: Path
    parts: list[Path]
    sha256: str


@contextlib.contextmanager
def transfer_files(user: TestUser, size: int) -> Iterator[Files]:
    base = Path(tempfile.mkdtemp(prefix="labgate-bench-transfers-", dir=user.home))
    try:
        base.chmod(0o755)
        os.chown(base, user.uid, user.gid)
        source = base / "source.bin"
        digest = hashlib.sha256()
        parts: list[Path] = []
        block = os.urandom(RANDOM_BLOCK)
        with source.open("wb") as out:
            written = 0
            while written < size:
                piece = block[: min(len(block), size - written)]
                out.write(piece)
                digest.update(piece)
                written += len(piece)
        for number, start in enumerate(range(0, size, PART_BYTES)):
            part = base / f"part-{number:03d}"
            with source.open("rb") as whole, part.open("wb") as out:
                whole.seek(start)
                out.write(whole.read(min(PART_BYTES, size - start)))
            parts.append(part)
        for path in (source, *parts):
            os.chown(path, user.uid, user.gid)
        yield Files(base, source, parts, digest.hexdigest())
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _curl() -> str:
    program = shutil.which("curl")
    if program is None:
        raise BenchmarkError("curl is not installed")
    return program


def _scp() -> str:
    program = shutil.which("scp")
    if program is None:
        raise BenchmarkError("scp is not installed (openssh-client)")
    return program


class Bench:
    def __init__(
        self, sshd: SshServer, server: LabgateServer, files: Files, control_path: Path, size: int
    ) -> None:
        self.sshd = sshd
        self.server = server
        self.files = files
        self.control_path = control_path
        self.size = size
        self.http = httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {server.token}"},
            trust_env=False,
            timeout=COMMAND_TIMEOUT,
        )
        self.resource = f"/api/v1/resources/{server.resource_id}"

    def close(self) -> None:
        self.http.close()

    def _timed(self, argv: list[str], stdin: str | None = None) -> tuple[float, str]:
        start = time.perf_counter()
        done = subprocess.run(  # noqa: S603 (our fixed command lines)
            argv, input=stdin, capture_output=True, text=True, check=False, timeout=COMMAND_TIMEOUT
        )
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise BenchmarkError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()}")
        return elapsed, done.stdout

    def _curl(self, url: httpx.URL, *options: str) -> tuple[float, str]:
        """``curl`` with the token on standard input (never in the argv)."""
        config = f'url = "{url}"\nheader = "Authorization: Bearer {self.server.token}"\n'
        return self._timed([_curl(), "--config", "-", "-sS", "--fail", *options], config)

    def _scp(self, source: str, target: str, *, warm: bool) -> float:
        argv = self.sshd.ssh_command()
        options = argv[1 : argv.index("-p")]
        where = ["-o", f"ControlPath={self.control_path}"] if warm else ["-o", "ControlPath=none"]
        port = ["-P", str(self.sshd.port)]
        argv = [_scp(), "-q", *options, *where, "-o", "ControlMaster=no", *port, source, target]
        elapsed, _ = self._timed(argv)
        return elapsed

    def _remote(self, path: Path) -> str:
        return f"{self.sshd.user.name}@{self.sshd.host}:{path}"

    # -- uploading

    def upload_api(self) -> tuple[float, int | None]:
        target = self.files.base / "uploaded-by-labgate.bin"
        os.sync()  # no run pays for the disk writing back the run before it
        start = time.perf_counter()
        created = self.http.post(
            f"{self.resource}/uploads",
            json={"path": str(target), "size": self.size, "overwrite": True},
        )
        if created.status_code != 201:
            raise BenchmarkError(f"starting the upload failed: {created.text}")
        url = f"{self.server.url}{self.resource}/uploads/{created.json()['id']}"
        offset = 0
        for part in self.files.parts:
            self._curl(
                httpx.URL(url, params={"offset": offset}),
                "-o",
                "/dev/null",
                "-H",
                "Content-Type: application/octet-stream",
                "-T",
                str(part),
            )
            offset += part.stat().st_size
        done = self.http.post(f"{url}/complete", json={"sha256": self.files.sha256})
        elapsed = time.perf_counter() - start
        if done.status_code != 200 or done.json()["size"] != self.size:
            raise BenchmarkError(f"completing the upload failed: {done.text}")
        return elapsed, None

    def upload_ssh_alone(self) -> tuple[float, int | None]:
        """The ceiling of the server's side: labgate's SSH transport (asyncssh, AES-GCM,
        batched writes) writing the file into ``cat`` on the resource, in one process
        with nothing else to do: no HTTP, no agent, no checksum, no sync."""
        target = self.files.base / "uploaded-by-ssh.bin"
        os.sync()
        elapsed = asyncio.run(self._ssh_alone(target))
        if target.stat().st_size != self.size:
            raise BenchmarkError(f"cat over SSH wrote {target.stat().st_size} bytes")
        return elapsed, None

    async def _ssh_alone(self, target: Path) -> float:
        transport = SshTransport([key_hop(self.sshd)])
        await transport.connect()  # connected before the clock starts, as labgate serve is
        try:
            process = await transport.start(["sh", "-c", f"cat > {shlex.quote(str(target))}"])
            start = time.perf_counter()
            with self.files.source.open("rb") as source:
                while piece := source.read(SSH_PIECE):
                    process.stdin.write(piece)
                    await process.stdin.drain()
            process.stdin.close()
            status = await process.wait()
            elapsed = time.perf_counter() - start
        finally:
            await transport.close()
        if status != 0:
            raise BenchmarkError(f"cat over SSH failed ({status})")
        return elapsed

    def upload_scp(self) -> tuple[float, int | None]:
        target = self._remote(self.files.base / "uploaded-by-scp.bin")
        os.sync()
        return self._scp(str(self.files.source), target, warm=False), None

    def upload_scp_warm(self) -> tuple[float, int | None]:
        target = self._remote(self.files.base / "uploaded-by-scp.bin")
        os.sync()
        return self._scp(str(self.files.source), target, warm=True), None

    # -- downloading

    def _download(self, path: str, params: dict[str, str]) -> tuple[float, int | None]:
        url = httpx.URL(f"{self.server.url}{self.resource}/{path}", params=params)
        elapsed, size = self._curl(url, "-o", "/dev/null", "-w", "%{size_download}")
        if int(size or 0) < self.size:
            raise BenchmarkError(f"the download gave {size} bytes, not {self.size}")
        return elapsed, None

    def download_api(self) -> tuple[float, int | None]:
        return self._download("files/content", {"path": str(self.files.source)})

    def download_archive(self) -> tuple[float, int | None]:
        return self._download("files/archive", {"path": str(self.files.source), "format": "zip"})

    def download_scp(self) -> tuple[float, int | None]:
        return self._scp(self._remote(self.files.source), "/dev/null", warm=False), None

    def download_scp_warm(self) -> tuple[float, int | None]:
        return self._scp(self._remote(self.files.source), "/dev/null", warm=True), None


def _goals(ours: str, what: str) -> list[Goal]:
    return [
        Goal(ours, "scp", "throughput", 0.8, f"{what} at least 0.8{TIMES} the throughput of scp"),
        Goal(
            ours,
            "scp_warm",
            "throughput",
            0.8,
            f"{what} at least 0.8{TIMES} the throughput of scp on a warm connection",
        ),
    ]


Run = Callable[[], tuple[float, int | None]]


def _scp_contenders(fresh: Run, warm: Run, direction: str) -> list[Contender]:
    return [
        Contender("scp", "scp", "peer", f"scp -o ControlPath=none {direction} (fresh)", fresh),
        Contender(
            "scp_warm",
            "scp, warm",
            "peer",
            f"scp -o ControlPath=<master> {direction} (through the ControlMaster)",
            warm,
        ),
    ]


def comparisons(bench: Bench, sizes: Sizes) -> list[Comparison]:
    size = bench.size
    parts = len(bench.files.parts)
    return [
        Comparison(
            "upload",
            f"Uploading a {size_text(size)} file",
            [
                Contender(
                    "labgate_api",
                    "labgate upload API",
                    "labgate",
                    f"POST …/uploads, {parts}{TIMES} curl -T <part> PUT …/uploads/{{id}}?offset=N "
                    f"(parts of {size_text(PART_BYTES)}), POST …/complete (SHA-256 checked on the "
                    "resource), through labgate serve",
                    bench.upload_api,
                ),
                Contender(
                    "ssh_alone",
                    "labgate's SSH transport alone",
                    "labgate",
                    "SshTransport.start(cat > <file>) + stdin.write(256 KiB) + drain, in the "
                    "benchmark process (asyncssh, no HTTP, no agent, no SHA-256, no sync): "
                    "the ceiling of the server's side",
                    bench.upload_ssh_alone,
                ),
                *_scp_contenders(bench.upload_scp, bench.upload_scp_warm, "<file> host:<dir>"),
            ],
            rounds=sizes.rounds,
            goals=_goals("labgate_api", "uploading through the API"),
            payload_bytes=size,
        ),
        Comparison(
            "download",
            f"Downloading a {size_text(size)} file",
            [
                Contender(
                    "labgate_api",
                    "labgate download API",
                    "labgate",
                    "curl -o /dev/null …/files/content?path=<file>, through labgate serve",
                    bench.download_api,
                ),
                Contender(
                    "labgate_zip",
                    "labgate zip archive",
                    "labgate",
                    "curl -o /dev/null …/files/archive?path=<file>&format=zip (deflate level 1 "
                    "on the resource; random bytes do not shrink)",
                    bench.download_archive,
                ),
                *_scp_contenders(
                    bench.download_scp, bench.download_scp_warm, "host:<file> /dev/null"
                ),
            ],
            rounds=sizes.rounds,
            goals=_goals("labgate_api", "downloading through the API"),
            payload_bytes=size,
        ),
    ]


def run_transfers(
    workdir: Path,
    *,
    quick: bool,
    remote_cpus: frozenset[int] | None,
    local_cpus: frozenset[int] | None,
) -> dict[str, Any]:
    """Set everything up, run both comparisons, tear everything down; the record."""
    started = time.monotonic()
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    sizes = QUICK if quick else FULL
    placement = (
        "as in the resources section: the resource's side pinned to one CPU, the client's "
        "side (labgate serve, curl, scp and its ControlMaster) to the other"
        if remote_cpus and local_cpus
        else "not pinned: the OS schedules every process freely"
    )
    workdir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    try:
        user = ensure_test_user()
        # The file, its parts and three uploaded copies (and one's hidden part) fit.
        size, note = read_size(user.home, sizes.file_bytes * 6)
        size = min(size // 6, sizes.file_bytes) if note else sizes.file_bytes
        if note:
            notes.append(note)
        with contextlib.ExitStack() as stack:
            runtime_dir = stack.enter_context(daemon_runtime_dir("labgate-bench-transfers-"))
            files = stack.enter_context(transfer_files(user, size))
            sshd = stack.enter_context(running_sshd(workdir, user))
            if remote_cpus:
                os.sched_setaffinity(sshd.pid, remote_cpus)
            control_path, _master_pid = stack.enter_context(
                control_master(sshd, workdir, local_cpus)
            )
            server = stack.enter_context(
                labgate_server(workdir / "labgate", sshd, runtime_dir, local_cpus)
            )
            bench = Bench(sshd, server, files, control_path, size)
            stack.callback(bench.close)
            print(
                f"Transfers: set up after {time.monotonic() - started:.0f} s "
                f"({size_text(size)} file; {placement}).",
                file=sys.stderr,
                flush=True,
            )
            plan = comparisons(bench, sizes)
            rows: list[dict[str, Any]] = []
            summary: list[dict[str, Any]] = []
            for comparison in plan:
                measured = run_comparison(comparison)
                rows += measured
                part = summarise(comparison, measured)
                summary += part
                for cell in part:
                    print(
                        f"{comparison.key:<8} {cell['contender']:<12} "
                        f"p50 {cell['p50_s']:7.2f} s  {cell['mb_per_s_p50']:6.0f} MB/s",
                        file=sys.stderr,
                        flush=True,
                    )
            openssh = openssh_version()
    except SshdNotAvailable as exc:
        raise BenchmarkError(f"the transfers benchmark needs a private sshd: {exc}") from None
    return {
        "date": date,
        "quick": quick,
        "duration_seconds": time.monotonic() - started,
        "machine": describe(placement),
        "versions": {
            "labgate": labgate_version(),
            "OpenSSH (scp, sshd)": openssh,
            "asyncssh": importlib.metadata.version("asyncssh"),
            "curl": subprocess.run(  # noqa: S603
                [_curl(), "--version"], capture_output=True, text=True, check=False
            ).stdout.split(" ")[1],
        },
        "settings": {"file_bytes": size, "part_bytes": PART_BYTES, "rounds": sizes.rounds},
        "comparisons": [
            {
                "key": c.key,
                "title": c.title,
                "payload_bytes": c.payload_bytes,
                "contenders": [
                    {"key": x.key, "label": x.label, "side": x.side, "command": x.command}
                    for x in c.contenders
                ],
            }
            for c in plan
        ],
        "goals": [judge(goal, summary, c.key) for c in plan for goal in c.goals],
        "summary": summary,
        "runs": rows,
        "notes": notes,
    }
