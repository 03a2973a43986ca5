"""Running a short command on a resource through the user's daemon and reading what it
printed: how the SLURM launcher talks to sbatch, squeue, scontrol and scancel."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from labgate.agent.client import AgentCallError, AgentConnection
from labgate.agent.typed import RemoteProcesses

COMMAND_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class CommandResult:
    status: int | None
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.status == 0

    def error_text(self) -> str:
        return (self.stderr.strip() or self.stdout.strip() or f"exit status {self.status}")[-2000:]


async def run_command(
    agent: AgentConnection,
    command: str,
    *,
    owner: str,
    setup_lines: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    cwd: str = "~",
    limit_seconds: float = COMMAND_TIMEOUT_SECONDS,
) -> CommandResult:
    """Run ``command`` (a shell command line) to its end; its output and exit status."""
    processes = RemoteProcesses(agent)
    started = await processes.start(
        command=command,
        cwd=cwd,
        setup_lines=setup_lines,
        env=env,
        name="labgate-launcher",
        owner=owner,
    )
    out: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
    stream = await processes.attach(started.id, 0)
    try:
        async with asyncio.timeout(limit_seconds):
            async for chunk in stream:
                out.setdefault(chunk.stream, []).append(chunk.data)
    except TimeoutError:
        with contextlib.suppress(AgentCallError):
            await processes.signal(started.id, "KILL")
        return CommandResult(
            None, "", f"{command.split()[0]} did not finish within {limit_seconds:.0f} s"
        )
    finally:
        with contextlib.suppress(Exception):
            await stream.detach()
    status = stream.exit.exit_status if stream.exit is not None else None
    with contextlib.suppress(AgentCallError):
        await processes.forget(started.id)
    return CommandResult(
        status,
        b"".join(out["stdout"]).decode("utf-8", "replace"),
        b"".join(out["stderr"]).decode("utf-8", "replace"),
    )
