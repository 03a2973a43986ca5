"""HTTP behaviour shared by every route: errors, limits, headers, probes, static files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from labgate.app import create_app
from labgate.db.engine import Database
from labgate.db.models import Role
from labgate.settings import Settings
from tests.support.accounts import AccountFactory


async def test_unknown_api_paths_and_methods_are_json_errors(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong_method = await client.put("/api/v1/auth/login")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


async def test_oversized_bodies_get_413_and_change_nothing(accounts: AccountFactory) -> None:
    alice = await accounts.login("alice")
    limit = accounts.settings.max_body_bytes
    big = {"preferences": {"workspace.layout": {"x": "y" * (limit + 10)}}}
    response = await alice.patch("/api/v1/preferences", json=big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert str(limit) in response.json()["error"]["message"]

    # Without a Content-Length (chunked), the limit is enforced while reading.
    async def chunks() -> Any:
        for _ in range(limit // 1000 + 2):
            yield b"x" * 1000

    streamed = await alice.http.post(
        "/api/v1/auth/login", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert (await alice.get("/api/v1/preferences")).json()["preferences"][
        "workspace.layout"
    ] is None


async def test_security_headers_on_api_and_pages(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/info", "/", "/some/front-end/route", "/api/v1/docs"):
        response = await client.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]
        assert "frame-ancestors 'self'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"


async def test_health_and_info(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok", "database": "ok"}
    info = (await client.get("/api/v1/info")).json()
    assert info["name"] == "labgate"
    assert info["auth_providers"] == [
        {"name": "local", "label": "labgate account", "kind": "password"}
    ]
    assert info["limits"] == {"api_token_max_days": 365, "min_password_length": 10}
    assert {"name": "labgate.auth.local", "version": info["version"]} in info["plugins"]


async def test_health_reports_an_unreachable_database(settings: Settings, tmp_path: Path) -> None:
    broken = Database(f"sqlite+aiosqlite:///{tmp_path}/missing-dir/x.sqlite3")
    app = create_app(settings, database=broken, bootstrap=False)  # lifespan not run
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
    await broken.dispose()


async def test_metrics_for_loopback_and_admins_only(accounts: AccountFactory) -> None:
    local = accounts.anonymous("127.0.0.1")
    await local.post("/api/v1/auth/login", json={"username": "x", "password": "wrong-wrong"})
    text = (await local.get("/metrics")).text
    assert 'labgate_logins_total{result="failed"} 1.0' in text
    assert 'route="/api/v1/auth/login",status="401"' in text
    assert "labgate_active_login_sessions 0.0" in text
    remote = accounts.anonymous("192.0.2.10")
    assert (await remote.get("/metrics")).status_code == 401
    alice = await accounts.login("alice")
    alice.http._transport = httpx.ASGITransport(app=accounts.app, client=("192.0.2.11", 1))
    assert (await alice.get("/metrics")).status_code == 403
    root = await accounts.login("root", role=Role.ADMIN)
    root.http._transport = httpx.ASGITransport(app=accounts.app, client=("192.0.2.12", 1))
    admin_view = await root.get("/metrics")
    assert admin_view.status_code == 200
    assert "labgate_active_login_sessions 2.0" in admin_view.text


async def test_openapi_and_rendered_docs_work_offline(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/api/v1/openapi.json")).json()
    assert "/api/v1/auth/login" in spec["paths"]
    page = (await client.get("/api/v1/docs")).text
    assert "<script>" not in page  # no inline script: the CSP would block it
    assert "cdn" not in page.lower()
    for asset in (
        "/api/v1/docs/static/swagger-ui-bundle.js",
        "/api/v1/docs/static/swagger-ui.css",
        "/api/v1/docs/init.js",
    ):
        assert (await client.get(asset)).status_code == 200, asset


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    root = tmp_path / "static"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(
        '<!doctype html><script type="module" src="/assets/app-1.js"></script>'
    )
    (root / "assets" / "app-1.js").write_text("console.log('labgate')")
    (root / "favicon.svg").write_text("<svg/>")
    return root


async def test_front_end_routes_serve_the_app(
    settings: Settings, database: Database, static_dir: Path
) -> None:
    app = create_app(settings, database=database, bootstrap=False, static_dir=static_dir)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        for path in ("/", "/workspace", "/a/b/c"):
            page = await http.get(path)
            assert page.status_code == 200
            assert "app-1.js" in page.text
            assert page.headers["cache-control"] == "no-cache"
        asset = await http.get("/assets/app-1.js")
        assert asset.headers["cache-control"].endswith("immutable")
        assert (await http.get("/favicon.svg")).text == "<svg/>"
        assert (await http.get("/assets/missing.js")).status_code == 404
        assert (await http.get("/../../etc/passwd")).status_code in (200, 404)
        assert "root:" not in (await http.get("/..%2f..%2fetc/passwd")).text
        api_miss = await http.get("/api/v2/anything")
        assert api_miss.status_code == 404
        assert api_miss.json()["error"]["code"] == "not_found"


async def test_unbuilt_front_end_says_how_to_build_it(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    app = create_app(settings, database=database, bootstrap=False, static_dir=tmp_path / "none")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        page = await http.get("/")
    assert page.status_code == 503
    assert "make run" in page.text
