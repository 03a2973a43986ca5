"""A tiny WebSocket app for the proxy's tests, run as a session's ``app_command``:
``python ws_app.py PORT`` listens on 127.0.0.1:PORT, answers plain HTTP requests with
200 (labgate's readiness probe), echoes every message, and answers the text
``big N`` with one binary message of N bytes (``N`` may exceed any cap)."""

from __future__ import annotations

import asyncio
import sys
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response


def plain_http(connection: ServerConnection, request: Request) -> Response | None:
    if request.headers.get("upgrade", "").lower() != "websocket":
        return connection.respond(HTTPStatus.OK, "a WebSocket app\n")
    return None


async def answer(connection: ServerConnection) -> None:
    async for message in connection:
        if isinstance(message, str) and message.startswith("big "):
            await connection.send(b"x" * int(message[4:]))
        else:
            await connection.send(message)


async def main(port: int) -> None:
    async with serve(answer, "127.0.0.1", port, process_request=plain_http, max_size=None):
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
