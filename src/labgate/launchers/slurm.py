"""The ``slurm`` launcher: the app runs as a batch job, submitted with ``sbatch`` on the
resource (the cluster's login node).

The job script (in ``~/.labgate/sessions/<id>/``, private to the user) runs the set-up
lines, picks a free port on the node's loopback for the app and starts labgate's agent
beside it as the job's relay (``--relay``, from the ``agent`` file there: the agent's
source, as sent to every resource). The relay listens on every interface of the node,
writes ``<node> <port>`` to the ``endpoint`` file beside the script, and lets a
connection through to the app only once it has begun with the session's relay secret;
then the app starts, on loopback. labgate reads the endpoint file through the login node
and reaches the relay with an SSH channel from the login node's sshd to the node
(compute nodes need not be reachable from labgate, only from the login node), sending
the secret first (``Endpoint.open``). So other users of the cluster reach neither the
app (on loopback) nor the relay (without the secret). The app's token and the relay's
secret travel in sbatch's environment (SLURM exports it to the job), not in a file; the
app does not inherit the relay's secret.

The state kept is the job id and the session's directory; squeue and scontrol answer
everything else, so any labgate server can carry on with it.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from labgate.agent.bootstrap import agent_command, agent_payload
from labgate.agent.client import AgentCallError
from labgate.agent.remote.wire import RELAY_SECRET_VARIABLE
from labgate.agent.typed import RemoteFs, RemoteSystem
from labgate.launchers.commands import CommandResult, run_command
from labgate.launching.decisive import decisive_lines
from labgate.launching.launcher import (
    Endpoint,
    LaunchFailed,
    LaunchRequest,
    Poll,
    ResourceAccess,
    StopFailed,
    relay_secret,
    text_tail,
)
from labgate.launching.template import Placeholders, command_of
from labgate.plugins import hookimpl

# Below the home directory; private to the user (0700).
SESSIONS_DIR = ".labgate/sessions"
PORT_VARIABLE = "LABGATE_PORT"
SOCKET_VARIABLE = "LABGATE_SOCKET"
# Pending reasons that will never resolve by waiting.
_HOPELESS = {
    "PartitionTimeLimit": "The time limit is above what the partition allows.",
    "PartitionNodeLimit": "The job asks for more nodes than the partition allows.",
    "QOSMaxWallDurationPerJobLimit": "The time limit is above what your QOS allows.",
    "ReqNodeNotAvail": "The nodes the job needs are not available.",
    "InvalidAccount": "The account is not valid on this cluster.",
    "InvalidQOS": "The QOS is not valid on this cluster.",
}
_ENDED = {
    "COMPLETED": "The job ended.",
    "CANCELLED": "The job was cancelled.",
    "FAILED": "The job failed.",
    "TIMEOUT": "The job reached its time limit.",
    "NODE_FAIL": "The job's node failed.",
    "PREEMPTED": "The job was preempted by the scheduler.",
    "OUT_OF_MEMORY": "The job ran out of memory.",
    "BOOT_FAIL": "The job's node did not boot.",
    "DEADLINE": "The job missed its deadline.",
}
# squeue, scontrol and scancel give up on an unreachable slurmctld after about 20 s;
# one that takes longer counts as no answer, within the reconciler's check timeout.
SCHEDULER_TIMEOUT_SECONDS = 30.0
# ``sbatch --version`` answers at once (it reads files, asks nobody).
CHECK_TIMEOUT_SECONDS = 15.0
_FREE_PORT = (
    "-c 'import socket; s = socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'"
)


def _minutes(value: Any) -> str:
    minutes = int(value)
    return f"{minutes // 60:d}:{minutes % 60:02d}:00"


def sbatch_options(session_id: str, form: Mapping[str, Any], directory: str) -> list[str]:
    options = [
        f"--job-name=labgate-{session_id}",
        f"--output={directory}/job.log",
        "--open-mode=append",
        f"--cpus-per-task={int(form.get('cpus', 1))}",
        f"--mem={int(form.get('memory_gb', 4))}G",
        f"--time={_minutes(form.get('walltime_minutes', 60))}",
        "--export=ALL",
    ]
    if form.get("partition"):
        options.append(f"--partition={form['partition']}")
    if int(form.get("gpus", 0)):
        options.append(f"--gres=gpu:{int(form['gpus'])}")
    return options


def job_script(request: LaunchRequest, directory: str) -> tuple[str, dict[str, str]]:
    """The script, and the environment sbatch is run with (exported to the job)."""
    # The app listens on a socket in a directory of the node only the user can open
    # (mktemp -d makes it 0700), or on the node's loopback ({host}'s default); the relay
    # reaches it there.
    on_socket = request.template.listen == "socket"
    where = Placeholders(
        request.base_url,
        request.token,
        port_expression=None if on_socket else f'"${PORT_VARIABLE}"',
        socket_expression=f'"${SOCKET_VARIABLE}"' if on_socket else None,
    )
    command, env = command_of(request.template, request.form, where)
    late = {k: v for k, v in env.items() if PORT_VARIABLE in v or SOCKET_VARIABLE in v}
    early = {k: v for k, v in env.items() if k not in late}
    early[RELAY_SECRET_VARIABLE] = relay_secret(request.token)
    workdir = str(request.form.get("workdir") or "~")
    python = shlex.quote(request.python)
    endpoint = shlex.quote(f"{directory}/endpoint")
    relay = " ".join(shlex.quote(word) for word in agent_command(request.python, ["--relay"]))
    if on_socket:
        app = [
            f"{SOCKET_VARIABLE}_DIR=$(mktemp -d /tmp/labgate-XXXXXXXXXX) || exit 1",
            f'{SOCKET_VARIABLE}="${SOCKET_VARIABLE}_DIR/app.sock"',
        ]
        target, said = f'--to-socket "${SOCKET_VARIABLE}"', f"socket ${SOCKET_VARIABLE}"
    else:
        app = [f"{PORT_VARIABLE}=$({python} {_FREE_PORT}) || exit 1"]
        target, said = f'--to-port "${PORT_VARIABLE}"', f"port ${PORT_VARIABLE} (loopback)"
    lines = [
        "#!/bin/bash",
        f"# labgate session {request.session_id}: {request.template.title}",
        *request.setup_lines,
        f"cd {_cd_target(workdir)} || exit 1",
        f"rm -f {endpoint}",  # a requeued job's earlier one
        *app,
        f"{relay} {endpoint} {target} < {shlex.quote(directory + '/agent')} &",
        "LABGATE_RELAY=$!",
        f"unset {RELAY_SECRET_VARIABLE}",  # the relay's, not the app's
        f"until [ -s {endpoint} ]; do",
        '    kill -0 "$LABGATE_RELAY" 2>/dev/null'
        ' || { echo "labgate: the relay did not start (see above)" >&2; exit 1; }',
        "    sleep 0.1",
        "done",
        *(f"export {name}={value}" for name, value in late.items()),
        f'echo "labgate: {request.template.title} on $(hostname), {said},'
        f' relayed from port $(cut -d " " -f 2 {endpoint})"',
        f"exec {command}",
        "",
    ]
    return "\n".join(lines), early


def _cd_target(workdir: str) -> str:
    if workdir == "~":
        return '"$HOME"'
    if workdir.startswith("~/"):
        return '"$HOME"/' + shlex.quote(workdir[2:])
    return shlex.quote(workdir)


_STATE_LINE = re.compile(r"JobState=(\S+)")
_REASON_LINE = re.compile(r"Reason=(\S+)")
# What SLURM's clients say of a job the controller no longer knows (it ended more than
# MinJobAge ago), and what scancel says of one that is ending: both are answers.
_FORGOTTEN = "Invalid job id specified"
_ALREADY_ENDING = "already completing or completed"


def _forgotten(result: CommandResult) -> bool:
    return _FORGOTTEN in result.stderr


def _unknown(command: str, result: CommandResult) -> Poll:
    """No answer from the scheduler (slurmctld restarting or down, a timeout): the job's
    state is unknown, not ended."""
    return Poll("unknown", f"{command}: {result.error_text()}")


async def _scheduler(agent: Any, state: Mapping[str, Any], command: str) -> CommandResult:
    """A SLURM client command for a submitted job, with the resource's set-up lines."""
    return await run_command(
        agent,
        command,
        owner=str(state.get("owner", "")),
        setup_lines=list(state.get("setup_lines", [])),
        limit_seconds=SCHEDULER_TIMEOUT_SECONDS,
    )


class SlurmLauncher:
    name = "slurm"
    batch = True
    title = "As a SLURM batch job"

    async def unusable(self, resource: ResourceAccess, setup_lines: Sequence[str]) -> str | None:
        """Unless ``sbatch`` runs there (with the set-up lines, which may load SLURM):
        ``sbatch --version`` reads SLURM's configuration without asking the controller,
        so it fails at once where sbatch is missing or SLURM is not set up."""
        result = await run_command(
            await resource.agent(),
            "sbatch --version",
            owner="labgate-check",
            setup_lines=list(setup_lines),
            limit_seconds=CHECK_TIMEOUT_SECONDS,
        )
        if result.ok or result.status is None:  # a slow answer does not hide it
            return None
        if result.status == 127:
            return (
                "sbatch is not on this resource's PATH: it is not a SLURM login node "
                "(or its set-up lines do not load SLURM)."
            )
        said = decisive_lines(result.stderr + result.stdout, limit=1)
        return "SLURM is not set up on this resource" + (f" ({said[0]})." if said else ".")

    async def start(self, resource: ResourceAccess, request: LaunchRequest) -> dict[str, Any]:
        agent = await resource.agent()
        files = RemoteFs(agent)
        try:
            home = (await RemoteSystem(agent).info()).home
            directory = posixpath.join(home, SESSIONS_DIR, request.session_id)
            await files.mkdir(directory, parents=True)
            await files.chmod(posixpath.join(home, ".labgate"), 0o700)
        except (AgentCallError, KeyError) as exc:
            raise LaunchFailed(
                f"Could not make the session's folder on the resource: {exc}"
            ) from exc
        script, env = job_script(request, directory)
        try:
            for name, content in (("job.sh", script.encode()), ("agent", agent_payload())):
                await files.write(f"{directory}/{name}", content)
        except AgentCallError as exc:
            raise LaunchFailed(f"Could not write the job script: {exc}") from exc
        options = " ".join(
            shlex.quote(o) for o in sbatch_options(request.session_id, request.form, directory)
        )
        result = await run_command(
            agent,
            f"sbatch --parsable {options} {shlex.quote(directory + '/job.sh')}",
            owner=request.owner_tag,
            setup_lines=list(request.setup_lines),
            env=env,
        )
        if result.status == 127:
            raise LaunchFailed("sbatch was not found on the resource: is it a SLURM login node?")
        if not result.ok:
            raise LaunchFailed(f"The scheduler refused the job: {result.error_text()}")
        job_id = result.stdout.strip().split(";", 1)[0]
        if not job_id.isdigit():
            raise LaunchFailed(f"sbatch answered something unexpected: {result.stdout.strip()!r}")
        return {
            "job_id": job_id,
            "directory": directory,
            "title": request.template.title,
            "setup_lines": list(request.setup_lines),
            "owner": request.owner_tag,
            # The job's endpoint is its relay (jobs of older labgates had none).
            "relay": True,
            "submitted": f"Submitted to SLURM (job {job_id}).",
        }

    async def poll(self, resource: ResourceAccess, state: Mapping[str, Any]) -> Poll:
        agent = await resource.agent()
        job_id = str(state["job_id"])
        result = await _scheduler(agent, state, f"squeue -h -j {shlex.quote(job_id)} -o '%T|%r|%N'")
        if not result.ok and not _forgotten(result):
            return _unknown("squeue", result)
        line = result.stdout.strip().splitlines()[0] if result.ok and result.stdout.strip() else ""
        if not line:
            return await self._finished(agent, state)
        job_state, reason, node = [*line.split("|"), "", ""][:3]
        if job_state == "PENDING":
            if reason in _HOPELESS:
                return Poll(
                    "ended",
                    f"SLURM will not start the job: {_HOPELESS[reason]}",
                    scheduler_state=job_state,
                )
            return Poll(
                "pending",
                f"Pending: {reason or 'waiting'} (job {job_id}).",
                scheduler_state=job_state,
            )
        if job_state in ("RUNNING", "CONFIGURING", "COMPLETING"):
            endpoint = await self._endpoint(agent, state)
            if endpoint is None:
                return Poll(
                    "starting", f"Running on {node}.", where=node, scheduler_state=job_state
                )
            return Poll(
                "running", "running", endpoint=endpoint, where=node, scheduler_state=job_state
            )
        message = _ENDED.get(job_state, f"The job is {job_state.lower()}.")
        return Poll("ended", message, scheduler_state=job_state)

    async def _finished(self, agent: Any, state: Mapping[str, Any]) -> Poll:
        result = await _scheduler(
            agent, state, f"scontrol -o show job {shlex.quote(str(state['job_id']))}"
        )
        if not result.ok and not _forgotten(result):
            return _unknown("scontrol", result)
        found = _STATE_LINE.search(result.stdout) if result.ok else None
        job_state = found.group(1) if found else ""
        message = _ENDED.get(job_state, "The job is no longer known to SLURM.")
        reason = _REASON_LINE.search(result.stdout) if result.ok else None
        if reason and reason.group(1) not in ("None", ""):
            message = f"{message} ({reason.group(1)})"
        return Poll("ended", message, scheduler_state=job_state)

    async def _endpoint(self, agent: Any, state: Mapping[str, Any]) -> Endpoint | None:
        try:
            answer = await RemoteFs(agent).read(f"{state['directory']}/endpoint")
        except AgentCallError:
            return None
        words = answer.data.decode("utf-8", "replace").split()
        if len(words) != 2 or not words[1].isdigit():
            return None
        return Endpoint(
            "tcp", host=words[0], port=int(words[1]), relay=bool(state.get("relay", False))
        )

    async def stop(self, resource: ResourceAccess, state: Mapping[str, Any]) -> None:
        agent = await resource.agent()
        job_id = str(state["job_id"])
        result = await _scheduler(agent, state, f"scancel {shlex.quote(job_id)}")
        # scancel of a job that has ended (or was forgotten) succeeds quietly; anything
        # else means the job may still run.
        if not result.ok and not _forgotten(result) and _ALREADY_ENDING not in result.stderr:
            raise StopFailed(f"SLURM could not cancel job {job_id}: {result.error_text()}")

    async def log(self, resource: ResourceAccess, state: Mapping[str, Any], max_bytes: int) -> str:
        agent = await resource.agent()
        path = posixpath.join(str(state["directory"]), "job.log")
        files = RemoteFs(agent)
        try:
            size = (await files.stat(path)).size
            answer = await files.read(path, offset=max(0, size - max_bytes), length=max_bytes)
        except AgentCallError:
            return ""
        return text_tail(answer.data, max_bytes)


@hookimpl
def register_launchers() -> list[SlurmLauncher]:
    return [SlurmLauncher()]
