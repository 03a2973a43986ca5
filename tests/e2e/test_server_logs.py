"""End-to-end: what ``labgate serve`` writes to its log. Grants and tokens in query
strings (an app origin's ``grant=``, JupyterLab's ``?token=``, ``access_token=``, also
inside another URL's encoded query) never reach it, in either log format, from
uvicorn's access log, its WebSocket lines or labgate's own; the requests themselves
are logged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.server import RunningServer, free_port, running_server

pytestmark = pytest.mark.e2e

SESSION = "k3v9q2m8x1c4b7n0"
SECRETS = {name: f"secret-{name}-value" for name in ("a", "b", "c", "d", "e", "f")}


@pytest.fixture(params=["text", "json"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    port = free_port()
    env = {
        "LABGATE_LOG_LEVEL": "debug",  # the apps' traffic (/s/...) is logged too
        "LABGATE_LOG_FORMAT": request.param,
        "LABGATE_PUBLIC_URL": f"http://labgate.localhost:{port}",
        "LABGATE_APP_DOMAIN": "{session}.apps.labgate.localhost",
        "LABGATE_PASSWORD_HASH_TIME_COST": "1",
        "LABGATE_PASSWORD_HASH_MEMORY_KIB": "64",
    }
    with running_server(tmp_path, env=env, port=port) as running:
        yield running


def test_grants_and_tokens_never_reach_the_log(server: RunningServer) -> None:
    a, b, c, d, e, f = SECRETS.values()
    labgate = {"Host": f"labgate.localhost:{server.port}"}
    app_origin = {"Host": f"{SESSION}.apps.labgate.localhost:{server.port}"}
    with httpx.Client(base_url=server.url, trust_env=False) as http:
        # JupyterLab's link with its token, labgate's API with an access token.
        assert http.get(f"/s/{SESSION}/lab?token={a}", headers=labgate).status_code == 401
        assert http.get(f"/api/v1/info?x=1&access_token={b}", headers=labgate).status_code == 200
        # An app origin's sign-in: the grant, and a next page that carries a token.
        nxt = quote(f"/s/{SESSION}/lab?x=1&token={d}", safe="")
        entered = http.get(f"/_labgate/enter?next={nxt}&grant={c}", headers=app_origin)
        assert entered.status_code == 403
        assert http.get(f"/assets/app.js?id_token={e}", headers=labgate).status_code == 404
    # A WebSocket handshake with a token in its URL (uvicorn logs those separately).
    with pytest.raises(InvalidStatus):
        connect(f"ws://127.0.0.1:{server.port}/api/v1/events?token={f}", open_timeout=10)

    log = server.stderr
    for secret in SECRETS.values():
        assert secret not in log
    # The requests were logged, without their secrets.
    assert f"/s/{SESSION}/lab?token=[redacted]" in log
    assert "/api/v1/info?x=1&access_token=[redacted]" in log
    assert "/_labgate/enter?next=" in log
    assert "%26token%3D[redacted]&grant=[redacted]" in log
    assert "/assets/app.js?id_token=[redacted]" in log
    assert "/api/v1/events?token=[redacted]" in log
    if '"level"' in log:  # the JSON format: still one JSON object per line
        for line in log.splitlines():
            if line.startswith("{"):
                json.loads(line)
