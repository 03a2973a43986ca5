"""Copying files and trees for transfer jobs, between the agents of two resources or
within one.

Each item (a file or a directory named in the job) is built under a hidden name in the
destination directory, ``.labgate-transfer-<job id>-<n>``, and renamed onto its own name
only when it is complete: the destination never shows half an item under its name, and
removing the hidden names undoes an unfinished job. Between two resources every file's
bytes stream through this server, a window at a time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import posixpath
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from labgate.agent.client import AgentCallError, AgentConnection
from labgate.agent.typed import RemoteFs, TreeEntry
from labgate.errors import LabgateError

HIDDEN_PREFIX = b".labgate-transfer-"

Agent = Callable[[], Awaitable[AgentConnection]]


class VerificationFailed(LabgateError):
    code = "verification_failed"
    status = 502


def raw(path: bytes) -> str:
    return base64.b64encode(path).decode()


def shown(path: bytes) -> str:
    return path.decode(errors="replace")


@dataclass
class Item:
    source: bytes
    final: bytes
    hidden: bytes
    entries: list[TreeEntry] = field(default_factory=list)
    placed: bool = False  # under its final name
    moved: bool = False  # renamed there from its source (a move within one file system)

    def source_of(self, entry: TreeEntry) -> bytes:
        return posixpath.join(self.source, entry.relative) if entry.relative else self.source

    def hidden_of(self, entry: TreeEntry) -> bytes:
        return posixpath.join(self.hidden, entry.relative) if entry.relative else self.hidden


def items_of(job_id: str, sources: list[bytes], destination_dir: bytes) -> list[Item]:
    return [
        Item(
            source=source,
            final=posixpath.join(destination_dir, posixpath.basename(source)),
            hidden=hidden_name(job_id, destination_dir, number),
        )
        for number, source in enumerate(sources)
    ]


def hidden_name(job_id: str, destination_dir: bytes, number: int) -> bytes:
    return posixpath.join(destination_dir, HIDDEN_PREFIX + f"{job_id}-{number}".encode())


class Progress(Protocol):
    """What a copy reports as it goes."""

    def file_started(self, path: bytes) -> None: ...

    def advanced(self, count: int) -> None: ...

    def file_done(self) -> None: ...

    def skipped(self, path: bytes) -> None: ...


async def walk(agent: AgentConnection, item: Item) -> None:
    item.entries = await RemoteFs(agent).walk(item.source)


async def build(source: Agent, destination: Agent, item: Item, progress: Progress) -> None:
    """Recreate the walked tree of ``item`` under its hidden name on the destination:
    directories, files (streamed, their size checked), symlinks as symlinks; modes and
    modification times kept. Fifos, sockets and devices are reported as skipped."""
    directories: list[tuple[bytes, TreeEntry]] = []
    for entry in item.entries:
        target = item.hidden_of(entry)
        if entry.kind == "directory":
            await RemoteFs(await destination()).mkdir(target)
            directories.append((target, entry))
        elif entry.kind == "symlink" and entry.target is not None:
            await RemoteFs(await destination()).symlink(target, entry.target)
        elif entry.kind == "file":
            origin = item.source_of(entry)
            progress.file_started(origin)
            await _copy_file(await source(), await destination(), origin, target, progress)
            await _set_attributes(await destination(), target, entry)
            progress.file_done()
        else:
            progress.skipped(item.source_of(entry))
    for target, entry in reversed(directories):  # children first: a read-only one last
        await _set_attributes(await destination(), target, entry)


async def _set_attributes(agent: AgentConnection, path: bytes, entry: TreeEntry) -> None:
    files = RemoteFs(agent)
    await asyncio.gather(  # side by side: one round trip, not two
        files.chmod(path, entry.mode),
        files.utime(path, entry.mtime),
    )


async def _copy_file(
    source: AgentConnection,
    destination: AgentConnection,
    origin: bytes,
    target: bytes,
    progress: Progress,
) -> None:
    stream = await RemoteFs(source).read_stream(origin)
    async with stream:

        async def counted() -> AsyncIterator[bytes]:
            async for chunk in stream:
                progress.advanced(len(chunk))
                yield chunk

        written = await RemoteFs(destination).write_stream(target, counted(), create_only=True)
    if written.size != stream.received:
        raise VerificationFailed(
            f"{shown(target)} has {written.size} bytes, not the {stream.received} sent."
        )


async def place(agent: AgentConnection, built: bytes, final: bytes, overwrite: bool) -> None:
    """Rename ``built`` onto ``final``; a name in the way is an error ("exists") unless
    ``overwrite``: then the old one is moved aside, the new one put in, the old removed
    (and put back if the new one cannot go in)."""
    files = RemoteFs(agent)
    try:
        await files.rename(built, final)
        return
    except AgentCallError as exc:
        if exc.remote_code != "exists" or not overwrite:
            raise
    aside = built + b"-replaced"
    await files.rename(final, aside)
    try:
        await files.rename(built, final)
    except BaseException:
        await files.rename(aside, final)
        raise
    await files.delete(aside, recursive=True)


async def remove_quietly(agent: AgentConnection, path: bytes) -> None:
    """Remove a hidden item (a tree) if it is there; failures are for housekeeping."""
    with contextlib.suppress(LabgateError):  # the agent's answers, a lost connection
        await RemoteFs(agent).delete(path, recursive=True)
