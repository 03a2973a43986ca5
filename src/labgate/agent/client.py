"""The server's end of an agent connection: start the agent over a transport, check its
greeting, make calls that may run side by side, and carry byte streams (process output
and input, file contents) on flow-controlled channels.

Channels use ``remote.wire.Channel``, the very code the agent runs, so both ends keep the
same window rules: a stream's consumer that stops reading stops the agent's sending after
one window, and what the server sends waits for the agent's grants in the same way.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import math
import posixpath
from collections.abc import AsyncIterable, AsyncIterator, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from labgate.agent.bootstrap import PYTHON_TOO_OLD, agent_command, agent_payload
from labgate.agent.remote import wire
from labgate.errors import LabgateError
from labgate.transport.base import RemoteProcess, Transport

log = logging.getLogger(__name__)

# How long the agent may take from start to greeting (a slow login node, a cold disk).
HELLO_TIMEOUT_SECONDS = 30
# How long a call's answer may take unless its connection or its caller says otherwise:
# a stopped daemon or a hung filesystem must cost the caller an error, never a wait
# for ever (the reconcile loop and every request share this server).
CALL_TIMEOUT_SECONDS = 60.0
# Calls whose work grows with the data (a tree walked, copied, deleted, searched or
# measured; an upload's file hashed) wait this long by default.
LONG_CALL_TIMEOUT_SECONDS = 3600.0
LONG_CALLS = frozenset(
    {"fs.copy", "fs.delete", "fs.du", "fs.search", "fs.walk", "fs.upload_complete"}
)
# For work that is a job of its own, with its progress shown and a way to cancel it (a
# transfer's copy), and for a write stream's answer while its bytes flow (a large upload
# over a slow link; once the last one is sent, its answer is awaited like a call's).
NO_DEADLINE = math.inf


class AgentError(LabgateError):
    """The agent could not be started or the connection to it failed; ``code`` says
    which way: ``python_missing``, ``python_too_old`` or ``agent_failed``."""

    code = "agent_failed"
    status = 502

    def __init__(self, message: str, *, reason: str = "agent_failed") -> None:
        super().__init__(message)
        self.code = reason


class AgentTimeout(AgentError):
    """The agent did not answer a call in time (the resource is overloaded, its
    filesystem hangs, or the user's daemon there is stopped). The connection stays
    usable; a late answer is dropped."""

    status = 504

    def __init__(self, method: str, seconds: float) -> None:
        super().__init__(
            f"The resource did not answer ({method}) within {seconds:g} s: it may be "
            "overloaded, or its filesystem or your labgate daemon there may be stuck. "
            "Try again later.",
            reason="agent_timeout",
        )
        self.method = method
        self.seconds = seconds


class AgentCallError(LabgateError):
    """A call reached the agent, which answered with an error."""

    code = "agent_call_failed"
    status = 502

    def __init__(self, remote_code: str, message: str) -> None:
        super().__init__(message)
        self.remote_code = remote_code


class _Link:
    """The connection as its channels see it (``wire.Link``)."""

    def __init__(self, process: RemoteProcess) -> None:
        self.process = process
        self.channels: dict[int, wire.Channel] = {}
        self._drain_lock = asyncio.Lock()

    def send(self, frame: bytes) -> None:
        self.process.stdin.write(frame)

    async def drain(self) -> None:
        async with self._drain_lock:
            await self.process.stdin.drain()

    def forget(self, number: int) -> None:
        self.channels.pop(number, None)


class AgentConnection:
    """One running agent. Use :meth:`start`, then :meth:`call` and the stream methods
    (:meth:`attach`, :meth:`read_stream`, :meth:`write_stream`); :meth:`close` ends it.

    Every call's answer is awaited at most ``call_timeout`` seconds
    (``LONG_CALL_TIMEOUT_SECONDS`` for the ``LONG_CALLS``), or as long as its caller says
    (:meth:`call_within`); then :class:`AgentTimeout` is raised. A stream's opening answer and its
    final one (after the last byte is sent) are calls like the others; the bytes between
    flow as the two ends read them, without a deadline."""

    def __init__(
        self,
        process: RemoteProcess,
        hello: dict[str, Any],
        *,
        call_timeout: float = CALL_TIMEOUT_SECONDS,
    ) -> None:
        self.process = process
        self.hello = hello
        self.call_timeout = call_timeout
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._link = _Link(process)
        self._channel_numbers = itertools.count(1)  # never reused on a connection
        self._reader_task = asyncio.create_task(self._read_answers())
        self.closed = False

    @classmethod
    async def start(
        cls,
        transport: Transport,
        *,
        python: str = "python3",
        agent_args: Sequence[str] = (),
        call_timeout: float = CALL_TIMEOUT_SECONDS,
    ) -> AgentConnection:
        """Start the agent; by default it relays to the user's daemon on the resource,
        starting that if none runs (``agent_args`` can say otherwise). ``call_timeout``:
        how long calls wait for their answers unless they say otherwise."""
        try:
            process = await transport.start(agent_command(python, agent_args))
        except FileNotFoundError:
            raise AgentError(
                f"There is no '{python}' on the resource.", reason="python_missing"
            ) from None
        # A loader that could not start (no such python) may have closed its input
        # already: what it said is read below, as for any start that fails.
        with contextlib.suppress(ConnectionError):
            process.stdin.write(agent_payload())
            await process.stdin.drain()
        try:
            frame = await asyncio.wait_for(
                wire.read_frame(process.stdout),
                HELLO_TIMEOUT_SECONDS,
            )
        except (TimeoutError, wire.ProtocolError, ConnectionError) as exc:
            process.terminate()
            raise AgentError(f"The agent did not start: {exc or type(exc).__name__}") from None
        if frame is None or frame[0] != wire.HELLO:
            raise await _startup_failure(process, python)
        hello: dict[str, Any] = json.loads(frame[2])
        log.info("agent %s started over %s: %s", hello.get("agent_version"), transport.name, hello)
        return cls(process, hello, call_timeout=call_timeout)

    async def call(self, method: str, **params: Any) -> Any:
        """Call ``method`` on the agent and return its result (waiting for it at most
        :meth:`timeout_for` ``method``)."""
        return json.loads(await self._answer_to(*self._request(method, params)))

    async def call_within(self, seconds: float, method: str, **params: Any) -> Any:
        """:meth:`call`, waiting at most ``seconds`` for the answer instead
        (``NO_DEADLINE``: as long as it takes)."""
        return json.loads(await self._answer_to(*self._request(method, params), seconds))

    async def call_json(self, method: str, **params: Any) -> bytes:
        """Call ``method`` and return its result as the agent encoded it: JSON, not
        decoded here (for a large answer passed on as it is)."""
        result: bytes = await self._answer_to(*self._request(method, params))
        return result

    def timeout_for(self, method: str) -> float:
        """How long a call of ``method`` waits for its answer by default."""
        if method in LONG_CALLS:
            return max(self.call_timeout, LONG_CALL_TIMEOUT_SECONDS)
        return self.call_timeout

    def _request(self, method: str, params: dict[str, Any]) -> tuple[str, int, asyncio.Future[Any]]:
        # Written at once, not in a task: a request that opens a channel must reach the
        # agent before the first DATA frame for it does.
        if self.closed:
            raise AgentError("The connection to the agent is closed.")
        request_id = next(self._ids)
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = answer
        self._link.send(
            wire.encode_json(wire.REQUEST, {"id": request_id, "method": method, "params": params})
        )
        return method, request_id, answer

    async def _answer_to(
        self,
        method: str,
        request_id: int,
        answer: asyncio.Future[Any],
        within: float | None = None,
    ) -> Any:
        seconds = self.timeout_for(method) if within is None else within
        try:
            async with asyncio.timeout(None if seconds == NO_DEADLINE else seconds):
                await self._link.drain()
                return await answer
        except TimeoutError:
            log.info("the agent did not answer %s within %g s", method, seconds)
            raise AgentTimeout(method, seconds) from None
        finally:
            self._pending.pop(request_id, None)

    async def _final_answer(self, answer: asyncio.Future[Any], method: str) -> Any:
        """A write stream's answer, once its last byte is sent: within the call's time."""
        seconds = self.timeout_for(method)
        try:
            return await asyncio.wait_for(answer, seconds)
        except TimeoutError:
            log.info("the agent did not answer %s within %g s", method, seconds)
            raise AgentTimeout(method, seconds) from None

    # -- streams

    async def attach(self, process_id: str, offset: int = 0) -> ProcessStream:
        """Attach to a process the daemon runs: its output from ``offset`` (what is still
        in its ring, then live), and a way to type into it."""
        channel = self._open_channel()
        answer = await self._call_on(channel, "proc.attach", id=process_id, offset=offset)
        return ProcessStream(self, channel, process_id, answer)

    async def read_stream(
        self, path: str | bytes, *, offset: int = 0, length: int | None = None
    ) -> FileReadStream:
        """Open a file for streaming (``bytes`` paths for names that are not UTF-8); iterate
        the result for its contents. Errors such as "not_found" are raised here."""
        channel = self._open_channel()
        params: dict[str, Any] = {**path_params(path), "offset": offset}
        if length is not None:
            params["length"] = length
        answer = await self._call_on(channel, "fs.read_stream", **params)
        return FileReadStream(channel, answer)

    async def write_stream(
        self,
        path: str | bytes,
        chunks: bytes | Iterable[bytes] | AsyncIterable[bytes],
        *,
        if_version: str | None = None,
        create_only: bool = False,
    ) -> dict[str, Any]:
        """Write a file from ``chunks`` of any size, atomically: the agent renames it into
        place at the end (``{version, size}`` is returned). If ``chunks`` raises, or this is
        cancelled, the upload is aborted and nothing appears under ``path``."""
        channel = self._open_channel()
        params: dict[str, Any] = {**path_params(path), "create_only": create_only}
        if if_version is not None:
            params["if_version"] = if_version
        answer = asyncio.ensure_future(
            self._call_on(channel, "fs.write_stream", within=NO_DEADLINE, **params)
        )
        try:
            async for chunk in _chunks_of(chunks):
                if not await _send_all(channel, chunk):
                    break  # the agent refused or the connection ended: its answer says why
            else:
                channel.close({})
        except BaseException:
            channel.close({"abort": True})
            answer.cancel()
            # Its answer may have come already (an error): the caller's error wins.
            answer.add_done_callback(lambda done: done.cancelled() or done.exception())
            raise
        result: dict[str, Any] = await self._final_answer(answer, "fs.write_stream")
        return result

    async def append_stream(
        self,
        path: str | bytes,
        upload: str,
        chunks: AsyncIterable[bytes],
        *,
        offset: int,
        limit: int,
    ) -> int:
        """Append ``chunks`` to the hidden file of upload ``upload`` (of target ``path``),
        which must hold ``offset`` bytes; returns how many it holds after. More than
        ``limit`` bytes: this call's bytes are taken back ("payload_too_large"). When
        ``chunks`` simply ends early, what was sent is kept."""
        channel = self._open_channel()
        params = {**path_params(path), "upload": upload, "offset": offset, "limit": limit}
        answer = asyncio.ensure_future(
            self._call_on(channel, "fs.upload_append", within=NO_DEADLINE, **params)
        )
        sent = 0
        try:
            async for chunk in chunks:
                if sent + len(chunk) > limit:
                    channel.close({"discard": True})
                    break
                if not await _send_all(channel, chunk):
                    break  # the agent refused or the connection ended: its answer says why
                sent += len(chunk)
            else:
                channel.close({})
        except BaseException:
            channel.close({"abort": True})  # what arrived stays: the upload can resume
            answer.add_done_callback(lambda done: done.cancelled() or done.exception())
            raise
        result: dict[str, Any] = await self._final_answer(answer, "fs.upload_append")
        return int(result["offset"])

    async def archive(self, paths: Sequence[str | bytes], archive_format: str) -> ByteStream:
        """A zip or tar.gz of ``paths`` (all in one directory), streamed while the agent
        builds it. Errors found before the first byte ("not_found") are raised here."""
        channel = self._open_channel()
        await self._call_on(
            channel,
            "fs.archive",
            paths=[path_params(path) for path in paths],
            format=archive_format,
        )
        return ByteStream(channel)

    def _open_channel(self) -> wire.Channel:
        if self.closed:
            raise AgentError("The connection to the agent is closed.")
        channel = wire.Channel(next(self._channel_numbers), self._link)
        self._link.channels[channel.number] = channel
        return channel

    def _call_on(
        self,
        channel: wire.Channel,
        method: str,
        *,
        within: float | None = None,
        **params: Any,
    ) -> Coroutine[Any, Any, Any]:
        """A call that opens ``channel``, sent at once; await the result for its answer.
        If the call fails (or is not answered in time), the channel ends with it."""
        sent = self._request(method, {**params, "channel": channel.number})

        async def answer() -> Any:
            try:
                return json.loads(await self._answer_to(*sent, within))
            except AgentCallError as exc:
                channel.abandon({"error": {"code": exc.remote_code, "message": exc.message}})
                raise
            except AgentTimeout:
                # The agent may open the channel later: it is told to end it then.
                channel.close({"abort": True})
                raise
            except BaseException:
                channel.abandon(wire.CONNECTION_LOST)
                raise

        return answer()

    # -- the connection

    async def _read_answers(self) -> None:
        failure: Exception = AgentError("The agent ended.")
        try:
            while True:
                frame = await wire.read_frame(self.process.stdout)
                if frame is None:
                    break
                kind, number, payload = frame
                if kind == wire.RESPONSE:
                    self._answer(*wire.split_response(payload))
                    continue
                channel = self._link.channels.get(number)
                if channel is None:
                    continue  # a channel that ended here: late frames are dropped
                if kind == wire.DATA:
                    channel.feed(payload)
                elif kind == wire.WINDOW:
                    channel.grant(payload)
                elif kind == wire.CLOSE:
                    channel.peer_closed(wire.decode_object(payload))
        except (wire.ProtocolError, ConnectionError, ValueError) as exc:
            failure = AgentError(f"The connection to the agent failed: {exc}")
        finally:
            self.closed = True
            for answer in self._pending.values():
                if not answer.done():
                    answer.set_exception(failure)
            for channel in list(self._link.channels.values()):
                channel.abandon(wire.CONNECTION_LOST)

    def _answer(self, request_id: Any, result: bytes | None, error: dict[str, Any] | None) -> None:
        answer = self._pending.get(request_id) if isinstance(request_id, int) else None
        if answer is None or answer.done():
            return
        if error is not None:
            answer.set_exception(AgentCallError(error["code"], error["message"]))
        else:
            answer.set_result(result)

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


# -- process attachments ------------------------------------------------------------------


@dataclass(frozen=True)
class OutputChunk:
    """Bytes a process wrote: ``stream`` is "stdout", "stderr" or "pty"; ``offset`` is
    the position of the first byte in everything the process ever wrote."""

    stream: str
    offset: int
    data: bytes

    @property
    def end(self) -> int:
        return self.offset + len(self.data)


@dataclass(frozen=True)
class ProcessExit:
    """How a process ended: its exit status, or the signal (``"TERM"``) that ended it."""

    exit_status: int | None
    signal: str | None


class ProcessStream:
    """An attachment to a process: iterate it for :class:`OutputChunk`\\ s until the
    process ends (then :attr:`exit` is set) or the attachment is detached.

    :attr:`offset` is where the next chunk starts: attach again from there (on this or a
    later connection) to continue without a gap or a repeat. :attr:`dropped` counts bytes
    that were gone from the process's ring before they could be sent (at the start, if
    attached from an older offset, or later, if this reader fell far behind).
    """

    def __init__(
        self,
        connection: AgentConnection,
        channel: wire.Channel,
        process_id: str,
        answer: dict[str, Any],
    ) -> None:
        self._connection = connection
        self._channel = channel
        self.process_id = process_id
        self.start_offset: int = answer["offset"]
        self.offset: int = self.start_offset
        self.dropped: int = answer["dropped"]
        self.exit: ProcessExit | None = None

    @property
    def channel(self) -> int:
        return self._channel.number

    def __aiter__(self) -> ProcessStream:
        return self

    async def __anext__(self) -> OutputChunk:
        payload = await self._channel.read()
        if payload is None:
            message = self._channel.close_message or {}
            if "error" in message:
                raise _stream_error(message)
            if "exit_status" in message:
                self.exit = ProcessExit(message["exit_status"], message.get("signal"))
            raise StopAsyncIteration
        stream, offset = wire.OUTPUT_HEADER.unpack_from(payload)
        data = payload[wire.OUTPUT_HEADER.size :]
        self.dropped += max(0, offset - self.offset)
        self.offset = offset + len(data)
        return OutputChunk(wire.STREAM_NAMES.get(stream, "unknown"), offset, data)

    async def write(self, data: bytes) -> None:
        """Input for the process (keystrokes, for a terminal); waits while the agent
        cannot take more."""
        if not await _send_all(self._channel, data):
            raise AgentError("The process stream has ended.")

    async def close_stdin(self) -> None:
        """End the process's input, after what was written (processes on pipes only)."""
        if not await self._channel.send(b""):
            raise AgentError("The process stream has ended.")

    async def resize(self, cols: int, rows: int) -> None:
        await self._connection.call("proc.resize", id=self.process_id, cols=cols, rows=rows)

    async def signal(self, name: str) -> None:
        await self._connection.call("proc.signal", id=self.process_id, signal=name)

    async def detach(self) -> None:
        """Stop receiving; the process runs on. Iteration ends after what had arrived."""
        if self._channel.closed:
            return
        if self._connection.closed:
            self._channel.abandon({})
            return
        await self._connection.call("proc.detach", channel=self._channel.number)

    async def __aenter__(self) -> ProcessStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with contextlib.suppress(AgentError):
            await self.detach()


# -- file streams ---------------------------------------------------------------------------


class ByteStream:
    """Bytes a call streams until it ends (an archive, a file): iterate for ``bytes``; an
    error the agent meets on the way is raised; :meth:`close` stops early."""

    def __init__(self, channel: wire.Channel) -> None:
        self._channel = channel
        self.received = 0

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        data = await self._channel.read()
        if data is not None:
            self.received += len(data)
            return data
        message = self._channel.close_message
        if message is not None:  # None: closed here, by close()
            self._ended(message)
        raise StopAsyncIteration

    def _ended(self, message: dict[str, Any]) -> None:
        """The agent's CLOSE: raise if it says the stream failed."""
        if "error" in message:
            raise _stream_error(message)

    async def close(self) -> None:
        self._channel.close({"abort": True})

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class FileReadStream(ByteStream):
    """A file's contents as it arrives: iterate for ``bytes``. ``size`` and ``version``
    describe the file when it was opened; :meth:`close` stops early."""

    def __init__(self, channel: wire.Channel, answer: dict[str, Any]) -> None:
        super().__init__(channel)
        self.size: int = answer["size"]
        self.version: str = answer["version"]
        self.offset: int = answer["offset"]

    def _ended(self, message: dict[str, Any]) -> None:
        super()._ended(message)
        if message.get("length") != self.received:
            raise AgentError("The file stream ended early.")


def upload_hidden_path(target: bytes, upload_id: str) -> bytes:
    """Where the agent keeps the bytes of resumable upload ``upload_id`` of ``target``
    (an absolute path): beside it, hidden (the agent's ``transfers._upload_paths``)."""
    name = wire.UPLOAD_PREFIX + upload_id.encode()
    return posixpath.join(posixpath.dirname(target), name)


def path_params(path: str | bytes, key: str = "path") -> dict[str, str]:
    """``path`` as the agent takes it: ``path`` (text) or ``path_raw`` (base64 bytes)."""
    if isinstance(path, bytes):
        return {f"{key}_raw": base64.b64encode(path).decode()}
    return {key: path}


async def _chunks_of(
    chunks: bytes | Iterable[bytes] | AsyncIterable[bytes],
) -> AsyncIterator[bytes]:
    if isinstance(chunks, bytes | bytearray | memoryview):
        yield bytes(chunks)
    elif isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            yield chunk
    else:
        for chunk in chunks:
            yield chunk


async def _send_all(channel: wire.Channel, data: bytes) -> bool:
    """Send ``data`` in DATA frames of at most ``CHUNK`` bytes; False if the channel ended."""
    for start in range(0, len(data), wire.CHUNK):
        if not await channel.send(data[start : start + wire.CHUNK]):
            return False
    return True


def _stream_error(message: dict[str, Any]) -> LabgateError:
    error = message.get("error") or {}
    code = str(error.get("code", "agent_error"))
    text = str(error.get("message", "The stream failed."))
    if code == "connection_lost":
        return AgentError(f"The connection to the agent was lost: {text}")
    return AgentCallError(code, text)


async def _startup_failure(process: RemoteProcess, python: str) -> AgentError:
    """Why the agent ended before greeting, in words a person can act on."""
    # Read before waiting: asyncssh's wait() collects (and so consumes) what is left.
    stderr = (await process.stderr.read()).decode(errors="replace").strip()
    status = await process.wait()
    if status == PYTHON_TOO_OLD:
        message = stderr.removeprefix("labgate-agent: ").capitalize() + "."
        return AgentError(message, reason="python_too_old")
    if status == 127:
        return AgentError(f"There is no '{python}' on the resource.", reason="python_missing")
    detail = f": {stderr.splitlines()[-1]}" if stderr else ""
    return AgentError(f"The agent exited with status {status} before starting{detail}")
