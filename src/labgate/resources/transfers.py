"""The transfer runner: copy and move jobs between resources (or within one), run by the
server replica that accepted them.

State rules (``db.models.Transfer``):
- A job is ``running`` from the moment it is accepted. Its replica refreshes
  ``heartbeat_at`` every few seconds and records progress at least every two seconds
  (and pushes it to the owner's tabs, at most twice a second).
- Cancelling, from any replica, sets ``cancel_requested`` and ``cancelling``; the runner
  sees it at its next heartbeat (at once if the job runs here), removes what it built
  and ends ``cancelled``.
- It ends ``succeeded`` once every item is in place (and, for a move, the sources are
  gone), else ``failed`` with the error, having removed its hidden partial items. A job
  whose replica stops without ending it is found by housekeeping
  (``resources/leftovers.py``): no heartbeat for ``STALE_AFTER`` -> ``failed``,
  ``server_lost``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import secrets
import socket
import time
from datetime import timedelta

from sqlalchemy import func, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.agent.client import NO_DEADLINE, AgentCallError, AgentConnection, AgentError
from labgate.agent.typed import RemoteFs
from labgate.db.engine import Database
from labgate.db.models import Transfer, TransferState
from labgate.db.types import utcnow
from labgate.errors import LabgateError
from labgate.resources.connections import ConnectionManager
from labgate.resources.plan import ConnectionPlan
from labgate.resources.status import Hub
from labgate.resources.tree_copy import (
    Item,
    build,
    items_of,
    place,
    remove_quietly,
    shown,
    walk,
)

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0
PUSH_SECONDS = 0.5
# A running job whose replica has not written for this long is taken to be lost.
STALE_AFTER = timedelta(minutes=2)
FINISHED = frozenset({TransferState.SUCCEEDED, TransferState.FAILED, TransferState.CANCELLED})


async def unfinished_jobs(db: AsyncSession, user_id: int) -> int:
    """How many of the user's jobs are running or being cancelled, on any replica."""
    count = await db.scalar(
        select(func.count())
        .select_from(Transfer)
        .where(Transfer.user_id == user_id, Transfer.state.not_in([s.value for s in FINISHED]))
    )
    return count or 0


def replica_name() -> str:
    """This server process, for the ``runner`` of the jobs it starts."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"


class TransferRunner:
    """Runs this replica's jobs; ``hub`` pushes each job's row to its owner's tabs."""

    def __init__(self, database: Database, connections: ConnectionManager) -> None:
        self.database = database
        self.connections = connections
        self.hub: Hub[Transfer] = Hub()
        self.replica = replica_name()
        self.stopping = False
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, job: Transfer, source: ConnectionPlan, destination: ConnectionPlan) -> None:
        task = asyncio.create_task(_Job(self, job, source, destination).run())
        self._tasks[job.id] = task
        task.add_done_callback(lambda _done: self._tasks.pop(job.id, None))

    def cancel(self, job_id: str) -> bool:
        """Cancel a job if it runs here; False if it does not."""
        task = self._tasks.get(job_id)
        if task is None:
            return False
        task.cancel()
        return True

    def runs(self, job_id: str) -> bool:
        return job_id in self._tasks

    async def close(self) -> None:
        """Stop every job (they end ``failed``, their partial items removed)."""
        self.stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _Job:
    def __init__(
        self,
        runner: TransferRunner,
        row: Transfer,
        source: ConnectionPlan,
        destination: ConnectionPlan,
    ) -> None:
        self.runner = runner
        self.row = row
        self.source_plan = source
        self.destination_plan = destination
        self.same_resource = source.resource_id == destination.resource_id
        sources = [base64.b64decode(path) for path in row.paths]
        self.items = items_of(row.id, sources, row.destination_dir)
        self._pushed = 0.0
        self._task: asyncio.Task[None] | None = None

    # -- the agents, asked for each step: a dropped connection is made again

    async def source(self) -> AgentConnection:
        return await self.runner.connections.agent(self.source_plan)

    async def destination(self) -> AgentConnection:
        return await self.runner.connections.agent(self.destination_plan)

    # -- Progress

    def file_started(self, path: bytes) -> None:
        self.row.current = shown(path)
        self._push_soon()

    def advanced(self, count: int) -> None:
        self.row.bytes_done += count
        self._push_soon()

    def file_done(self) -> None:
        self.row.files_done += 1
        self._push_soon()

    def skipped(self, path: bytes) -> None:
        self._skipped(shown(path))

    def _skipped(self, text: str) -> None:
        self.row.skipped = [*self.row.skipped, text][:1000]

    def _push_soon(self) -> None:
        now = time.monotonic()
        if now - self._pushed >= PUSH_SECONDS:
            self._push()

    def _push(self) -> None:
        self._pushed = time.monotonic()
        self.row.updated_at = utcnow()
        self.runner.hub.put(self.row.user_id, _snapshot(self.row))

    # -- the run

    async def run(self) -> None:
        self._task = asyncio.current_task()
        self._push()
        heartbeat = asyncio.create_task(self._beat())
        state, error = TransferState.SUCCEEDED, None
        try:
            await self._work()
        except asyncio.CancelledError:
            if not self.runner.stopping:
                self.row.state = TransferState.CANCELLING.value
                self._push()
            await self._clean_up()
            if self.runner.stopping:
                state = TransferState.FAILED
                error = ("server_stopped", "The server stopped while the job ran; start it again.")
            else:
                state = TransferState.CANCELLED
        except Exception as exc:
            await self._clean_up()
            state, error = TransferState.FAILED, _problem(exc)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        self.row.state = state.value
        self.row.error_code, self.row.error_message = error or (None, None)
        self.row.current = None
        self.row.finished_at = utcnow()
        with contextlib.suppress(Exception):
            await self._save(final=True)
        self._push()

    async def _work(self) -> None:
        if self.same_resource:
            await self._within_one()
        else:
            await self._between_two()
        for item in self.items:
            if not item.placed:
                await place(await self.destination(), item.hidden, item.final, self.row.overwrite)
                item.placed = True
        if self.row.move:
            for item in self.items:  # only now: every item is complete where it belongs
                if not item.moved:
                    await RemoteFs(await self.source()).delete(item.source, recursive=True)

    async def _between_two(self) -> None:
        for item in self.items:
            await walk(await self.source(), item)
        files = [e for item in self.items for e in item.entries if e.kind == "file"]
        self.row.files_total = len(files)
        self.row.bytes_total = sum(e.size for e in files)
        self._push()
        for item in self.items:
            await build(self.source, self.destination, item, self)

    async def _within_one(self) -> None:
        agent = await self.source()
        if self.row.move:
            self.row.files_total, self.row.bytes_total = len(self.items), 0
            for item in self.items:
                self.file_started(item.source)
                try:
                    await place(agent, item.source, item.final, self.row.overwrite)
                    item.placed = item.moved = True
                except AgentCallError as exc:
                    if exc.remote_code != "cross_device":
                        raise
                    await self._copy_within(await self.source(), item)  # then deleted
                self.file_done()
            return
        sizes = [await RemoteFs(agent).du(item.source) for item in self.items]
        self.row.files_total = sum(size.files for size in sizes)
        self.row.bytes_total = sum(size.bytes for size in sizes)
        self._push()
        for item, size in zip(self.items, sizes, strict=True):
            self.file_started(item.source)
            await self._copy_within(await self.source(), item)
            self.row.files_done += size.files
            self.advanced(size.bytes)

    async def _copy_within(self, agent: AgentConnection, item: Item) -> None:
        # A job's copy takes as long as its data needs (terabytes, hours): no deadline,
        # as the job has its own progress and cancel.
        copying = asyncio.ensure_future(
            RemoteFs(agent).copy(item.source, item.hidden, overwrite=False, within=NO_DEADLINE)
        )
        try:
            copied = await asyncio.shield(copying)
        except asyncio.CancelledError:
            # The agent copies on regardless: wait for it, so that the clean-up that
            # follows finds (and removes) the copy rather than racing it.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(copying, 3600)
            raise
        for path in copied.skipped:
            self._skipped(path)

    async def _clean_up(self) -> None:
        """Remove the hidden items this job built (placed ones are complete and stay)."""
        with contextlib.suppress(Exception):
            agent = await asyncio.wait_for(self.destination(), 30)
            for item in self.items:
                if not item.placed:
                    await asyncio.wait_for(remove_quietly(agent, item.hidden), 300)

    # -- the database

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                cancelled = await self._save()
            except Exception:
                log.exception("recording the progress of transfer %s failed", self.row.id)
                continue
            if cancelled and self._task is not None:
                self._task.cancel()
                return

    async def _save(self, *, final: bool = False) -> bool:
        """Write the progress (and at the end the outcome); True if cancelling was asked
        for meanwhile (or the row is gone: its resource was deleted)."""
        row = self.row
        values: dict[str, object] = {
            "bytes_done": row.bytes_done,
            "bytes_total": row.bytes_total,
            "files_done": row.files_done,
            "files_total": row.files_total,
            "current": row.current,
            "skipped": row.skipped,
            "heartbeat_at": utcnow(),
            "updated_at": utcnow(),
        }
        if final:
            values.update(
                state=row.state,
                error_code=row.error_code,
                error_message=row.error_message,
                finished_at=row.finished_at,
            )
        async with self.runner.database.session() as db:
            await db.execute(update(Transfer).where(Transfer.id == row.id).values(**values))
            asked = await db.scalar(select(Transfer.cancel_requested).where(Transfer.id == row.id))
        return asked is None or bool(asked)


def _snapshot(row: Transfer) -> Transfer:
    """A copy of the row as it is now, for a tab that may read it later."""
    columns = inspect(Transfer).column_attrs
    return Transfer(**{column.key: getattr(row, column.key) for column in columns})


def _problem(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, AgentCallError):
        return exc.remote_code, exc.message
    if isinstance(exc, AgentError | LabgateError):
        return exc.code, exc.message
    log.exception("transfer failed", exc_info=exc)
    return "internal_error", "The transfer failed unexpectedly; the server's log says why."
