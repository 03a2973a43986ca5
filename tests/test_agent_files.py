"""The agent's file system calls: listing with stat, paging, names that are not UTF-8,
and errors that say what happened."""

from __future__ import annotations

import base64
import grp
import os
import pwd
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from labgate.agent.client import AgentCallError, AgentConnection
from labgate.agent.remote.files import ListingCache
from labgate.agent.remote.owners import Owners
from labgate.transport.local import LocalTransport


@pytest.fixture
async def agent() -> AsyncIterator[AgentConnection]:
    connection = await AgentConnection.start(
        LocalTransport(), python=sys.executable, agent_args=["--no-daemon"]
    )
    yield connection
    await connection.close()


async def test_listing_with_stat(agent: AgentConnection, tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    (tmp_path / "runs").mkdir()
    (tmp_path / ".hidden").write_text("")
    (tmp_path / "latest").symlink_to("runs")
    (tmp_path / "dangling").symlink_to("nowhere")
    os.chmod(tmp_path / "data.csv", 0o640)
    listing = await agent.call("fs.list", path=str(tmp_path))
    assert listing["total"] == 5
    entries = {e["name"]: e for e in listing["entries"]}
    assert list(entries) == [".hidden", "dangling", "data.csv", "latest", "runs"]
    assert entries["data.csv"]["kind"] == "file"
    assert entries["data.csv"]["size"] == 8
    assert entries["data.csv"]["mode"] == 0o640
    assert entries["runs"]["kind"] == "directory"
    assert (entries["latest"]["kind"], entries["latest"]["target_kind"]) == ("symlink", "directory")
    assert entries["dangling"]["target_kind"] == "missing"
    visible = await agent.call("fs.list", path=str(tmp_path), hidden=False)
    assert ".hidden" not in {e["name"] for e in visible["entries"]}


async def test_a_large_directory_comes_in_pages(agent: AgentConnection, tmp_path: Path) -> None:
    for i in range(2500):
        (tmp_path / f"f{i:05d}").touch()
    seen: list[str] = []
    offset = 0
    while True:
        page = await agent.call("fs.list", path=str(tmp_path), offset=offset, limit=1000)
        assert page["total"] == 2500
        assert len(page["entries"]) <= 1000
        seen += [e["name"] for e in page["entries"]]
        offset += len(page["entries"])
        if offset >= page["total"]:
            break
    assert seen == [f"f{i:05d}" for i in range(2500)]


async def names_listed(agent: AgentConnection, path: Path, limit: int = 1000) -> list[str]:
    """Every name of ``path``, page by page, checking that the pages agree on the total."""
    seen: list[str] = []
    totals = set()
    offset = 0
    while True:
        page = await agent.call("fs.list", path=str(path), offset=offset, limit=limit)
        totals.add(page["total"])
        seen += [e["name"] for e in page["entries"]]
        offset += limit
        if offset >= page["total"]:
            break
    assert len(totals) == 1
    return seen


async def test_the_pages_of_a_settled_directory_come_from_one_scan_that_notices_changes(
    agent: AgentConnection, tmp_path: Path
) -> None:
    # An mtime in the past: the agent keeps the sorted names between pages.
    for i in range(2500):
        (tmp_path / f"f{i:05d}").touch()
    long_ago = 1_600_000_000
    os.utime(tmp_path, (long_ago, long_ago))
    names = [f"f{i:05d}" for i in range(2500)]
    assert await names_listed(agent, tmp_path) == names
    assert await names_listed(agent, tmp_path, limit=700) == names
    # A new name changes the mtime; a removed one too.
    (tmp_path / "f01000-new").touch()
    assert "f01000-new" in await names_listed(agent, tmp_path)
    (tmp_path / "f00001").unlink()
    os.utime(tmp_path, (long_ago, long_ago))
    assert "f00001" not in await names_listed(agent, tmp_path)
    # A change whose mtime is put back as it was still changes the ctime.
    (tmp_path / "f00002").unlink()
    os.utime(tmp_path, (long_ago, long_ago))
    assert "f00002" not in await names_listed(agent, tmp_path)
    # Every page states each entry afresh: a size changed between pages shows.
    (tmp_path / "f02499").write_bytes(b"12345")
    last = await agent.call("fs.list", path=str(tmp_path), offset=2000, limit=1000)
    assert last["entries"][-1]["size"] == 5


def test_the_listing_cache_is_bounded(tmp_path: Path) -> None:
    cache = ListingCache(names=5, settled=0)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(3):
            (tmp_path / name / str(i)).touch()
    for name in ("a", "b", "a"):
        path = os.fsencode(tmp_path / name)
        assert cache.names(path, True, os.stat(path)) == [b"0", b"1", b"2"]
        assert len(cache) <= 5
    big = tmp_path / "big"
    big.mkdir()
    for i in range(6):
        (big / str(i)).touch()
    assert len(cache.names(os.fsencode(big), True, os.stat(big))) == 6
    assert len(cache) <= 5  # too big to keep at all


def unnamed_id() -> int:
    """A uid and gid that neither passwd nor group names on this machine."""
    number = 54321
    while True:
        try:
            pwd.getpwuid(number)
        except KeyError:
            try:
                grp.getgrgid(number)
            except KeyError:
                return number
        number += 1


async def test_entries_name_their_owners_and_keep_the_numbers(
    agent: AgentConnection, tmp_path: Path
) -> None:
    (tmp_path / "mine").touch()
    me = pwd.getpwuid(os.getuid()).pw_name
    my_group = grp.getgrgid(os.getgid()).gr_name
    (entry,) = (await agent.call("fs.list", path=str(tmp_path)))["entries"]
    assert (entry["user"], entry["group"]) == (me, my_group)
    assert (entry["uid"], entry["gid"]) == (os.getuid(), os.getgid())
    stat = await agent.call("fs.stat", path=str(tmp_path / "mine"))
    assert (stat["user"], stat["group"]) == (me, my_group)
    found = await agent.call("fs.search", path=str(tmp_path), pattern="mine")
    assert (found["matches"][0]["user"], found["matches"][0]["group"]) == (me, my_group)
    if os.geteuid() != 0:
        return  # only root can give a file to an id without a name
    stranger = unnamed_id()
    os.chown(tmp_path / "mine", stranger, stranger)
    (entry,) = (await agent.call("fs.list", path=str(tmp_path)))["entries"]
    assert (entry["uid"], entry["gid"]) == (stranger, stranger)
    assert "user" not in entry  # the number is all there is
    assert "group" not in entry


def test_one_call_looks_each_owner_up_once() -> None:
    asked: list[tuple[str, int]] = []

    def user(uid: int) -> str:
        asked.append(("user", uid))
        if uid == 7:
            raise KeyError(uid)
        return f"u{uid}"

    def group(gid: int) -> str:
        asked.append(("group", gid))
        return f"g{gid}"

    owners = Owners(user, group)
    entries = [{"uid": uid, "gid": 100} for uid in (1000, 7, 1000, 7, 1001)]
    for entry in entries:
        owners.name(entry)
    assert [(e.get("user"), e["group"]) for e in entries] == [
        ("u1000", "g100"),
        (None, "g100"),
        ("u1000", "g100"),
        (None, "g100"),
        ("u1001", "g100"),
    ]
    assert sorted(asked) == [("group", 100), ("user", 7), ("user", 1000), ("user", 1001)]


async def test_names_that_are_not_utf8_round_trip(agent: AgentConnection, tmp_path: Path) -> None:
    raw = b"caf\xe9-latin1"
    os.close(os.open(os.fsencode(tmp_path) + b"/" + raw, os.O_CREAT | os.O_WRONLY, 0o600))
    (entry,) = (await agent.call("fs.list", path=str(tmp_path)))["entries"]
    assert entry["name"] == "caf\ufffd-latin1"  # readable, marked as not quite right
    assert base64.b64decode(entry["raw"]) == raw
    path_raw = base64.b64encode(os.fsencode(tmp_path) + b"/" + raw).decode()
    found = await agent.call("fs.stat", path_raw=path_raw)
    assert found["kind"] == "file"
    assert base64.b64decode(found["raw"]) == raw


async def test_errors_name_the_problem(agent: AgentConnection, tmp_path: Path) -> None:
    (tmp_path / "file").touch()
    cases = [
        ({"path": str(tmp_path / "missing")}, "not_found"),
        ({"path": str(tmp_path / "file")}, "not_a_directory"),
        ({"path": "a\0b"}, "bad_request"),
        ({}, "bad_request"),
    ]
    for params, code in cases:
        with pytest.raises(AgentCallError) as failed:
            await agent.call("fs.list", **params)
        assert failed.value.remote_code == code, params


async def test_read_ranges_and_versions(agent: AgentConnection, tmp_path: Path) -> None:
    target = tmp_path / "log.txt"
    target.write_bytes(b"0123456789" * 100)
    whole = await agent.call("fs.read", path=str(target))
    assert base64.b64decode(whole["data"]) == b"0123456789" * 100
    assert whole["eof"] is True
    part = await agent.call("fs.read", path=str(target), offset=995, length=100)
    assert base64.b64decode(part["data"]) == b"56789"
    assert part["version"] == whole["version"]
    with pytest.raises(AgentCallError) as failed:
        await agent.call("fs.read", path=str(tmp_path))
    assert failed.value.remote_code == "is_a_directory"


async def test_writes_are_atomic_and_detect_concurrent_edits(
    agent: AgentConnection, tmp_path: Path
) -> None:
    target = tmp_path / "analysis.py"
    created = await agent.call(
        "fs.write",
        path=str(target),
        data=base64.b64encode(b"print(1)\n").decode(),
        create_only=True,
    )
    assert target.read_bytes() == b"print(1)\n"
    target.chmod(0o750)
    saved = await agent.call(
        "fs.write",
        path=str(target),
        data=base64.b64encode(b"print(2)\n").decode(),
        if_version=(await agent.call("fs.read", path=str(target)))["version"],
    )
    assert saved["version"] != created["version"]
    assert target.stat().st_mode & 0o777 == 0o750  # the file keeps its permissions
    # Someone else changes the file: a save based on the old version is refused.
    target.write_bytes(b"print('theirs')\n")
    with pytest.raises(AgentCallError) as conflict:
        await agent.call(
            "fs.write",
            path=str(target),
            data=base64.b64encode(b"print(3)\n").decode(),
            if_version=saved["version"],
        )
    assert conflict.value.remote_code == "conflict"
    assert target.read_bytes() == b"print('theirs')\n"
    with pytest.raises(AgentCallError) as exists:
        await agent.call("fs.write", path=str(target), data="", create_only=True)
    assert exists.value.remote_code == "exists"
    # A write that cannot happen leaves nothing behind.
    with pytest.raises(AgentCallError) as missing:
        await agent.call("fs.write", path=str(tmp_path / "no-dir" / "x"), data="")
    assert missing.value.remote_code == "not_found"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis.py"]


async def test_malformed_parameters_are_bad_requests(
    agent: AgentConnection, tmp_path: Path
) -> None:
    (tmp_path / "f").write_text("x")
    cases = [
        ("fs.list", {"path": str(tmp_path), "offset": "ten"}),
        ("fs.list", {"path": str(tmp_path), "limit": [1]}),
        ("fs.read", {"path": str(tmp_path / "f"), "length": "all"}),
        ("fs.stat", {"path_raw": "not base64!"}),
        ("fs.write", {"path": str(tmp_path / "g"), "data": "%%%"}),
    ]
    for method, params in cases:
        with pytest.raises(AgentCallError) as failed:
            await agent.call(method, **params)
        assert failed.value.remote_code == "bad_request", (method, params)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]
    assert (await agent.call("ping", payload=1)) == {"pong": 1}
