"""A real single-node SLURM cluster for the tests: munged, slurmctld and slurmd.

``running_slurm(workdir)`` makes a new directory under ``workdir`` with everything of one
private cluster in it (configuration, munge key and socket, state, spool, logs, PID
files), starts ``munged``, ``slurmctld`` and ``slurmd`` in the foreground (``-F``/``-D``)
as root, waits until ``sinfo`` shows the node idle, and yields a ``SlurmCluster``. At exit,
also after a failure, it cancels every job, stops the three daemons by PID and then ends,
by PID, whatever is left that holds files of the directory (``slurmstepd``, which
detaches from slurmd, and the jobs below it). The system's own munge and SLURM (their
``/etc`` files, ``/run/munge``) are never touched or used.

The cluster::

    ClusterName=lgt<random>   SlurmctldHost=localhost   NodeName=<hostname -s>
    one node: the CPUs, sockets and cores ``slurmd -C`` reports, RealMemory <= 4 GiB
    PartitionName=debug Default=YES MaxTime=00:30:00   (DEBUG_MAX_TIME)
    PartitionName=long              MaxTime=02:00:00   (LONG_MAX_TIME)
    SelectType=select/cons_tres (CR_Core_Memory, DefMemPerCPU=256), so jobs share the node
    ProctrackType=proctrack/linuxproc, TaskPlugin=task/none, JobAcctGatherType=none, no
        cgroup.conf: nothing uses cgroups, so the cluster does not depend on the cgroup
        tree a machine or container gives it (CPU and memory limits are not enforced)
    no slurmdbd: no ``sacct``; ``scontrol show job`` knows a finished job for
        MinJobAge (300 s), and the job's output file tells what it printed
    SlurmctldPort and SlurmdPort: two free TCP ports on this machine, chosen at start
    AuthType=auth/munge with ``AuthInfo=socket=<dir>/munge-run/munge.socket``: every
        client reads the socket's path from slurm.conf, so SLURM_CONF is all they need

A job above a partition's MaxTime: with ``enforce_partition_limits=True`` (the default;
``EnforcePartLimits=ALL``) sbatch refuses it at once, exit status 1 and ``sbatch: error:
Batch job submission failed: Requested time limit is invalid (missing or exceeds some
limit)``. With ``False`` (SLURM's own default, ``EnforcePartLimits=NO``, as on many
sites) it is accepted and stays PENDING for ever with ``Reason=PartitionTimeLimit``. The
sessions feature should handle both.

From a test: ask for the session fixture ``slurm`` (``tests/conftest.py``; skipped when
not root), or for a cluster of its own (other partitions, other limits)::

    with public_workdir() as workdir, running_slurm(workdir) as cluster:
        ssh = server.ssh_command(f"{cluster.setup_lines}; sbatch --parsable --wrap hostname")

Using it from the test account over SSH (the login node of the sessions feature): every
file a client needs is readable by all (the directory is 0755, the config 0644, the munge
socket 0777 in a 0755 directory; the munge *key* is 0600, root's). ``cluster.setup_lines``
is ``export SLURM_CONF=<dir>/slurm.conf``: give it to the resource as its set-up lines (or
put it in front of a command run through ``ssh``); ``sbatch``, ``squeue``, ``scancel``,
``scontrol`` and ``sinfo`` are in ``/usr/bin``. ``cluster.environment`` is the same as a
mapping, for a subprocess. Jobs run as the submitting user, in ``--chdir`` (default: the
directory sbatch ran in), writing ``slurm-<id>.out`` there.

So: ``workdir`` and every directory above it must be searchable by others (``o+x``), which
pytest's ``tmp_path`` (in ``/tmp/pytest-of-root``, 0700) is not; ``public_workdir()`` makes
a suitable one in ``/tmp`` and removes it afterwards (and first stops what a killed
earlier run left in its own). ``SlurmNotAvailable`` says so.

Parallel runs do not collide: each cluster has its own name, ports, key, socket and
directories; two clusters can share the machine's node name (each slurmd is told its
port). Needs root (slurmd switches to the job's user) and the Debian packages slurm-wlm
and munge (``scripts/install-test-deps.sh``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.eventually import NotEventually, eventually_sync, within
from tests.support.processes import (
    Process,
    descendants,
    end_processes,
    identify,
    processes_referencing,
    stop_tree,
)

__all__ = [
    "DEBUG_MAX_TIME",
    "LONG_MAX_TIME",
    "Partition",
    "SlurmCluster",
    "SlurmNotAvailable",
    "public_workdir",
    "remove_leftovers",
    "running_slurm",
]

DEBUG_MAX_TIME = "00:30:00"
LONG_MAX_TIME = "02:00:00"

BINARIES = {
    "munged": Path("/usr/sbin/munged"),
    "mungekey": Path("/usr/sbin/mungekey"),
    "slurmctld": Path("/usr/sbin/slurmctld"),
    "slurmd": Path("/usr/sbin/slurmd"),
    "sinfo": Path("/usr/bin/sinfo"),
    "squeue": Path("/usr/bin/squeue"),
    "scancel": Path("/usr/bin/scancel"),
}
DRAIN_TIMEOUT = 15.0
START_ATTEMPTS = 3  # a free port can be taken between choosing it and a daemon binding it
MAX_MEMORY_MB = 4096
DEF_MEM_PER_CPU_MB = 256
CLIENT_PATH = "/usr/bin:/bin"
# sinfo's %T of a node that takes jobs (a trailing * would say it does not respond).
_IN_SERVICE = ("idle", "mixed", "allocated")

log = logging.getLogger("labgate.tests.slurm")


class SlurmNotAvailable(RuntimeError):
    """The private cluster could not be set up or did not come up."""


@dataclass(frozen=True)
class Partition:
    name: str
    max_time: str
    """``HH:MM:SS``, as in slurm.conf and ``scontrol show partition``."""
    default: bool = False


DEFAULT_PARTITIONS = (
    Partition("debug", DEBUG_MAX_TIME, default=True),
    Partition("long", LONG_MAX_TIME),
)


@dataclass(frozen=True)
class SlurmCluster:
    """A private cluster started by ``running_slurm``; see the module docstring."""

    name: str
    """ClusterName."""
    directory: Path
    """Everything of this cluster: slurm.conf, munge/, munge-run/, state/, spool/, logs."""
    config_path: Path
    munge_socket: Path
    node_name: str
    """The machine's short host name: where every job runs."""
    cpus: int
    memory_mb: int
    partitions: tuple[Partition, ...]
    controller_port: int
    node_port: int
    enforce_partition_limits: bool
    daemons: dict[str, subprocess.Popen[bytes]] = field(
        default_factory=dict, repr=False, compare=False
    )
    """``munged``, ``slurmctld`` and ``slurmd`` (the running ones: a restarted
    ``slurmctld`` replaces the first)."""

    @property
    def pids(self) -> dict[str, int]:
        """PIDs of ``munged``, ``slurmctld`` and ``slurmd``."""
        return {name: process.pid for name, process in self.daemons.items()}

    @property
    def environment(self) -> dict[str, str]:
        """What a client needs in its environment: ``SLURM_CONF``."""
        return {"SLURM_CONF": str(self.config_path)}

    @property
    def setup_lines(self) -> str:
        """Shell lines that prepare a login shell (e.g. a resource's set-up lines)."""
        return f"export SLURM_CONF={self.config_path}"

    @contextlib.contextmanager
    def controller_stopped(self) -> Iterator[None]:
        """``slurmctld`` stopped (SIGTERM: it saves its state) for the block, as in a
        restart or an outage of the controller, then started again from its saved state;
        running jobs go on running on the node meanwhile. Clients fail meanwhile with
        ``Unable to contact slurm controller (connect failure)`` (after about 20 s)."""
        process = self.daemons["slurmctld"]
        stop_tree(process.pid)
        process.wait()
        try:
            yield
        finally:
            self.daemons["slurmctld"] = _start(
                _controller_argv(self.config_path), self.directory, self.directory / "slurmctld.out"
            )
            # Answering, and the node registered again (else jobs wait: ReqNodeNotAvail).
            _wait_for(
                "slurmctld answering again with the node in service",
                lambda: _node_state(self.directory, self.node_name) in _IN_SERVICE,
                self.daemons,
                self.directory,
            )

    def log(self, daemon: str) -> str:
        """The log of ``munged``, ``slurmctld`` or ``slurmd`` so far."""
        return _read_log(self.directory / f"{daemon}.log")

    def logs(self) -> str:
        """Every daemon's log (its last lines), for failure messages."""
        return "\n".join(
            f"--- {name}.log\n{_tail(self.directory / f'{name}.log')}" for name in self.pids
        )

    def command(self, *argv: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run a client command (``squeue ...``) as root against this cluster."""
        return subprocess.run(
            list(argv),
            env={"PATH": CLIENT_PATH, "LANG": "C.UTF-8", **self.environment},
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )


def _read_log(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(_read_log(path).splitlines()[-lines:])


# --- checks -----------------------------------------------------------------------------


def _require_system(workdir: Path) -> None:
    if os.geteuid() != 0:
        raise SlurmNotAvailable("a private SLURM needs root (slurmd runs jobs as their user)")
    missing = [str(path) for path in BINARIES.values() if not path.is_file()]
    if missing:
        raise SlurmNotAvailable(
            f"missing {', '.join(missing)}: run scripts/install-test-deps.sh "
            "(installs slurm-wlm and munge)"
        )
    for directory in [workdir.resolve(), *workdir.resolve().parents]:
        if not directory.stat().st_mode & stat.S_IXOTH:
            raise SlurmNotAvailable(
                f"{directory} is not searchable by others, so the test account could not "
                "read slurm.conf or reach the munge socket under it: use public_workdir()"
            )


WORKDIR_PREFIX = "labgate-slurm-"
_WORKDIR_NAME = re.compile(rf"^{WORKDIR_PREFIX}(?P<pid>\d+)-")


@contextlib.contextmanager
def public_workdir() -> Iterator[Path]:
    """A new directory in the system's temporary directory that every account can
    search (0755), for ``running_slurm``; removed with its contents at exit.

    Its name carries this process's PID: clusters that a killed test run left behind
    (their creator is gone) are stopped and their directories removed first.
    """
    remove_leftovers()
    path = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_leftovers() -> None:
    """Stop, by PID, the processes of ``public_workdir`` directories whose creating
    process no longer runs, and remove those directories."""
    for path in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        found = _WORKDIR_NAME.match(path.name)
        if found is None or identify(int(found["pid"])) is not None:
            continue
        left = _processes_of(path)
        log.warning("removing %s left by an earlier run (%d processes)", path, len(left))
        end_processes(left)
        shutil.rmtree(path, ignore_errors=True)


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _node_hardware() -> dict[str, int]:
    """CPUs, Boards, SocketsPerBoard, CoresPerSocket, ThreadsPerCore, RealMemory as
    ``slurmd -C`` sees this machine: a node line that disagrees would be drained."""
    result = subprocess.run(
        [str(BINARIES["slurmd"]), "-C"], capture_output=True, text=True, check=False, timeout=30
    )
    found = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", result.stdout)}
    needed = ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore")
    if result.returncode != 0 or any(key not in found for key in (*needed, "RealMemory")):
        raise SlurmNotAvailable(f"slurmd -C failed: {result.stdout}{result.stderr}")
    return found


# --- configuration ----------------------------------------------------------------------


def _config_text(
    *,
    name: str,
    directory: Path,
    munge_socket: Path,
    node_name: str,
    hardware: Mapping[str, int],
    memory_mb: int,
    controller_port: int,
    node_port: int,
    partitions: Sequence[Partition],
    enforce_partition_limits: bool,
) -> str:
    node = " ".join(
        f"{key}={hardware[key]}"
        for key in ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore")
    )
    lines = [
        f"# A private test cluster written by tests/support/slurm.py in {directory}",
        f"ClusterName={name}",
        "SlurmctldHost=localhost",
        f"SlurmctldPort={controller_port}",
        f"SlurmdPort={node_port}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={munge_socket}",
        f"StateSaveLocation={directory / 'state'}",
        f"SlurmdSpoolDir={directory / 'spool'}",
        f"SlurmctldPidFile={directory / 'slurmctld.pid'}",
        f"SlurmdPidFile={directory / 'slurmd.pid'}",
        f"SlurmctldLogFile={directory / 'slurmctld.log'}",
        f"SlurmdLogFile={directory / 'slurmd.log'}",
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
        # No cgroups anywhere: this container cannot give slurmd a cgroup tree of its own.
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "MpiDefault=none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        f"DefMemPerCPU={DEF_MEM_PER_CPU_MB}",
        "SchedulerType=sched/backfill",
        f"EnforcePartLimits={'ALL' if enforce_partition_limits else 'NO'}",
        # A node that went down (slurmd restarted) comes back by itself.
        "ReturnToService=2",
        "SlurmctldTimeout=30",
        "SlurmdTimeout=30",
        "MinJobAge=300",
        "KillWait=5",
        f"NodeName={node_name} NodeAddr=127.0.0.1 {node} RealMemory={memory_mb} State=UNKNOWN",
    ]
    for partition in partitions:
        default = "YES" if partition.default else "NO"
        lines.append(
            f"PartitionName={partition.name} Nodes={node_name} Default={default} "
            f"MaxTime={partition.max_time} State=UP"
        )
    return "\n".join(lines) + "\n"


# --- daemons ----------------------------------------------------------------------------


def _controller_argv(config_path: Path) -> list[str]:
    return [str(BINARIES["slurmctld"]), "-D", "-f", str(config_path)]


def _start(argv: list[str], directory: Path, output: Path) -> subprocess.Popen[bytes]:
    with output.open("ab") as out:
        return subprocess.Popen(
            argv,
            cwd=directory,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_for(
    what: str,
    ready: Callable[[], bool],
    processes: Mapping[str, subprocess.Popen[bytes]],
    directory: Path,
) -> None:
    def ready_while_running() -> bool:
        if ready():
            return True
        for name, process in processes.items():
            if process.poll() is not None:
                raise _DaemonExited(name, process.returncode, directory)
        return False

    try:
        eventually_sync(ready_while_running, what=what)
    except NotEventually as exc:
        logs = "\n".join(_daemon_output(directory, name) for name in processes)
        raise SlurmNotAvailable(f"{exc}:\n{logs}") from None


def _daemon_output(directory: Path, name: str) -> str:
    """The last lines of a daemon's log file and of its stdout/stderr."""
    return f"--- {name}\n{_tail(directory / f'{name}.log')}\n{_tail(directory / f'{name}.out')}"


class _DaemonExited(SlurmNotAvailable):
    def __init__(self, name: str, status: int, directory: Path) -> None:
        self.in_use = any(
            "Address already in use" in _read_log(directory / f"{daemon}.{kind}")
            for daemon in ("slurmctld", "slurmd")
            for kind in ("log", "out")
        )
        super().__init__(
            f"{name} exited with status {status} while starting:\n"
            + _daemon_output(directory, name)
        )


def _node_state(directory: Path, node_name: str) -> str:
    result = subprocess.run(
        [str(BINARIES["sinfo"]), "-h", "-N", "-n", node_name, "-o", "%T"],
        env={"PATH": CLIENT_PATH, "SLURM_CONF": str(directory / "slurm.conf")},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    # One line per partition the node is in; all say the same.
    states = set(result.stdout.split()) if result.returncode == 0 else set()
    return states.pop() if len(states) == 1 else ""


def _cancel_all_jobs(cluster: SlurmCluster) -> None:
    """Cancel every job and wait (bounded) until slurmd has ended them."""
    listed = cluster.command(str(BINARIES["squeue"]), "-h", "-o", "%A")
    jobs = listed.stdout.split() if listed.returncode == 0 else []
    if not jobs:
        return
    cluster.command(str(BINARIES["scancel"]), *jobs)

    def drained() -> bool:
        left = cluster.command(str(BINARIES["squeue"]), "-h", "-t", "PD,R,CG,S", "-o", "%A")
        return left.returncode != 0 or not left.stdout.split()

    if within(DRAIN_TIMEOUT, drained):
        return
    log.warning("jobs still listed %.0f s after scancel; ending them by PID", DRAIN_TIMEOUT)


def _stop_all(
    directory: Path, processes: Mapping[str, subprocess.Popen[bytes]], cluster: SlurmCluster | None
) -> None:
    if cluster is not None and all(p.poll() is None for p in processes.values()):
        try:
            _cancel_all_jobs(cluster)
        except (OSError, subprocess.SubprocessError) as error:
            log.warning("cancelling the jobs failed: %s", error)
    # slurmd first (it would report to slurmctld), munged last (both authenticate with it).
    for name in ("slurmd", "slurmctld", "munged"):
        process = processes.get(name)
        if process is not None:
            stop_tree(process.pid)
            process.wait()
    # slurmstepd detaches from slurmd; it holds files of the directory.
    leftovers = _processes_of(directory)
    if leftovers:
        log.info("ending %d processes left by the cluster in %s", len(leftovers), directory)
        end_processes(leftovers)


def _processes_of(directory: Path) -> list[Process]:
    """The processes holding files of ``directory`` and everything below them (a job's
    programs are below its slurmstepd)."""
    found: list[Process] = []
    for holder in processes_referencing(directory):
        below = descendants(holder[0]) if identify(holder[0]) == holder else []
        found += [p for p in [holder, *below] if p not in found]
    return found


@contextlib.contextmanager
def running_slurm(
    workdir: Path,
    *,
    partitions: Sequence[Partition] = DEFAULT_PARTITIONS,
    enforce_partition_limits: bool = True,
) -> Iterator[SlurmCluster]:
    """Run a private single-node cluster for the duration of the block; see the module
    docstring. Its directory (a new one under ``workdir``) is left for post-mortems."""
    _require_system(workdir)
    if sum(p.default for p in partitions) != 1:
        raise ValueError("exactly one partition must be the default")
    directory = Path(tempfile.mkdtemp(prefix="slurm-", dir=workdir))
    directory.chmod(0o755)
    for sub, mode in (("munge", 0o700), ("munge-run", 0o755), ("state", 0o700), ("spool", 0o755)):
        (directory / sub).mkdir(mode=mode)
        (directory / sub).chmod(mode)  # mkdir's mode is masked by the umask
    key = directory / "munge" / "munge.key"
    munge_socket = directory / "munge-run" / "munge.socket"
    config_path = directory / "slurm.conf"
    name = f"lgt{secrets.token_hex(3)}"
    node_name = socket.gethostname().split(".")[0]
    hardware = _node_hardware()
    memory_mb = min(hardware["RealMemory"], MAX_MEMORY_MB)

    processes: dict[str, subprocess.Popen[bytes]] = {}
    cluster: SlurmCluster | None = None
    try:
        subprocess.run(
            [str(BINARIES["mungekey"]), "--create", f"--keyfile={key}"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        processes["munged"] = _start(
            [
                str(BINARIES["munged"]),
                "--foreground",
                f"--socket={munge_socket}",
                f"--key-file={key}",
                f"--log-file={directory / 'munged.log'}",
                f"--pid-file={directory / 'munge' / 'munged.pid'}",
                f"--seed-file={directory / 'munge' / 'munged.seed'}",
            ],
            directory,
            directory / "munged.out",
        )
        _wait_for("munged's socket", munge_socket.is_socket, processes, directory)

        for attempt in range(1, START_ATTEMPTS + 1):
            controller_port, node_port = _free_ports(2)
            config_path.write_text(
                _config_text(
                    name=name,
                    directory=directory,
                    munge_socket=munge_socket,
                    node_name=node_name,
                    hardware=hardware,
                    memory_mb=memory_mb,
                    controller_port=controller_port,
                    node_port=node_port,
                    partitions=partitions,
                    enforce_partition_limits=enforce_partition_limits,
                )
            )
            config_path.chmod(0o644)
            for daemon, argv in (
                ("slurmctld", _controller_argv(config_path)),
                (
                    "slurmd",
                    [str(BINARIES["slurmd"]), "-D", "-f", str(config_path), "-N", node_name],
                ),
            ):
                processes[daemon] = _start(argv, directory, directory / f"{daemon}.out")
            try:
                _wait_for(
                    f"the node {node_name} idle",
                    lambda: _node_state(directory, node_name) == "idle",
                    processes,
                    directory,
                )
                break
            except _DaemonExited as exited:
                if attempt == START_ATTEMPTS or not exited.in_use:
                    raise
                log.warning("%s; trying other ports", exited)
                for daemon in ("slurmd", "slurmctld"):
                    stop_tree(processes[daemon].pid)
                    processes.pop(daemon).wait()

        cluster = SlurmCluster(
            name=name,
            directory=directory,
            config_path=config_path,
            munge_socket=munge_socket,
            node_name=node_name,
            cpus=hardware["CPUs"],
            memory_mb=memory_mb,
            partitions=tuple(partitions),
            controller_port=controller_port,
            node_port=node_port,
            enforce_partition_limits=enforce_partition_limits,
            daemons=processes,
        )
        log.info(
            "private SLURM %s in %s: slurmctld port %d, slurmd port %d",
            name,
            directory,
            controller_port,
            node_port,
        )
        yield cluster
    finally:
        _stop_all(directory, processes, cluster)
