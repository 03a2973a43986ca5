"""The events WebSocket: live status of the caller's resource connections."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from labgate.api.deps import accept_websocket, get_state
from labgate.api.resources import StatusOut
from labgate.auth.policy import Action
from labgate.resources import catalog
from labgate.resources.status import Status

router = APIRouter(tags=["events"])


def _event(resource_id: int, status: Status) -> dict[str, object]:
    return {
        "type": "resource_status",
        "resource_id": resource_id,
        "status": StatusOut.of(status).model_dump(mode="json"),
    }


@router.websocket("/events")
async def events(websocket: WebSocket) -> None:
    principal = await accept_websocket(websocket, Action.LIST_RESOURCES)
    if principal is None:
        return
    state = get_state(websocket)
    with state.hub.subscribe(principal.user_id) as queue:
        async with state.database.read() as db:
            resources = await catalog.visible_resources(db, principal, state.settings)
        for resource in resources:
            status = state.connections.status(principal.user_id, resource.id)
            await websocket.send_json(_event(resource.id, status))
        # The browser sends nothing; reading notices when it leaves.
        leaving = asyncio.create_task(_until_closed(websocket))
        try:
            while not leaving.done():
                getting = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait(
                    {getting, leaving}, return_when=asyncio.FIRST_COMPLETED
                )
                if getting not in done:
                    getting.cancel()
                    break
                resource_id, status = getting.result()
                await websocket.send_json(_event(resource_id, status))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            leaving.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await leaving


async def _until_closed(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive()
            if websocket.client_state.name == "DISCONNECTED":
                return
