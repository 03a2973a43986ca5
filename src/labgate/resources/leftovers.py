"""Housekeeping for transfers: resumable uploads left alone and copy or move jobs whose
server replica stopped. Every replica runs it every minute; each step is a conditional
update or delete, so replicas running it at once do each thing once.

- An upload with no activity for ``upload_expiry_hours`` is over: its hidden file on
  the resource is removed when the resource can be reached without typing anything
  (keys, certificates, ``local``, or a password still in this replica's memory), then its
  row goes. While the resource cannot be reached, the row stays and every round tries
  again, for ``GIVE_UP_AFTER`` more; then the row goes and the file stays (logged; its
  name, ``.labgate-upload-<id>``, says what it is).
- A job ``running`` or ``cancelling`` whose replica has not written for ``STALE_AFTER``
  ends ``failed`` with ``server_lost``; its hidden items are removed the same way.
- Finished jobs older than ``transfer_history_days`` are forgotten.

It also closes this replica's connections of users deleted elsewhere (another replica,
the command line): labgate.accounts.removal.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, delete, select, update

from labgate.accounts.removal import close_connections_of_deleted_users
from labgate.agent.client import AgentCallError, upload_hidden_path
from labgate.agent.typed import RemoteFs
from labgate.db.engine import Database
from labgate.db.models import Resource, Transfer, TransferState, Upload, User
from labgate.db.types import utcnow
from labgate.errors import LabgateError
from labgate.resources import access
from labgate.resources.connections import ConnectionManager
from labgate.resources.plan import plan_for
from labgate.resources.transfers import STALE_AFTER
from labgate.resources.tree_copy import hidden_name
from labgate.settings import Settings

log = logging.getLogger(__name__)

SWEEP_SECONDS = 60
GIVE_UP_AFTER = timedelta(days=7)
_ACTIVE = (TransferState.RUNNING.value, TransferState.CANCELLING.value)


class LeftoversNeeds(Protocol):
    """What the transfers' housekeeping uses of the running server."""

    @property
    def database(self) -> Database: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def connections(self) -> ConnectionManager: ...


async def sweep(state: LeftoversNeeds) -> None:
    await close_connections_of_deleted_users(state)
    await expire_uploads(state)
    await fail_lost_jobs(state)
    await forget_old_jobs(state)


async def remove_as_owner(
    state: LeftoversNeeds, user_id: int, resource_id: int, paths: list[bytes]
) -> bool:
    """Remove ``paths`` (trees) on a resource as its user would, if that needs no typing
    and the user may still use it; True when none of them is left."""
    async with state.database.read() as db:
        user = await db.get(User, user_id)
        resource = await db.get(Resource, resource_id)
        owner = await access.as_stored(db, user_id)
        if user is None or owner is None or resource is None or user.disabled:
            return False
        if not await access.may_still_use(db, state.settings, user_id, resource):
            return False
        plan = await plan_for(db, resource, owner)
    try:
        agent = await state.connections.agent(plan)
        for path in paths:
            try:
                # One round serves every user: a resource that does not answer (a
                # stopped daemon) costs it the usual call's wait, not a long call's. The
                # agent deletes on regardless, and the next round finishes the job.
                await RemoteFs(agent).delete(
                    path, recursive=True, within=state.settings.agent_call_timeout_seconds
                )
            except AgentCallError as exc:
                if exc.remote_code != "not_found":
                    raise
    except LabgateError as exc:
        log.info("could not remove %d leftovers on resource %d: %s", len(paths), resource_id, exc)
        return False
    return True


async def expire_uploads(state: LeftoversNeeds) -> None:
    cutoff = utcnow() - timedelta(hours=state.settings.upload_expiry_hours)
    async with state.database.read() as db:
        expired = list(await db.scalars(select(Upload).where(Upload.last_activity_at < cutoff)))
    for upload in expired:
        hidden = upload_hidden_path(upload.path, upload.id)
        removed = await remove_as_owner(state, upload.user_id, upload.resource_id, [hidden])
        if not removed and upload.last_activity_at >= cutoff - GIVE_UP_AFTER:
            continue
        if not removed:
            log.warning(
                "giving up on removing %r on resource %d",
                hidden.decode(errors="replace"),
                upload.resource_id,
            )
        async with state.database.session() as db:
            await db.execute(delete(Upload).where(Upload.id == upload.id))


async def fail_lost_jobs(state: LeftoversNeeds) -> None:
    cutoff = utcnow() - STALE_AFTER
    async with state.database.read() as db:
        stale = list(
            await db.scalars(
                select(Transfer).where(Transfer.state.in_(_ACTIVE), Transfer.heartbeat_at < cutoff)
            )
        )
    for job in stale:
        async with state.database.session() as db:
            result = await db.execute(
                update(Transfer)
                .where(
                    Transfer.id == job.id,
                    Transfer.state.in_(_ACTIVE),
                    Transfer.heartbeat_at < cutoff,
                )
                .values(
                    state=TransferState.FAILED.value,
                    error_code="server_lost",
                    error_message="The server running this job stopped; start it again.",
                    current=None,
                    finished_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
        if cast(CursorResult[Any], result).rowcount != 1:
            continue  # another replica took it
        log.info("transfer %s lost its server (runner %s)", job.id, job.runner)
        hidden = [hidden_name(job.id, job.destination_dir, n) for n in range(len(job.paths))]
        await remove_as_owner(state, job.user_id, job.destination_resource_id, hidden)


async def forget_old_jobs(state: LeftoversNeeds) -> None:
    cutoff = utcnow() - timedelta(days=state.settings.transfer_history_days)
    async with state.database.session() as db:
        await db.execute(
            delete(Transfer).where(Transfer.state.not_in(_ACTIVE), Transfer.finished_at < cutoff)
        )


async def run_periodically(state: LeftoversNeeds, interval: float = SWEEP_SECONDS) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await sweep(state)
        except Exception:  # a failed round must not stop the next one
            log.exception("transfer housekeeping failed; trying again later")
