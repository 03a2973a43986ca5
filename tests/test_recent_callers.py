"""The proxy's memory of recent callers: kept for a moment, forgotten at once on demand,
bounded in size."""

from __future__ import annotations

import asyncio

import pytest

from labgate.auth import recent as recent_module
from labgate.auth.principal import Principal, Scope
from labgate.auth.recent import RecentCallers
from labgate.db.models import Role


def principal(user_id: int) -> Principal:
    return Principal(
        user_id=user_id,
        username=f"user{user_id}",
        role=Role.USER,
        via="token",
        scopes=frozenset(Scope),
        session_id=None,
        token_id=user_id,
        must_change_password=False,
    )


def test_kept_for_a_moment_then_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(recent_module.time, "monotonic", lambda: clock[0])
    callers = RecentCallers(ttl=2.0)
    alice = principal(1)
    callers.put("authorization:a", alice)
    assert callers.get("authorization:a") is alice
    assert callers.get("authorization:b") is None
    clock[0] += 1.9
    assert callers.get("authorization:a") is alice
    clock[0] += 0.2
    assert callers.get("authorization:a") is None


def test_forgotten_at_once() -> None:
    callers = RecentCallers()
    callers.put("cookie:a", principal(1))
    callers.put("login:7", principal(2))
    callers.forget_all()
    assert callers.get("cookie:a") is None
    assert callers.get("login:7") is None


def test_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recent_module, "MOST_KEPT", 3)
    callers = RecentCallers()
    for number in range(10):
        callers.put(f"cookie:{number}", principal(number))
        assert len(callers._seen) <= 3
    assert callers.get("cookie:9") is not None


async def test_concurrent_lookups_share_one() -> None:
    callers = RecentCallers()
    asked = 0
    release = asyncio.Event()

    async def look_up() -> Principal:
        nonlocal asked
        asked += 1
        await release.wait()
        return principal(1)

    waiting = [asyncio.ensure_future(callers.find("cookie:a", look_up)) for _ in range(50)]
    await asyncio.sleep(0)  # one turn of the loop: every caller waits for the lookup
    release.set()
    found = await asyncio.gather(*waiting)
    assert asked == 1
    assert all(p is found[0] for p in found)
    assert await callers.find("cookie:a", look_up) is found[0]  # remembered now
    assert asked == 1


async def test_a_lookup_under_way_at_a_revocation_is_not_kept() -> None:
    callers = RecentCallers()
    release = asyncio.Event()

    async def look_up() -> Principal:
        await release.wait()
        return principal(1)

    asking = asyncio.ensure_future(callers.find("cookie:a", look_up))
    await asyncio.sleep(0)  # one turn of the loop: the lookup is under way
    callers.forget_all()  # e.g. the user logged out meanwhile
    release.set()
    assert (await asking).user_id == 1  # the request that asked gets its answer
    assert callers.get("cookie:a") is None  # but it is not remembered


async def test_refusals_are_not_remembered() -> None:
    callers = RecentCallers()
    asked = 0

    async def refuse() -> Principal:
        nonlocal asked
        asked += 1
        raise PermissionError("not logged in")

    for _ in range(2):
        with pytest.raises(PermissionError):
            await callers.find("cookie:a", refuse)
    assert asked == 2
