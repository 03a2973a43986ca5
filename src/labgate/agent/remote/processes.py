"""Processes and terminals.

Processes belong to the daemon, not to the connection that started them: they run on
when it ends, and their output is kept in a ring whether or not anyone is attached,
so the process never waits for a reader. Each process runs in its own session, so a
signal reaches its whole process group, and a terminal gets the pty as its controlling
terminal (job control, vim and htop work).
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import contextlib
import fcntl
import os
import pwd
import shlex
import signal
import struct
import sys
import termios
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Set, Tuple

from .methods import rpc
from .runtime import STATE, private_dir
from .tasks import _resolve
from .wire import AGENT_VERSION, CHUNK, PTY, STDERR, STDOUT, Channel, RemoteError

if TYPE_CHECKING:
    from .connection import Agent

RING_BYTES = 1024 * 1024
RECORD_OVERHEAD = 64  # counted per record, so many tiny writes cannot cost unbounded memory
OUTPUT_GRACE_SECONDS = 2.0  # after an exit, how long to wait for children holding the output
FINISHED_KEPT = 64  # finished processes remembered (with their output) before the oldest go


class OutputRing:
    """The newest ``capacity`` bytes of a process's output, by global byte offset.

    Offsets count every byte the process ever wrote (stdout and stderr share one
    sequence); ``start`` is the oldest still held, ``end`` the next to come. Records are
    runs of one stream, at most CHUNK long, found by bisecting their start offsets.
    """

    def __init__(self, capacity: int = RING_BYTES) -> None:
        self.capacity = capacity
        self.end = 0
        self._starts: List[int] = []
        self._streams: List[int] = []
        self._records: List[bytearray] = []
        self._first = 0  # records before this one were dropped
        self._cost = 0

    @property
    def start(self) -> int:
        return self._starts[self._first] if self._first < len(self._starts) else self.end

    def append(self, stream: int, data: bytes) -> None:
        view = memoryview(data)
        if self._first < len(self._records) and self._streams[-1] == stream:
            last = self._records[-1]
            room = CHUNK - len(last)
            if room > 0:
                last.extend(view[:room])
                self._grow(min(room, len(view)), 0)
                view = view[room:]
        while view:
            piece = view[:CHUNK]
            self._starts.append(self.end)
            self._streams.append(stream)
            self._records.append(bytearray(piece))
            self._grow(len(piece), RECORD_OVERHEAD)
            view = view[CHUNK:]
        self._trim()

    def _grow(self, size: int, overhead: int) -> None:
        self.end += size
        self._cost += size + overhead

    def _trim(self) -> None:
        while self._cost > self.capacity:
            excess = self._cost - self.capacity
            record = self._records[self._first]
            if excess >= len(record):
                self._cost -= len(record) + RECORD_OVERHEAD
                self._records[self._first] = bytearray()
                self._first += 1
            else:
                del record[:excess]
                self._starts[self._first] += excess
                self._cost -= excess
        if self._first > 1024 and self._first * 2 > len(self._records):
            del self._starts[: self._first]
            del self._streams[: self._first]
            del self._records[: self._first]
            self._first = 0

    def read(self, offset: int, limit: int) -> Optional[Tuple[int, int, bytes]]:
        """(stream, offset, bytes) from ``offset`` on (or from ``start`` if that part was
        dropped), at most ``limit`` bytes of one stream; None when nothing is there yet."""
        offset = max(offset, self.start)
        if offset >= self.end:
            return None
        index = bisect.bisect_right(self._starts, offset, self._first) - 1
        begin = offset - self._starts[index]
        return self._streams[index], offset, bytes(self._records[index][begin : begin + limit])


class Process:
    """A command or terminal the daemon runs, and the output it recorded."""

    def __init__(self, process_id: str, name: str, command: str, pty: bool) -> None:
        self.id = process_id
        self.name = name
        self.command = command
        self.pty = pty
        # Who started it, as the server tags it (labgate users sharing one remote
        # account each see only their own processes).
        self.owner = ""
        self.cols = 0
        self.rows = 0
        self.pid = 0
        self.started_at = time.time()
        self.ended_at: Optional[float] = None
        self.returncode: Optional[int] = None
        self.finished = False  # exited, and all its output recorded
        self.output = OutputRing()
        self._child: Optional[asyncio.subprocess.Process] = None
        self._readers: Dict[int, int] = {}
        self._fds: Set[int] = set()
        self._input_fd: Optional[int] = None
        self._input_waiter: Optional[asyncio.Future[None]] = None
        self._input_lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._outputs_ended = asyncio.Event()
        self._watcher: Optional[asyncio.Future[None]] = None

    # -- starting

    async def spawn(self, argv: List[str], cwd: str, env: Dict[str, str]) -> None:
        if self.pty:
            master, slave = os.openpty()
            parent_ends, child_ends = [master], [slave]
            stdio: Dict[str, Any] = {
                "stdin": slave,
                "stdout": slave,
                "stderr": slave,
                "preexec_fn": _take_controlling_terminal,
            }
            outputs = {master: PTY}
        else:
            stdin_read, stdin_write = os.pipe()
            stdout_read, stdout_write = os.pipe()
            stderr_read, stderr_write = os.pipe()
            parent_ends = [stdin_write, stdout_read, stderr_read]
            child_ends = [stdin_read, stdout_write, stderr_write]
            stdio = {"stdin": stdin_read, "stdout": stdout_write, "stderr": stderr_write}
            outputs = {stdout_read: STDOUT, stderr_read: STDERR}
        try:
            if self.pty:
                _configure_terminal(child_ends[0], self.cols, self.rows)
            self._child = await asyncio.create_subprocess_exec(
                *argv, cwd=cwd, env=env, start_new_session=True, **stdio
            )
        except BaseException:
            for fd in parent_ends:
                os.close(fd)
            raise
        finally:
            for fd in child_ends:
                os.close(fd)
        self.pid = self._child.pid
        loop = asyncio.get_event_loop()
        for fd in parent_ends:
            os.set_blocking(fd, False)
            self._fds.add(fd)
        self._input_fd = parent_ends[0]
        for fd, stream in outputs.items():
            self._readers[fd] = stream
            loop.add_reader(fd, self._readable, fd)
        self._watcher = asyncio.ensure_future(self._watch())

    # -- output

    def changed(self) -> asyncio.Event:
        """Set at the next change: new output, the exit, the end."""
        return self._changed

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _readable(self, fd: int) -> bool:
        """Record what ``fd`` has; False when nothing was there."""
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return False
        except OSError:  # EIO: the terminal's last user closed it
            data = b""
        if data:
            self.output.append(self._readers[fd], data)
            self._notify()
            return True
        self._stop_reading(fd)
        return False

    def _stop_reading(self, fd: int) -> None:
        if self._readers.pop(fd, None) is not None:
            asyncio.get_event_loop().remove_reader(fd)
        if not self._readers:
            self._outputs_ended.set()

    async def _watch(self) -> None:
        assert self._child is not None
        self.returncode = await self._child.wait()
        self.ended_at = time.time()
        self._notify()
        try:
            await asyncio.wait_for(self._outputs_ended.wait(), OUTPUT_GRACE_SECONDS)
        except asyncio.TimeoutError:
            # Something it started still holds the output: take what is there, then stop.
            for fd in list(self._readers):
                for _ in range(RING_BYTES // CHUNK):
                    if not self._readable(fd):
                        break
        self._release()
        self.finished = True
        STATE.last_active = time.monotonic()
        PROCESSES.prune()
        self._notify()

    def _release(self) -> None:
        loop = asyncio.get_event_loop()
        for fd in list(self._readers):
            loop.remove_reader(fd)
        self._readers.clear()
        self._outputs_ended.set()
        if self._input_fd is not None:
            loop.remove_writer(self._input_fd)
            self._input_fd = None
        if self._input_waiter is not None and not self._input_waiter.done():
            self._input_waiter.set_result(None)
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()

    def exit_message(self) -> Dict[str, Any]:
        code = self.returncode
        if code is not None and code < 0:
            try:
                name: Optional[str] = signal.Signals(-code).name[3:]
            except ValueError:
                name = str(-code)
            return {"exit_status": None, "signal": name}
        return {"exit_status": code, "signal": None}

    # -- input and control

    async def write_input(self, data: bytes) -> None:
        """Write to the process's stdin (or terminal); dropped once it cannot take any."""
        async with self._input_lock:
            view = memoryview(data)
            while view:
                fd = self._input_fd
                if fd is None:
                    return
                try:
                    view = view[os.write(fd, view) :]
                except BlockingIOError:
                    await self._writable(fd)
                except OSError:  # EPIPE, EIO: it stopped reading for good
                    return

    async def _writable(self, fd: int) -> None:
        loop = asyncio.get_event_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._input_waiter = waiter
        loop.add_writer(fd, _resolve, waiter)
        try:
            await waiter
        finally:
            self._input_waiter = None
            if self._input_fd == fd:
                loop.remove_writer(fd)

    async def close_input(self) -> None:
        """End of input for a process on pipes (after what was written before)."""
        async with self._input_lock:
            fd = self._input_fd
            if fd is None or self.pty:
                return
            self._input_fd = None
            self._fds.discard(fd)
            os.close(fd)

    def resize(self, cols: int, rows: int) -> None:
        if not self.pty:
            raise RemoteError("not_a_terminal", "The process has no terminal to resize.")
        if self._input_fd is None:
            raise RemoteError("not_running", "The process has ended.")
        # The kernel tells the terminal's foreground process group (SIGWINCH).
        _set_size(self._input_fd, cols, rows)
        self.cols, self.rows = cols, rows

    def send_signal(self, number: int) -> None:
        if self.returncode is not None:
            raise RemoteError("not_running", "The process has ended.")
        os.killpg(self.pid, number)

    def describe(self) -> Dict[str, Any]:
        description: Dict[str, Any] = {
            "id": self.id,
            "pid": self.pid,
            "name": self.name,
            "command": self.command,
            "pty": self.pty,
            "owner": self.owner,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "running": self.returncode is None,
            "finished": self.finished,
            "output_start": self.output.start,
            "output_end": self.output.end,
        }
        description.update(self.exit_message())
        if self.pty:
            description.update(cols=self.cols, rows=self.rows)
        return description


def _take_controlling_terminal() -> None:
    # Runs in the child between fork and exec, after setsid: the pty on its stdin
    # becomes the new session's controlling terminal.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


# termios has no IUTF8 before Python 3.13; it makes backspace remove whole UTF-8 characters.
_IUTF8 = getattr(termios, "IUTF8", 0o40000 if sys.platform.startswith("linux") else 0)


def _configure_terminal(fd: int, cols: int, rows: int) -> None:
    _set_size(fd, cols, rows)
    attributes = termios.tcgetattr(fd)
    attributes[0] |= _IUTF8
    termios.tcsetattr(fd, termios.TCSANOW, attributes)


class ProcessTable:
    """Every process the daemon started, by id, until it is forgotten."""

    def __init__(self) -> None:
        self.processes: Dict[str, Process] = {}
        # Processes being spawned, by owner: counted against a cap before they are here.
        self.starting: Dict[str, int] = {}

    def new_id(self) -> str:
        while True:
            candidate = base64.b32encode(os.urandom(5)).decode().lower()
            if candidate not in self.processes:
                return candidate

    def get(self, params: Dict[str, Any]) -> Process:
        process = self.processes.get(str(params.get("id")))
        if process is None:
            raise RemoteError(
                "not_found",
                "There is no process %r (forgotten, or the daemon was restarted)."
                % params.get("id"),
            )
        return process

    def running(self) -> int:
        return sum(1 for p in self.processes.values() if not p.finished)

    def running_of(self, owner: str) -> int:
        """Processes of ``owner`` running or being started."""
        running = sum(1 for p in self.processes.values() if p.owner == owner and not p.finished)
        return running + self.starting.get(owner, 0)

    def prune(self) -> None:
        finished = sorted(
            (p for p in self.processes.values() if p.finished), key=lambda p: p.started_at
        )
        for process in finished[: max(0, len(finished) - FINISHED_KEPT)]:
            del self.processes[process.id]


PROCESSES = ProcessTable()


def _strings(value: Any, what: str) -> List[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RemoteError("bad_request", "%s must be a list of strings" % what)
    return list(value)


def _shell(lines: List[str]) -> List[str]:
    """Run lines as a login shell would: bash -l when there is bash, else sh."""
    script = "\n".join(lines)
    if os.path.exists("/bin/bash"):
        return ["/bin/bash", "-lc", script]
    return ["/bin/sh", "-c", script]


def _login_shell() -> str:
    try:
        shell = pwd.getpwuid(os.getuid()).pw_shell
    except KeyError:
        shell = ""
    if (
        not shell
        or os.path.basename(shell) in ("nologin", "false")
        or not os.access(shell, os.X_OK)
    ):
        shell = "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"
    return shell


# A login shell reads its profile files after whatever ran before it, and they may undo
# the set-up lines (Debian's /etc/profile, for one, resets PATH, so an activated venv
# would be lost). For bash, the terminal is therefore an interactive shell that reads
# what a login shell reads and then the set-up lines, from this file.
BASH_LOGIN_RC = """\
# Written by the labgate agent: what a login shell reads, then the set-up lines.
if [ -r /etc/profile ]; then . /etc/profile; fi
for _labgate_rc in ~/.bash_profile ~/.bash_login ~/.profile; do
    if [ -r "$_labgate_rc" ]; then . "$_labgate_rc"; break; fi
done
unset _labgate_rc
eval "${LABGATE_SETUP-}"
unset LABGATE_SETUP
"""


def _bash_login_rc() -> str:
    path = os.path.join(private_dir(), "bash-login-v%d.rc" % AGENT_VERSION)
    try:
        with open(path) as handle:
            if handle.read() == BASH_LOGIN_RC:
                return path
    except OSError:
        pass
    temporary = "%s.%d" % (path, os.getpid())
    with open(temporary, "w") as handle:
        handle.write(BASH_LOGIN_RC)
    os.replace(temporary, path)
    return path


def _process_command(params: Dict[str, Any]) -> Tuple[List[str], str, Dict[str, str]]:
    """The argv to run, the command as shown, and environment the shell needs."""
    setup = _strings(params.get("setup_lines", []), "setup_lines")
    if "argv" in params:
        argv = _strings(params["argv"], "argv")
        if not argv:
            raise RemoteError("bad_request", "argv cannot be empty")
        shown = " ".join(shlex.quote(word) for word in argv)
        return _shell([*setup, "exec " + shown]), shown, {}
    command = params.get("command")
    if command is not None:
        if not isinstance(command, str) or not command.strip():
            raise RemoteError("bad_request", "command must be a non-empty string")
        # As written, so pipes, && and functions from the set-up lines work.
        return _shell([*setup, command]), command, {}
    if not params.get("pty"):
        raise RemoteError("bad_request", "command or argv is required (or pty for a terminal)")
    shell = _login_shell()
    if os.path.basename(shell) == "bash":
        return (
            [shell, "--rcfile", _bash_login_rc(), "-i"],
            shell,
            {"LABGATE_SETUP": "\n".join(setup)},
        )
    return _shell([*setup, "exec %s -l" % shlex.quote(shell)]), shell, {}


def _process_environment(params: Dict[str, Any], pty: bool) -> Dict[str, str]:
    env = dict(os.environ)
    env.setdefault("LANG", "C.UTF-8")
    if pty:
        env["TERM"] = "xterm-256color"
        env["COLORTERM"] = "truecolor"
    extra = params.get("env") or {}
    if not isinstance(extra, dict):
        raise RemoteError("bad_request", "env must be an object of strings")
    for key, value in extra.items():
        if not isinstance(value, str) or not key or "=" in key:
            raise RemoteError("bad_request", "env must map names to strings")
        env[key] = value
    return env


def _terminal_size(params: Dict[str, Any]) -> Tuple[int, int]:
    cols, rows = int(params.get("cols", 80)), int(params.get("rows", 24))
    if not (1 <= cols <= 10000 and 1 <= rows <= 10000):
        raise RemoteError("bad_request", "cols and rows must be from 1 to 10000")
    return cols, rows


@rpc("proc.start")
async def rpc_proc_start(params: Dict[str, Any]) -> Dict[str, Any]:
    """Start a command (``command`` for the shell, or ``argv``) or, with ``pty`` and no
    command, the user's shell, after the ``setup_lines``; its output is recorded. With
    ``max_running``, refused (``too_many_processes``) when the ``owner`` has that many
    running already."""
    owner = str(params.get("owner") or "")[:200]
    limit = params.get("max_running")
    if limit is not None and PROCESSES.running_of(owner) >= int(limit):
        raise RemoteError(
            "too_many_processes",
            "You have %d processes and terminals running here, the most labgate allows on "
            "one resource. End one, then try again." % PROCESSES.running_of(owner),
        )
    PROCESSES.starting[owner] = PROCESSES.starting.get(owner, 0) + 1
    try:
        return await _start_process(params, owner)
    finally:
        PROCESSES.starting[owner] -= 1
        if not PROCESSES.starting[owner]:
            del PROCESSES.starting[owner]


async def _start_process(params: Dict[str, Any], owner: str) -> Dict[str, Any]:
    pty = bool(params.get("pty", False))
    argv, shown, shell_env = _process_command(params)
    env = _process_environment(params, pty)
    env.update(shell_env)
    cwd = os.path.expanduser(str(params.get("cwd") or "~"))
    name = str(params.get("name") or os.path.basename(shown.split(" ", 1)[0]))
    process = Process(PROCESSES.new_id(), name[:200], shown, pty)
    process.owner = owner
    if pty:
        process.cols, process.rows = _terminal_size(params)
    await process.spawn(argv, cwd, env)
    PROCESSES.processes[process.id] = process
    return process.describe()


@rpc("proc.list")
async def rpc_proc_list(params: Dict[str, Any]) -> Dict[str, Any]:
    processes = sorted(PROCESSES.processes.values(), key=lambda p: p.started_at)
    return {"processes": [p.describe() for p in processes]}


@rpc("proc.resize")
async def rpc_proc_resize(params: Dict[str, Any]) -> Dict[str, Any]:
    process = PROCESSES.get(params)
    process.resize(*_terminal_size(params))
    return {"cols": process.cols, "rows": process.rows}


def _signal_number(value: Any) -> int:
    name = str(value).upper()
    name = name if name.startswith("SIG") else "SIG" + name
    if name not in signal.Signals.__members__:
        raise RemoteError("bad_request", "There is no signal %r." % value)
    return int(signal.Signals[name])


@rpc("proc.signal")
async def rpc_proc_signal(params: Dict[str, Any]) -> Dict[str, Any]:
    """Send a signal (``TERM``, ``INT``, ``KILL``, ``HUP``...) to the process group."""
    PROCESSES.get(params).send_signal(_signal_number(params.get("signal", "TERM")))
    return {"sent": True}


@rpc("proc.forget")
async def rpc_proc_forget(params: Dict[str, Any]) -> Dict[str, Any]:
    process = PROCESSES.get(params)
    if not process.finished:
        raise RemoteError("running", "The process is still running; signal it first.")
    del PROCESSES.processes[process.id]
    return {"forgotten": True}


@rpc("proc.attach", channel=True)
async def rpc_proc_attach(
    agent: "Agent", params: Dict[str, Any], channel: Optional[Channel]
) -> Dict[str, Any]:
    """Replay the output from ``offset`` and stream what follows on ``channel``; the
    server's DATA there is the process's input (an empty one ends a pipe's input).
    ``offset`` in the answer is where the replay starts: later than asked if the ring
    had dropped that part (``dropped`` bytes)."""
    assert channel is not None
    process = PROCESSES.get(params)
    requested = max(0, int(params.get("offset", 0)))
    start = min(max(requested, process.output.start), process.output.end)
    agent.attach(channel, process, start)
    return {
        "id": process.id,
        "offset": start,
        "dropped": max(0, start - requested),
        "end": process.output.end,
        "running": process.returncode is None,
    }


@rpc("proc.detach", connection=True)
async def rpc_proc_detach(
    agent: "Agent", params: Dict[str, Any], channel: Optional[Channel]
) -> Dict[str, Any]:
    return {"detached": agent.detach(int(params.get("channel", 0)), {"detached": True})}
