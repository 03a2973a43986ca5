"""The events WebSocket: live status of the caller's resource connections, the progress
of their copy and move jobs run by this replica, changes of their sessions and of those
shared with them made by any replica (``session_changed``: read the session again),
someone joining a session they shared (``session_joined``), for support staff an owner
asking them for help (``help_asked``), for administrators the requests
for more time asked or decided anywhere (``extension_requests``: read the list again), a
new notification of theirs (``notification``, with its ``id``: read the list again), a
change of the announcements shown (``announcements``: read the current ones again), and
``resync`` (read everything again) when news from the other replicas may have been missed
(``labgate.fanout``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, WebSocket
from sqlalchemy import select
from starlette.websockets import WebSocketDisconnect

from labgate.api.deps import accept_websocket, get_state
from labgate.api.resources import StatusOut
from labgate.api.transfers import TransferOut
from labgate.auth.policy import Action
from labgate.db.models import Role, User
from labgate.notifications.announcements import EVERYONE
from labgate.resources import catalog
from labgate.resources.status import Status
from labgate.sessions.lifecycle import ADMINS
from labgate.state import AppState

router = APIRouter(tags=["events"])

Event = TypeVar("Event")
Message = dict[str, Any]
# Where a tab that is not an administrator's subscribes for administrators' news: nothing
# is ever put there (user ids are positive, ADMINS is 0).
NOBODY = -1


def _event(resource_id: int, status: Status) -> Message:
    return {
        "type": "resource_status",
        "resource_id": resource_id,
        "status": StatusOut.of(status).model_dump(mode="json"),
    }


async def _forward(
    source: asyncio.Queue[Event], sink: asyncio.Queue[Message], shape: Callable[[Event], Message]
) -> None:
    while True:
        await sink.put(shape(await source.get()))


@router.websocket("/events")
async def events(websocket: WebSocket) -> None:
    principal = await accept_websocket(websocket, Action.LIST_RESOURCES)
    if principal is None:
        return
    state = get_state(websocket)
    outbox: asyncio.Queue[Message] = asyncio.Queue(64)  # full: the hubs drop the oldest
    with (
        state.hub.subscribe(principal.user_id) as statuses,
        state.transfers.hub.subscribe(principal.user_id) as transfers,
        state.lifecycle.hub.subscribe(principal.user_id) as sessions,
        state.fanout.resyncs.subscribe(principal.user_id) as resyncs,
        state.presence.joins.subscribe(principal.user_id) as joins,
        state.help_asked.subscribe(principal.user_id) as help_asked,
        state.lifecycle.requests.subscribe(ADMINS if principal.is_admin else NOBODY) as requests,
        state.notifications.subscribe(principal.user_id) as notifications,
        state.announcements.subscribe(EVERYONE) as announced,
    ):
        async with state.database.read() as db:
            resources = await catalog.visible_resources(db, principal, state.settings)
        for resource in resources:
            status = state.connections.status(principal.user_id, resource.id)
            await websocket.send_json(_event(resource.id, status))
        feeds = [
            asyncio.create_task(_forward(statuses, outbox, lambda event: _event(*event))),
            asyncio.create_task(
                _forward(transfers, outbox, lambda job: TransferOut.of(job).event())
            ),
            asyncio.create_task(
                _forward(
                    sessions,
                    outbox,
                    lambda change: {"type": "session_changed", "session_id": change.session_id},
                )
            ),
            asyncio.create_task(_forward(resyncs, outbox, lambda kind: {"type": kind})),
            asyncio.create_task(_forward(joins, outbox, lambda joined: joined.event())),
            asyncio.create_task(_forward(help_asked, outbox, lambda asked: asked.event())),
            asyncio.create_task(_tell_administrator(state, principal.user_id, requests, outbox)),
            asyncio.create_task(
                _forward(notifications, outbox, lambda id_: {"type": "notification", "id": id_})
            ),
            asyncio.create_task(_forward(announced, outbox, lambda _: {"type": "announcements"})),
        ]
        # The browser sends nothing; reading notices when it leaves.
        leaving = asyncio.create_task(_until_closed(websocket))
        try:
            while not leaving.done():
                getting = asyncio.create_task(outbox.get())
                done, _ = await asyncio.wait(
                    {getting, leaving}, return_when=asyncio.FIRST_COMPLETED
                )
                if getting not in done:
                    getting.cancel()
                    break
                await websocket.send_json(getting.result())
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            for task in (leaving, *feeds):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


async def _tell_administrator(
    state: AppState, user_id: int, source: asyncio.Queue[int], sink: asyncio.Queue[Message]
) -> None:
    """Requests for more time asked or decided, while the user is still an administrator:
    the socket outlives a demotion (it was opened to hear of the user's own things)."""
    while True:
        await source.get()
        async with state.database.read() as db:
            role = await db.scalar(select(User.role).where(User.id == user_id))
        if role == Role.ADMIN.value:
            await sink.put({"type": "extension_requests"})


async def _until_closed(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive()
            if websocket.client_state.name == "DISCONNECTED":
                return
