"""Tests for tests/support/slurm.py: a private single-node SLURM, used the way the sessions
feature will use a login node: as the test account over SSH, with the cluster's set-up
line (``export SLURM_CONF=...``) in front of ``sbatch``, ``squeue`` and ``scancel``."""

from __future__ import annotations

import functools
import json
import re
import secrets
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.support.eventually import NotEventually, eventually_sync
from tests.support.processes import (
    alive,
    identify,
    processes_referencing,
    run_as,
    user_directory,
)
from tests.support.slurm import (
    DEBUG_MAX_TIME,
    LONG_MAX_TIME,
    SlurmCluster,
    public_workdir,
    remove_leftovers,
    running_slurm,
)
from tests.support.sshd import SshServer, TestUser, ensure_test_user, running_sshd

T = TypeVar("T")
REFUSED = "Requested time limit is invalid (missing or exceeds some limit)"


@pytest.fixture(scope="module")
def user() -> TestUser:
    return ensure_test_user()


@pytest.fixture(scope="module")
def login_node(tmp_path_factory: pytest.TempPathFactory, user: TestUser) -> Iterator[SshServer]:
    """This machine as a SLURM login node: an sshd for the test account."""
    with running_sshd(tmp_path_factory.mktemp("login-sshd"), user) as server:
        yield server


@pytest.fixture
def job_dir(user: TestUser) -> Iterator[Path]:
    with user_directory(user, "labgate-slurm-jobs-") as path:
        yield path


def _ssh(server: SshServer, cluster: SlurmCluster, script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` on the login node as the test account, after the set-up lines."""
    return subprocess.run(
        server.ssh_command(f"{cluster.setup_lines}; {script}"),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _submit(server: SshServer, cluster: SlurmCluster, options: str) -> int:
    result = _ssh(server, cluster, f"sbatch --parsable {options}")
    assert result.returncode == 0, f"{result.stderr}\n{cluster.logs()}"
    return int(result.stdout.strip().split(";")[0])


def _job(cluster: SlurmCluster, job_id: int) -> dict[str, str]:
    """``scontrol show job`` as a mapping (JobState, Reason, TimeLimit, ...)."""
    result = cluster.command("scontrol", "show", "job", "-o", str(job_id))
    assert result.returncode == 0, result.stderr
    return dict(re.findall(r"(\w+)=(\S*)", result.stdout))


def _wait(what: str, probe: Callable[[], T | None], cluster: SlurmCluster) -> T:
    try:
        return eventually_sync(probe, what=what)
    except NotEventually as exc:
        pytest.fail(f"{exc}\n{cluster.logs()}")


def _state_is(cluster: SlurmCluster, job_id: int, *states: str) -> dict[str, str] | None:
    job = _job(cluster, job_id)
    return job if job["JobState"] in states else None


def _user_processes(user: TestUser, marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and entry.stat().st_uid == user.uid
                and marker.encode() in (entry / "cmdline").read_bytes().split(b"\0")
            ):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _sbatch_as(user: TestUser, cluster: SlurmCluster, options: str) -> int:
    """Submit as the account directly (no SSH), with the cluster's environment."""
    result = run_as(user, ["bash", "-c", f"sbatch --parsable {options}"], env=cluster.environment)
    assert result.returncode == 0, f"{result.stderr}\n{cluster.logs()}"
    return int(result.stdout.strip().split(";")[0])


def test_the_cluster_has_the_node_and_both_partitions(
    slurm: SlurmCluster, login_node: SshServer
) -> None:
    result = _ssh(login_node, slurm, "sinfo -h -o '%R %l %N %c'")
    assert result.returncode == 0, result.stderr
    rows = sorted(line.split() for line in result.stdout.splitlines())
    node = socket.gethostname().split(".")[0]
    cpus = str(slurm.cpus)
    assert rows == [["debug", "30:00", node, cpus], ["long", "2:00:00", node, cpus]]
    assert slurm.node_name == node
    assert (DEBUG_MAX_TIME, LONG_MAX_TIME) == ("00:30:00", "02:00:00")
    shown = slurm.command("scontrol", "show", "partition", "debug", "-o").stdout
    assert "MaxTime=00:30:00" in shown
    assert "Default=YES" in shown


def test_a_batch_job_runs_as_the_account_and_completes(
    slurm: SlurmCluster, login_node: SshServer, user: TestUser, job_dir: Path
) -> None:
    job_id = _submit(login_node, slurm, f"--chdir={job_dir} --wrap 'hostname; id -un; sleep 1'")
    job = _wait("completed job", lambda: _state_is(slurm, job_id, "COMPLETED", "FAILED"), slurm)
    assert job["JobState"] == "COMPLETED", job
    assert job["ExitCode"] == "0:0"
    assert job["UserId"].startswith(f"{user.name}(")
    assert job["Partition"] == "debug"
    output = (job_dir / f"slurm-{job_id}.out").read_text().split()
    assert output == [slurm.node_name, user.name]


def test_a_job_above_the_partition_limit_is_refused_at_submission(
    slurm: SlurmCluster, login_node: SshServer, job_dir: Path
) -> None:
    assert slurm.enforce_partition_limits
    for options in ("--time=00:31:00", "--partition=long --time=02:01:00"):
        result = _ssh(
            login_node, slurm, f"sbatch --parsable {options} --chdir={job_dir} --wrap true"
        )
        assert result.returncode == 1, result.stdout
        assert f"Batch job submission failed: {REFUSED}" in result.stderr
    # Within the longer partition's limit the same walltime is fine.
    job_id = _submit(
        login_node, slurm, f"--partition=long --time=01:00:00 --chdir={job_dir} --wrap true"
    )
    assert _job(slurm, job_id)["TimeLimit"] == "01:00:00"


def test_scancel_ends_a_pending_and_a_running_job(
    slurm: SlurmCluster, login_node: SshServer, user: TestUser, job_dir: Path
) -> None:
    pending = _submit(login_node, slurm, f"--begin=now+3600 --chdir={job_dir} --wrap true")
    job = _job(slurm, pending)
    assert (job["JobState"], job["Reason"]) == ("PENDING", "BeginTime")

    marker = str(3000 + secrets.randbelow(5000))  # sleep's argument finds the job's process
    running = _submit(login_node, slurm, f"--chdir={job_dir} --wrap 'exec sleep {marker}'")
    _wait("running job", lambda: _state_is(slurm, running, "RUNNING"), slurm)
    sleepers = _wait("the job's process", lambda: _user_processes(user, marker) or None, slurm)

    result = _ssh(login_node, slurm, f"scancel {pending} {running}")
    assert result.returncode == 0, result.stderr
    for job_id in (pending, running):
        _wait("cancelled job", functools.partial(_state_is, slurm, job_id, "CANCELLED"), slurm)
    _wait("the job's process gone", lambda: not _user_processes(user, marker) or None, slurm)
    assert sleepers


def test_a_job_runs_on_while_slurmctld_is_stopped_and_started_again(
    slurm: SlurmCluster, login_node: SshServer, job_dir: Path
) -> None:
    job_id = _submit(login_node, slurm, f"--chdir={job_dir} --wrap 'sleep 600'")
    _wait("running job", lambda: _state_is(slurm, job_id, "RUNNING"), slurm)
    first = slurm.pids["slurmctld"]
    with slurm.controller_stopped():
        assert identify(first) is None
        result = _ssh(login_node, slurm, f"squeue -h -j {job_id}")
        assert result.returncode != 0
        assert "Unable to contact slurm controller" in result.stderr
    assert slurm.pids["slurmctld"] != first
    assert _job(slurm, job_id)["JobState"] == "RUNNING"
    slurm.command("scancel", str(job_id))
    _wait("cancelled job", lambda: _state_is(slurm, job_id, "CANCELLED"), slurm)


def test_a_job_shows_its_time_limit(
    slurm: SlurmCluster, login_node: SshServer, job_dir: Path
) -> None:
    limited = _submit(
        login_node, slurm, f"--time=00:05:00 --begin=now+3600 --chdir={job_dir} --wrap true"
    )
    unlimited = _submit(login_node, slurm, f"--begin=now+3600 --chdir={job_dir} --wrap true")
    try:
        result = _ssh(login_node, slurm, f"squeue -h -j {limited},{unlimited} -o '%i %l'")
        assert result.returncode == 0, result.stderr
        limits = dict(line.split() for line in result.stdout.splitlines())
        # Without --time a job gets its partition's MaxTime.
        assert limits == {str(limited): "5:00", str(unlimited): "30:00"}
        assert _job(slurm, limited)["TimeLimit"] == "00:05:00"
    finally:
        _ssh(login_node, slurm, f"scancel {limited} {unlimited}")


def test_without_enforced_limits_such_a_job_waits_and_everything_stops_at_exit(
    slurm: SlurmCluster, user: TestUser, job_dir: Path
) -> None:
    """A second cluster beside the session's (no collision), with SLURM's default
    EnforcePartLimits=NO: the job is accepted and held. At exit nothing is left."""
    marker = str(3000 + secrets.randbelow(5000))
    with public_workdir() as workdir:
        with running_slurm(workdir, enforce_partition_limits=False) as cluster:
            assert cluster.name != slurm.name
            assert {cluster.controller_port, cluster.node_port}.isdisjoint(
                {slurm.controller_port, slurm.node_port}
            )
            held = _sbatch_as(user, cluster, f"--time=01:00:00 --chdir={job_dir} --wrap true")
            job = _wait(
                "job held for its time limit",  # first PartitionConfig, then this
                lambda: (
                    _job(cluster, held)
                    if _job(cluster, held)["Reason"] == "PartitionTimeLimit"
                    else None
                ),
                cluster,
            )
            assert job["JobState"] == "PENDING"
            # A job left running at exit: its slurmstepd detaches from slurmd.
            running = _sbatch_as(user, cluster, f"--chdir={job_dir} --wrap 'exec sleep {marker}'")
            _wait("running job", lambda: _state_is(cluster, running, "RUNNING"), cluster)
            _wait("the job's process", lambda: _user_processes(user, marker) or None, cluster)
            daemons = [identify(pid) for pid in cluster.pids.values()]
            directory = cluster.directory
        assert None not in daemons
        assert not [p for p in daemons if p is not None and alive(p)]
        assert processes_referencing(directory) == []
        assert _user_processes(user, marker) == []
    # The session's cluster is unaffected.
    after = _sbatch_as(user, slurm, f"--chdir={job_dir} --wrap true")
    _wait("completed job", lambda: _state_is(slurm, after, "COMPLETED"), slurm)


_ORPHAN = """
import json, sys, time
from tests.support.slurm import public_workdir, running_slurm

with public_workdir() as workdir, running_slurm(workdir) as cluster:
    print(json.dumps({"directory": str(cluster.directory), "pids": list(cluster.pids.values())}))
    sys.stdout.flush()
    time.sleep(3600)
"""


def test_a_cluster_left_by_a_killed_run_is_removed_by_the_next(slurm: SlurmCluster) -> None:
    """A test run killed with SIGKILL cannot stop its cluster; the next one does."""
    child = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        started = json.loads(child.stdout.readline())
    finally:
        child.kill()
        child.wait()
    directory = Path(started["directory"])
    daemons = [identify(pid) for pid in started["pids"]]
    assert None not in daemons  # still running: nobody stopped them
    remove_leftovers()
    assert not [p for p in daemons if p is not None and alive(p)]
    assert not directory.exists()
    assert not directory.parent.exists()
    # The running session's cluster was not taken for a leftover.
    assert all(identify(pid) is not None for pid in slurm.pids.values())
