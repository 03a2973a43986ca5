"""The connect WebSocket: open the caller's connection to a resource, asking the browser
for passwords, one-time codes, keys and host-key confirmations on the way.

The conversation is described in docs/api-contract.md ("WebSocket: connect"). It runs
over one socket to one server process, so a two-factor login works unchanged behind a
load balancer with several replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, Field, StringConstraints
from starlette.websockets import WebSocketDisconnect

from labgate.api.deps import accept_websocket, get_state
from labgate.api.resources import ProblemOut, StatusOut
from labgate.api.schemas import Id
from labgate.auth.live_sockets import note_use
from labgate.auth.policy import Action
from labgate.errors import LabgateError
from labgate.resources import catalog
from labgate.resources.diagnostics import problem_of
from labgate.resources.login import UploadedKey
from labgate.resources.plan import HopPlan, plan_for
from labgate.resources.status import Problem

log = logging.getLogger(__name__)

router = APIRouter(prefix="/resources", tags=["resources"])

# The browser has this long to send its first message, and a person this long to
# answer a question (a second factor may need fetching a phone).
FIRST_MESSAGE_SECONDS = 30
ANSWER_SECONDS = 300

Answer = Annotated[str, StringConstraints(max_length=4096)]


class ClientMessage(BaseModel):
    type: Literal["connect", "answer", "confirm_host_key", "cancel"]
    id: int | None = None
    answers: Annotated[list[Answer], Field(max_length=20)] = []
    private_key: Annotated[str, StringConstraints(max_length=65536)] | None = None
    passphrase: Annotated[str, StringConstraints(max_length=1024)] | None = None
    remember: bool = False
    accept: bool = False


class Cancelled(LabgateError):
    code = "cancelled"
    status = 400


class WebSocketAsker:
    """Asks the browser at the other end of ``websocket`` and waits for its answers."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[ClientMessage]] = {}

    async def _send(self, message: dict[str, Any]) -> None:
        await self.websocket.send_json(message)

    async def _ask(self, message: dict[str, Any]) -> ClientMessage:
        question = next(self._ids)
        answer: asyncio.Future[ClientMessage] = asyncio.get_running_loop().create_future()
        self._pending[question] = answer
        try:
            await self._send({**message, "id": question})
            return await asyncio.wait_for(answer, ANSWER_SECONDS)
        except TimeoutError:
            raise Cancelled("No answer came in time; connect again when you are ready.") from None
        finally:
            self._pending.pop(question, None)

    def deliver(self, message: ClientMessage) -> None:
        """An answer from the browser, for the question it names (or the only one open)."""
        if message.id is None and len(self._pending) == 1:
            message.id = next(iter(self._pending))
        answer = self._pending.get(message.id or 0)
        if answer is not None and not answer.done():
            answer.set_result(message)

    @staticmethod
    def _hop_fields(hop: HopPlan) -> dict[str, Any]:
        return {"hop": hop.index, "hop_label": hop.label}

    async def progress(self, message: str) -> None:
        await self._send({"type": "progress", "message": message})

    async def _prompt(
        self,
        hop: HopPlan,
        kind: str,
        prompts: list[tuple[str, bool]],
        *,
        name: str = "",
        instructions: str = "",
        error: str | None = None,
    ) -> ClientMessage:
        return await self._ask(
            {
                "type": "prompt",
                "kind": kind,
                **self._hop_fields(hop),
                "name": name,
                "instructions": instructions,
                "prompts": [{"text": text, "echo": echo} for text, echo in prompts],
                "error": error,
            }
        )

    async def password(self, hop: HopPlan) -> str:
        answer = await self._prompt(hop, "password", [(f"Password for {hop.label}", False)])
        if not answer.answers:
            raise Cancelled("No password was given.")
        return answer.answers[0]

    async def keyboard_interactive(
        self, hop: HopPlan, name: str, instructions: str, prompts: list[tuple[str, bool]]
    ) -> list[str]:
        answer = await self._prompt(
            hop, "keyboard-interactive", prompts, name=name, instructions=instructions
        )
        return answer.answers

    async def private_key(self, hop: HopPlan, error: str | None) -> UploadedKey:
        answer = await self._prompt(hop, "key", [], error=error)
        if not answer.private_key:
            raise Cancelled("No private key was given.")
        return UploadedKey(answer.private_key.encode(), answer.passphrase or None, answer.remember)

    async def confirm_host_key(
        self, hop: HopPlan, fingerprint: str, public_key: str, can_confirm: bool
    ) -> bool:
        answer = await self._ask(
            {
                "type": "host_key",
                **self._hop_fields(hop),
                "host": hop.host,
                "port": hop.port,
                "fingerprint": fingerprint,
                "public_key": public_key,
                "can_confirm": can_confirm,
            }
        )
        return can_confirm and answer.type == "confirm_host_key" and answer.accept


@router.websocket("/{resource_id}/connect")
async def connect(websocket: WebSocket, resource_id: Id) -> None:
    principal = await accept_websocket(websocket, Action.USE_RESOURCE, resource_id=resource_id)
    if principal is None:
        return
    state = get_state(websocket)
    try:
        async with state.database.read() as db:
            resource = await catalog.get_visible(db, principal, state.settings, resource_id)
            plan = await plan_for(db, resource, principal)
    except LabgateError as exc:
        await _fail(websocket, problem_of(exc))
        return
    try:
        first = await asyncio.wait_for(_receive(websocket), FIRST_MESSAGE_SECONDS)
    except WebSocketDisconnect:
        return
    except (TimeoutError, ValueError):  # silence, not JSON, or not a valid message
        first = None
    if first is None or first.type != "connect":
        await _fail(websocket, Problem("bad_request", 'Expected {"type": "connect"} first.'))
        return

    asker = WebSocketAsker(websocket)
    attempt = asyncio.create_task(state.connections.connect(plan, asker))
    listener = asyncio.create_task(_listen(websocket, asker, attempt))
    try:
        await attempt
        manager = state.connections
        status = StatusOut.of(manager.status(principal.user_id, resource_id))
        connection_system = manager.system_info(principal.user_id, resource_id)
        outcome: dict[str, Any] = {
            "type": "connected",
            "status": status.model_dump(mode="json"),
            "system": connection_system,
        }
    except asyncio.CancelledError:
        if not attempt.cancelled():
            raise
        outcome = {
            "type": "failed",
            "error": {"code": "cancelled", "message": "Cancelled.", "hop": None, "hop_label": None},
        }
    except Exception as exc:
        outcome = {"type": "failed", "error": ProblemOut.of(problem_of(exc)).model_dump()}
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await listener
    await _finish(websocket, outcome)


async def _receive(websocket: WebSocket) -> ClientMessage:
    return ClientMessage.model_validate(await websocket.receive_json())


async def _listen(websocket: WebSocket, asker: WebSocketAsker, attempt: asyncio.Task[Any]) -> None:
    """Route the browser's answers; a cancel, or the browser leaving, ends the attempt."""
    try:
        while True:
            try:
                message = await _receive(websocket)
            except ValueError:  # not JSON, or not a valid message (ValidationError)
                continue  # a malformed answer is ignored; the question stays open
            if message.type == "cancel":
                break
            note_use()
            asker.deliver(message)
    except (WebSocketDisconnect, RuntimeError):
        pass
    attempt.cancel()


async def _fail(websocket: WebSocket, problem: Problem) -> None:
    await _finish(websocket, {"type": "failed", "error": ProblemOut.of(problem).model_dump()})


async def _finish(websocket: WebSocket, message: dict[str, Any]) -> None:
    with contextlib.suppress(Exception):
        await websocket.send_json(message)
        await websocket.close()
