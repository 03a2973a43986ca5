"""The server's end of an agent connection: start the agent over a transport, check its
greeting, and make calls that may run side by side."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Sequence
from typing import Any

from labgate.agent import program
from labgate.agent.bootstrap import PYTHON_TOO_OLD, agent_command, agent_payload
from labgate.errors import LabgateError
from labgate.transport.base import RemoteProcess, Transport

log = logging.getLogger(__name__)

# How long the agent may take from start to greeting (a slow login node, a cold disk).
HELLO_TIMEOUT_SECONDS = 30


class AgentError(LabgateError):
    """The agent could not be started or the connection to it failed."""

    code = "agent_unavailable"
    status = 502


class AgentCallError(LabgateError):
    """A call reached the agent, which answered with an error."""

    code = "agent_call_failed"
    status = 502

    def __init__(self, remote_code: str, message: str) -> None:
        super().__init__(message)
        self.remote_code = remote_code


class AgentConnection:
    """One running agent. Use :meth:`start`, then :meth:`call`; :meth:`close` ends it."""

    def __init__(self, process: RemoteProcess, hello: dict[str, Any]) -> None:
        self.process = process
        self.hello = hello
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._reader_task = asyncio.create_task(self._read_answers())
        self.closed = False

    @classmethod
    async def start(
        cls, transport: Transport, *, python: str = "python3", agent_args: Sequence[str] = ()
    ) -> AgentConnection:
        """Start the agent; by default it relays to the user's daemon on the resource,
        starting that if none runs (``agent_args`` can say otherwise)."""
        try:
            process = await transport.start(agent_command(python, agent_args))
        except FileNotFoundError:
            raise AgentError(f"There is no '{python}' on the resource.") from None
        process.stdin.write(agent_payload())
        await process.stdin.drain()
        try:
            frame = await asyncio.wait_for(
                program.read_frame(process.stdout),
                HELLO_TIMEOUT_SECONDS,
            )
        except (TimeoutError, program.ProtocolError, ConnectionError) as exc:
            process.terminate()
            raise AgentError(f"The agent did not start: {exc or type(exc).__name__}") from None
        if frame is None or frame[0] != program.HELLO:
            raise await _startup_failure(process, python)
        hello: dict[str, Any] = json.loads(frame[2])
        log.info("agent %s started over %s: %s", hello.get("agent_version"), transport.name, hello)
        return cls(process, hello)

    async def call(self, method: str, **params: Any) -> Any:
        """Call ``method`` on the agent and return its result."""
        if self.closed:
            raise AgentError("The connection to the agent is closed.")
        request_id = next(self._ids)
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = answer
        self.process.stdin.write(
            program.encode_json(
                program.REQUEST, {"id": request_id, "method": method, "params": params}
            )
        )
        try:
            await self.process.stdin.drain()
            return await answer
        finally:
            self._pending.pop(request_id, None)

    async def _read_answers(self) -> None:
        failure: Exception = AgentError("The agent ended.")
        try:
            while True:
                frame = await program.read_frame(self.process.stdout)
                if frame is None:
                    break
                kind, _channel, payload = frame
                if kind != program.RESPONSE:
                    continue
                message = json.loads(payload)
                answer = self._pending.get(message.get("id"))
                if answer is None or answer.done():
                    continue
                if "error" in message:
                    error = message["error"]
                    answer.set_exception(AgentCallError(error["code"], error["message"]))
                else:
                    answer.set_result(message.get("result"))
        except (program.ProtocolError, ConnectionError, ValueError) as exc:
            failure = AgentError(f"The connection to the agent failed: {exc}")
        finally:
            self.closed = True
            for answer in self._pending.values():
                if not answer.done():
                    answer.set_exception(failure)

    async def close(self) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            self.process.terminate()
            await self.process.wait()
        self._reader_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader_task


async def _startup_failure(process: RemoteProcess, python: str) -> AgentError:
    """Why the agent ended before greeting, in words a person can act on."""
    status = await process.wait()
    stderr = (await process.stderr.read()).decode(errors="replace").strip()
    if status == PYTHON_TOO_OLD:
        return AgentError(stderr.removeprefix("labgate-agent: ").capitalize() + ".")
    if status == 127:
        return AgentError(f"There is no '{python}' on the resource.")
    detail = f": {stderr.splitlines()[-1]}" if stderr else ""
    return AgentError(f"The agent exited with status {status} before starting{detail}")
