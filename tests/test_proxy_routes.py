"""The proxy's route table: concurrent requests share one read of a missing or expired
route, and a route dropped while being read is not kept."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from labgate.proxy import routes as routes_module
from labgate.proxy.routes import Route, RouteTable


class CountingTable(RouteTable):
    def __init__(self) -> None:
        super().__init__(None, None, None, {}, None)  # type: ignore[arg-type]
        self.reads = 0
        self.release = asyncio.Event()

    async def _read(self, session_id: str, now: float) -> Route | None:
        self.reads += 1
        await self.release.wait()
        return Route(session_id, 7, "running", None, None, None, "", now)  # type: ignore[arg-type]


async def test_concurrent_misses_share_one_read() -> None:
    table = CountingTable()
    waiting = [asyncio.ensure_future(table.get("s1")) for _ in range(50)]
    await asyncio.sleep(0)  # one turn of the loop: every caller is waiting for the read
    table.release.set()
    found = await asyncio.gather(*waiting)
    assert table.reads == 1
    assert all(route is found[0] and route is not None for route in found)
    assert await table.get("s1") is found[0]  # cached now
    assert table.reads == 1


async def test_an_expired_route_is_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    table = CountingTable()
    table.release.set()
    first = await table.get("s1")
    monkeypatch.setattr(routes_module, "ROUTE_TTL_SECONDS", 0.0)
    second = await table.get("s1")
    assert table.reads == 2
    assert second is not first


async def test_a_route_dropped_while_read_is_not_kept() -> None:
    table = CountingTable()
    reading = asyncio.ensure_future(table.get("s1"))
    await asyncio.sleep(0)  # one turn of the loop: the read is under way
    table.drop("s1")  # e.g. the session stopped on this replica
    table.release.set()
    assert (await reading) is not None  # the request that asked gets its answer
    assert "s1" not in table._routes
    await table.get("s1")
    assert table.reads == 2  # the next request reads again


async def test_a_caller_that_leaves_does_not_cancel_the_others() -> None:
    table = CountingTable()
    leaving = asyncio.ensure_future(table.get("s1"))
    staying = asyncio.ensure_future(table.get("s1"))
    await asyncio.sleep(0)  # one turn of the loop: both wait for the read
    leaving.cancel()
    table.release.set()
    route: Any = await staying
    assert route is not None
    assert route.session_id == "s1"
