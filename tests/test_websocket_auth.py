"""WebSockets are authenticated like HTTP routes and refuse foreign origins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import WebSocket
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from labgate.api.deps import get_state
from labgate.app import create_app
from labgate.auth.authentication import authenticate_websocket
from labgate.auth.policy import Action, authorize
from labgate.errors import LabgateError
from labgate.settings import Settings

ADMIN_PASSWORD = "websocket admin pw"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path,
        admin_password=ADMIN_PASSWORD,
        password_hash_time_cost=1,
        password_hash_memory_kib=64,
    )
    app = create_app(settings)

    @app.websocket("/api/v1/test-socket")
    async def socket(websocket: WebSocket) -> None:
        try:
            principal = await authenticate_websocket(websocket, get_state(websocket))
            authorize(principal, Action.READ_PREFERENCES)
        except LabgateError as exc:
            await websocket.close(code=4403, reason=exc.code)
            return
        await websocket.accept()
        await websocket.send_json({"user": principal.username})
        await websocket.close()

    with TestClient(app) as test_client:
        yield test_client


def log_in(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200


def refusal(client: TestClient, headers: dict[str, str]) -> tuple[int, str]:
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect("/api/v1/test-socket", headers=headers) as ws,
    ):
        ws.receive_json()
    return closed.value.code, closed.value.reason


def test_a_logged_in_browser_on_labgate_s_origin_connects(client: TestClient) -> None:
    log_in(client)
    with client.websocket_connect(
        "/api/v1/test-socket", headers={"origin": "http://testserver"}
    ) as ws:
        assert ws.receive_json() == {"user": "admin"}


def test_anonymous_and_cross_origin_handshakes_are_refused(client: TestClient) -> None:
    assert refusal(client, {"origin": "http://testserver"}) == (4403, "not_authenticated")
    log_in(client)
    for origin in ("http://evil.example", "http://app1.testserver", "https://testserver"):
        assert refusal(client, {"origin": origin}) == (4403, "csrf_failed"), origin


def test_scripts_without_an_origin_use_tokens(client: TestClient) -> None:
    log_in(client)
    csrf = client.get("/api/v1/auth/session").json()["csrf_token"]
    created = client.post(
        "/api/v1/tokens", json={"name": "ws", "scopes": ["read"]}, headers={"X-CSRF-Token": csrf}
    )
    secret = created.json()["secret"]
    client.cookies.clear()
    with client.websocket_connect(
        "/api/v1/test-socket", headers={"authorization": f"Bearer {secret}"}
    ) as ws:
        assert ws.receive_json() == {"user": "admin"}
