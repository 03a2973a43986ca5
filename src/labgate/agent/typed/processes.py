"""The agent's process methods (``proc.*``), typed: processes and terminals that the
user's daemon runs, their output recorded with absolute offsets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labgate.agent.client import AgentCallError, AgentError, ProcessStream
from labgate.agent.typed.base import AgentCall, Remote, agent_method, given


@dataclass(frozen=True, kw_only=True)
class ProcessInfo:
    """A process as the daemon describes it. ``exit_status`` or ``signal`` (``"TERM"``)
    once it has ended; ``output_start``/``output_end``: what of its output the daemon
    still holds; ``cols``/``rows`` for terminals only."""

    id: str
    pid: int
    name: str
    command: str
    pty: bool
    owner: str
    started_at: float
    ended_at: float | None
    running: bool
    finished: bool  # ended, and its output read to the end
    output_start: int
    output_end: int
    exit_status: int | None = None
    signal: str | None = None
    cols: int | None = None
    rows: int | None = None

    @classmethod
    def of(cls, answer: Mapping[str, Any]) -> ProcessInfo:
        return cls(
            id=str(answer["id"]),
            pid=int(answer["pid"]),
            name=str(answer["name"]),
            command=str(answer["command"]),
            pty=bool(answer["pty"]),
            owner=str(answer.get("owner") or ""),
            started_at=float(answer["started_at"]),
            ended_at=answer.get("ended_at"),
            running=bool(answer["running"]),
            finished=bool(answer["finished"]),
            output_start=int(answer["output_start"]),
            output_end=int(answer["output_end"]),
            exit_status=answer.get("exit_status"),
            signal=answer.get("signal"),
            cols=answer.get("cols"),
            rows=answer.get("rows"),
        )


@dataclass(frozen=True)
class TerminalSize:
    cols: int
    rows: int


class RemoteProcesses(Remote):
    """The processes and terminals of the user's daemon on the resource."""

    @agent_method("proc.start")
    async def start(
        self,
        call: AgentCall,
        *,
        command: str | None = None,
        argv: Sequence[str] | None = None,
        pty: bool = False,
        cwd: str | None = None,
        name: str | None = None,
        setup_lines: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        owner: str = "",
        max_running: int | None = None,
        cols: int | None = None,
        rows: int | None = None,
    ) -> ProcessInfo:
        """Run ``command`` (a shell command line) or ``argv`` after the ``setup_lines``;
        with ``pty`` and neither, the user's login shell in a terminal of ``cols`` by
        ``rows``. With ``max_running``, refused ("too_many_processes") when ``owner``
        has that many running."""
        answer = await call(
            pty=pty,
            setup_lines=list(setup_lines),
            owner=owner,
            **given(
                command=command,
                argv=None if argv is None else list(argv),
                env=dict(env) if env else None,
                cwd=cwd,
                name=name,
                max_running=max_running,
                cols=cols,
                rows=rows,
            ),
        )
        return ProcessInfo.of(answer)

    @agent_method("proc.list")
    async def processes(self, call: AgentCall) -> list[ProcessInfo]:
        """Every process the daemon knows, of every owner, oldest first."""
        answer = await call()
        return [ProcessInfo.of(process) for process in answer["processes"]]

    @agent_method("proc.signal")
    async def signal(self, call: AgentCall, process_id: str, signal: str = "TERM") -> None:
        """Send ``signal`` (``TERM``, ``INT``, ``KILL``, ...) to the process's group."""
        await call(id=process_id, signal=signal)

    @agent_method("proc.resize")
    async def resize(self, call: AgentCall, process_id: str, cols: int, rows: int) -> TerminalSize:
        answer = await call(id=process_id, cols=cols, rows=rows)
        return TerminalSize(int(answer["cols"]), int(answer["rows"]))

    @agent_method("proc.forget")
    async def forget(self, call: AgentCall, process_id: str) -> None:
        """Remove an ended process and its output ("running" if it has not ended)."""
        await call(id=process_id)

    @agent_method("proc.attach")
    async def attach(self, call: AgentCall, process_id: str, offset: int = 0) -> ProcessStream:
        """Its output from ``offset`` and a way to type into it (opens a channel)."""
        return await call.agent.attach(process_id, offset)

    @agent_method("proc.detach")
    async def detach(self, call: AgentCall, channel: int) -> bool:
        """Stop the attachment on ``channel``; the process runs on. False if there was
        none (``ProcessStream.detach`` does this for a stream)."""
        answer = await call(channel=channel)
        return bool(answer["detached"])

    async def printed(self, process: ProcessInfo, max_bytes: int, within: float) -> bytes:
        """The last ``max_bytes`` that ``process`` had printed when it was listed (it may
        print more while they are read), read for at most ``within`` seconds; what was
        read by then (nothing if it cannot be attached to)."""
        end = process.output_end
        start = max(process.output_start, end - max_bytes)
        if start >= end:
            return b""
        pieces: list[bytes] = []
        try:
            stream = await self.attach(process.id, start)
        except (AgentCallError, AgentError):
            return b""
        try:
            async with asyncio.timeout(within):
                async for chunk in stream:
                    pieces.append(chunk.data[: max(0, end - chunk.offset)])
                    if chunk.end >= end:
                        break
        except TimeoutError:
            pass
        finally:
            with contextlib.suppress(Exception):
                await stream.detach()
        return b"".join(pieces)
