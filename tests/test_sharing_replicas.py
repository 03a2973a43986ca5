"""Two replicas on one PostgreSQL, each an app of its own (its own route cache, open
sockets and fan-out connection; nothing shared but the database), served by uvicorn:
a share revoked on replica A closes the recipient's WebSocket to the app on replica B
within a second, and B's proxy refuses their next request; a join through B is told to
the owner's tab on A."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from labgate.app import create_app
from labgate.db.engine import Database
from labgate.db.models import Role
from labgate.settings import Settings
from tests.conftest import async_url
from tests.support import postgres
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.daemons import daemon_runtime_dir
from tests.support.eventually import PATIENCE_SECONDS, eventually
from tests.support.local_accounts import map_local_to_root
from tests.support.proxied import APP_PAGE, running_session, state_of
from tests.support.serving import close_of, serving
from tests.test_sharing_proxy import (
    APPS,
    DEADLINE_SECONDS,
    LABGATE,
    echoing_app,
    open_socket,
    opened,
)


@dataclass
class Replicas:
    a: Any
    b: Any
    database: Database


@pytest.fixture
def runtime_dir() -> Iterator[str]:
    with daemon_runtime_dir("labgate-sharing-replicas-") as path:
        yield path


@pytest.fixture
async def replicas(
    postgres_dsn: str, settings: Settings, runtime_dir: str
) -> AsyncIterator[Replicas]:
    # Each app on an origin of its own, as shared web apps need.
    settings = settings.model_copy(
        update={
            "agent_runtime_dir": runtime_dir,
            "local_resource": "everyone",
            "public_url": f"http://{LABGATE}",
            "app_domain": "{session}." + APPS,
        }
    )
    with postgres.fresh_database(postgres_dsn) as dsn:
        first, second = Database(async_url(dsn)), Database(async_url(dsn))
        a = create_app(settings, database=first, bootstrap=False)
        b = create_app(settings.model_copy(), database=second, bootstrap=False)
        async with a.router.lifespan_context(a), b.router.lifespan_context(b):
            await map_local_to_root(first)
            # Both listen on the events channel before anything is told.
            for app in (a, b):
                await asyncio.wait_for(state_of(app).fanout.listening.wait(), PATIENCE_SECONDS)
            yield Replicas(a, b, first)


def on(replica: Any, user: LoggedIn) -> LoggedIn:
    """``user``'s login, through ``replica``."""
    transport = httpx.ASGITransport(app=replica, client=("127.0.0.1", 40000))
    http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    http.cookies.update(user.http.cookies)
    return LoggedIn(http=http, csrf=user.csrf, user=user.user)


async def test_a_revocation_on_one_replica_closes_the_socket_on_the_other(
    replicas: Replicas, settings: Settings
) -> None:
    accounts = AccountFactory(replicas.a, replicas.database, settings)
    await accounts.login("root", role=Role.ADMIN)
    olga = await accounts.login("olga")
    bob_on_a = await accounts.login("bob")
    bob_on_b = on(replicas.b, bob_on_a)
    async with serving(echoing_app) as app_url, serving(replicas.b) as url_b:
        port = int(app_url.rsplit(":", 1)[1])
        tokens = state_of(replicas.a).session_tokens
        session_id = await running_session(replicas.database, tokens, "olga", port)
        made = await olga.post(
            f"/api/v1/sessions/{session_id}/shares", json={"user": "bob", "role": "user"}
        )
        assert made.status_code == 201, made.text

        with state_of(replicas.a).presence.joins.subscribe(olga.user["id"]) as joins:
            page = await opened(bob_on_b, session_id)
            assert (page.status_code, page.content) == (200, APP_PAGE)
            joined = await asyncio.wait_for(joins.get(), PATIENCE_SECONDS)
        assert (joined.username, joined.session_id) == ("bob", session_id)

        socket = await open_socket(url_b, session_id, bob_on_b)
        revoked = await olga.delete(f"/api/v1/sessions/{session_id}/shares/{made.json()['id']}")
        assert revoked.status_code == 204
        assert await close_of(socket, DEADLINE_SECONDS) == (4403, "access_withdrawn")

        async def refused_on_b() -> bool:
            return (await bob_on_b.get(f"/s/{session_id}/")).status_code == 403

        assert await eventually(refused_on_b, what="B's proxy refusing bob")
    await bob_on_b.http.aclose()
    await accounts.close()
