"""The proxy's WebSocket relay holds no message larger than
``proxy_websocket_max_message_bytes``: an app that sends one (whole, or in fragments)
gets 1009 and so does the browser, before the app could even hand the message over;
smaller messages, fragmented or not, arrive whole. In-process under uvicorn, with a
real WebSocket app reached through the local resource, on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from labgate.settings import Settings
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.daemons import daemon_runtime_dir
from tests.support.eventually import PATIENCE_SECONDS
from tests.support.proxied import running_session, small_app, state_of
from tests.support.serving import close_of, serving

CAP = 64 * 1024
HUGE = 64 * 1024 * 1024  # far more than the relay's buffers on the way could take in


@pytest.fixture
def runtime_dir() -> Iterator[str]:
    with daemon_runtime_dir("labgate-ws-cap-") as path:
        yield path


@pytest.fixture
def settings(settings: Settings, runtime_dir: str) -> Settings:
    return settings.model_copy(
        update={
            "agent_runtime_dir": runtime_dir,
            "local_resource": "everyone",
            "proxy_websocket_max_message_bytes": CAP,
        }
    )


@dataclass
class Sender:
    """The app: on ``whole N`` it sends one N-byte message, on ``pieces N K`` one message
    of K fragments of N bytes; it notes how each send ended."""

    outcomes: list[str] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, connection: ServerConnection) -> None:
        try:
            async for request in connection:
                kind, *numbers = str(request).split()
                size = int(numbers[0])
                if kind == "whole":
                    await connection.send(b"x" * size)
                else:
                    await connection.send(b"x" * size for _ in range(int(numbers[1])))
                self.outcomes.append("sent")
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            self.outcomes.append(f"closed {code}")
        finally:
            self.done.set()


@pytest.fixture
async def sender() -> Sender:
    return Sender()


@pytest.fixture
async def socket(app: Any, accounts: AccountFactory, sender: Sender) -> AsyncIterator[Any]:
    """Alice's WebSocket to her session's app, through the proxy."""
    alice: LoggedIn = await accounts.login("alice")
    state = state_of(app)
    async with serving(app) as url, small_app(sender) as port:
        session_id = await running_session(state.database, state.session_tokens, "alice", port)
        cookie = "; ".join(f"{k}={v}" for k, v in alice.http.cookies.items())
        async with connect(
            url.replace("http", "ws", 1) + f"/s/{session_id}/",
            additional_headers={"Cookie": cookie},
            origin=Origin(url),
            max_size=None,
        ) as opened:
            yield opened


@pytest.mark.parametrize("request_", ["whole 67108864", "pieces 16384 4096"])
async def test_a_message_over_the_cap_closes_both_sides_with_1009(
    socket: ClientConnection, sender: Sender, request_: str
) -> None:
    await socket.send(request_)
    assert await close_of(socket, PATIENCE_SECONDS) == (1009, "message_too_big")
    async with asyncio.timeout(PATIENCE_SECONDS):
        await sender.done.wait()
    # The app was told too, and could not even hand its 64 MiB over: nobody read them.
    assert sender.outcomes == ["closed 1009"]


async def test_messages_up_to_the_cap_arrive_whole(
    socket: ClientConnection, sender: Sender
) -> None:
    await socket.send(f"whole {CAP}")
    assert await socket.recv() == b"x" * CAP
    await socket.send(f"pieces {CAP // 8} 8")
    assert await socket.recv() == b"x" * CAP
    assert sender.outcomes == ["sent", "sent"]
