"""The agent's remaining file calls: mkdir, rename, copy, delete, chmod, du, search.
Nothing is replaced unless asked, symlinks are never followed out of a tree, and names
that are not UTF-8 round-trip."""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from labgate.agent.client import AgentCallError, AgentConnection
from labgate.transport.local import LocalTransport
from tests.test_agent_processes import oldest_python


@pytest.fixture(params=["current", "oldest"])
async def agent(request: pytest.FixtureRequest) -> AsyncIterator[AgentConnection]:
    # Every call on this Python and on the oldest the agent supports, when there is one.
    python = sys.executable if request.param == "current" else oldest_python()
    if python is None:
        pytest.skip("no Python 3.8 on this machine")
    connection = await AgentConnection.start(
        LocalTransport(), python=python, agent_args=["--no-daemon"]
    )
    yield connection
    await connection.close()


async def refused(agent: AgentConnection, method: str, **params: Any) -> str:
    with pytest.raises(AgentCallError) as failed:
        await agent.call(method, **params)
    return failed.value.remote_code


def raw(path: bytes) -> str:
    return base64.b64encode(path).decode()


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def test_mkdir(agent: AgentConnection, tmp_path: Path) -> None:
    made = await agent.call("fs.mkdir", path=str(tmp_path / "runs"))
    assert (made["kind"], made["name"]) == ("directory", "runs")
    assert await refused(agent, "fs.mkdir", path=str(tmp_path / "runs")) == "exists"
    assert await refused(agent, "fs.mkdir", path=str(tmp_path / "a" / "b")) == "not_found"
    await agent.call("fs.mkdir", path=str(tmp_path / "a" / "b"), parents=True)
    await agent.call("fs.mkdir", path=str(tmp_path / "a" / "b"), parents=True)  # like -p
    assert (tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").touch()
    assert await refused(agent, "fs.mkdir", path=str(tmp_path / "file"), parents=True) == "exists"
    assert await refused(agent, "fs.mkdir", path="x\0y") == "bad_request"


async def test_rename_never_replaces_unless_asked(agent: AgentConnection, tmp_path: Path) -> None:
    (tmp_path / "draft.txt").write_text("draft")
    (tmp_path / "final.txt").write_text("final")
    code = await refused(
        agent, "fs.rename", path=str(tmp_path / "draft.txt"), to=str(tmp_path / "final.txt")
    )
    assert code == "exists"
    assert (tmp_path / "final.txt").read_text() == "final"
    moved = await agent.call(
        "fs.rename",
        path=str(tmp_path / "draft.txt"),
        to=str(tmp_path / "final.txt"),
        overwrite=True,
    )
    assert moved["name"] == "final.txt"
    assert names(tmp_path) == ["final.txt"]
    assert (tmp_path / "final.txt").read_text() == "draft"
    # Directories move whole; a non-empty directory is not replaced even when asked.
    (tmp_path / "d1" / "sub").mkdir(parents=True)
    (tmp_path / "d2").mkdir()
    (tmp_path / "d2" / "keep").touch()
    await agent.call("fs.rename", path=str(tmp_path / "d1"), to=str(tmp_path / "moved"))
    assert (tmp_path / "moved" / "sub").is_dir()
    code = await refused(
        agent, "fs.rename", path=str(tmp_path / "moved"), to=str(tmp_path / "d2"), overwrite=True
    )
    assert code == "not_empty"
    missing = await refused(agent, "fs.rename", path=str(tmp_path / "gone"), to=str(tmp_path / "x"))
    assert missing == "not_found"
    assert await refused(agent, "fs.rename", path=str(tmp_path / "moved")) == "bad_request"
    code = await refused(agent, "fs.rename", path=str(tmp_path / "moved"), to="a\0b")
    assert code == "bad_request"


async def test_copy_files_and_trees(agent: AgentConnection, tmp_path: Path) -> None:
    source = tmp_path / "experiment"
    (source / "raw").mkdir(parents=True)
    (source / "raw" / "run1.dat").write_bytes(b"\x00\x01" * 1000)
    (source / "script.sh").write_text("#!/bin/sh\n")
    (source / "script.sh").chmod(0o750)
    (source / "latest").symlink_to("raw/run1.dat")
    (source / "outside").symlink_to(tmp_path / "elsewhere")
    os.mkfifo(source / "pipe")
    (source / "raw").chmod(0o711)
    copied = await agent.call("fs.copy", path=str(source), to=str(tmp_path / "copy"))
    assert copied["kind"] == "directory"
    assert copied["skipped"] == [str(source / "pipe")]  # named, not silently dropped
    copy = tmp_path / "copy"
    assert (copy / "raw" / "run1.dat").read_bytes() == b"\x00\x01" * 1000
    assert (copy / "script.sh").stat().st_mode & 0o777 == 0o750
    assert (copy / "raw").stat().st_mode & 0o777 == 0o711
    assert os.readlink(copy / "latest") == "raw/run1.dat"  # symlinks stay symlinks
    assert os.readlink(copy / "outside") == str(tmp_path / "elsewhere")
    assert not (copy / "pipe").exists()
    # A single file, its mode and time kept; never over an existing name unless asked.
    await agent.call("fs.copy", path=str(source / "script.sh"), to=str(tmp_path / "s.sh"))
    assert (tmp_path / "s.sh").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "s.sh").stat().st_mtime == (source / "script.sh").stat().st_mtime
    (tmp_path / "s.sh").write_text("mine")
    code = await refused(
        agent, "fs.copy", path=str(source / "script.sh"), to=str(tmp_path / "s.sh")
    )
    assert code == "exists"
    assert (tmp_path / "s.sh").read_text() == "mine"
    await agent.call(
        "fs.copy", path=str(source / "script.sh"), to=str(tmp_path / "s.sh"), overwrite=True
    )
    assert (tmp_path / "s.sh").read_text() == "#!/bin/sh\n"
    # Replacing a whole tree with overwrite.
    (source / "raw" / "run2.dat").write_bytes(b"2")
    await agent.call("fs.copy", path=str(source), to=str(copy), overwrite=True)
    assert names(copy / "raw") == ["run1.dat", "run2.dat"]
    code = await refused(agent, "fs.copy", path=str(source), to=str(source / "raw" / "again"))
    assert code == "bad_request"  # not into itself
    # No temporary names are left anywhere.
    assert names(tmp_path) == ["copy", "experiment", "s.sh"]


async def test_delete(agent: AgentConnection, tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data").write_text("keep me")
    tree = tmp_path / "tree"
    (tree / "deep" / "deeper").mkdir(parents=True)
    (tree / "deep" / "deeper" / "f").write_text("x")
    (tree / "link-out").symlink_to(precious)  # a way out of the tree
    (tree / "deep" / "file-link").symlink_to(precious / "data")
    code = await refused(agent, "fs.delete", path=str(tree))
    assert code == "not_empty"
    assert tree.exists()
    await agent.call("fs.delete", path=str(tree), recursive=True)
    assert not tree.exists()
    assert (precious / "data").read_text() == "keep me"  # never followed
    # A symlink to a directory is removed as a link, even recursively.
    (tmp_path / "shortcut").symlink_to(precious)
    await agent.call("fs.delete", path=str(tmp_path / "shortcut"), recursive=True)
    assert not (tmp_path / "shortcut").is_symlink()
    assert (precious / "data").exists()
    await agent.call("fs.delete", path=str(precious / "data"))
    await agent.call("fs.delete", path=str(precious))
    assert names(tmp_path) == []
    assert await refused(agent, "fs.delete", path=str(tmp_path / "gone")) == "not_found"
    assert await refused(agent, "fs.delete", path="/", recursive=True) == "refused"
    assert await refused(agent, "fs.delete", path="~", recursive=True) == "refused"
    assert await refused(agent, "fs.delete", path="a\0") == "bad_request"


async def test_names_that_are_not_utf8_round_trip(agent: AgentConnection, tmp_path: Path) -> None:
    base = os.fsencode(tmp_path)
    latin = base + b"/r\xe9sultat"
    with open(latin, "wb") as handle:
        handle.write(b"data")
    renamed = base + b"/\xff\xfe-renamed"
    moved = await agent.call("fs.rename", path_raw=raw(latin), to_raw=raw(renamed))
    assert base64.b64decode(moved["raw"]) == b"\xff\xfe-renamed"
    copied = base + b"/copy-\xe9"
    await agent.call("fs.copy", path_raw=raw(renamed), to_raw=raw(copied))
    directory = base + b"/dir-\xe9"
    await agent.call("fs.mkdir", path_raw=raw(directory))
    await agent.call("fs.copy", path_raw=raw(copied), to_raw=raw(directory + b"/inner-\xe9"))
    tree_copy = base + b"/tree-\xe9"
    await agent.call("fs.copy", path_raw=raw(directory), to_raw=raw(tree_copy))
    assert sorted(os.listdir(base)) == sorted(
        [b"\xff\xfe-renamed", b"copy-\xe9", b"dir-\xe9", b"tree-\xe9"]
    )
    with open(tree_copy + b"/inner-\xe9", "rb") as handle:
        assert handle.read() == b"data"
    found = await agent.call("fs.search", path=str(tmp_path), pattern="inner")
    assert sorted(base64.b64decode(m["path_raw"]) for m in found["matches"]) == [
        directory + b"/inner-\xe9",
        tree_copy + b"/inner-\xe9",
    ]
    await agent.call("fs.delete", path_raw=raw(tree_copy), recursive=True)
    await agent.call("fs.delete", path_raw=raw(renamed))
    assert sorted(os.listdir(base)) == [b"copy-\xe9", b"dir-\xe9"]


async def test_chmod(agent: AgentConnection, tmp_path: Path) -> None:
    target = tmp_path / "run.sh"
    target.write_text("")
    changed = await agent.call("fs.chmod", path=str(target), mode=0o755)
    assert changed["mode"] == 0o755
    assert target.stat().st_mode & 0o777 == 0o755
    for mode in (-1, 0o10000, "755", True):
        assert await refused(agent, "fs.chmod", path=str(target), mode=mode) == "bad_request"
    assert await refused(agent, "fs.chmod", path=str(tmp_path / "gone"), mode=0o600) == "not_found"


async def test_du(agent: AgentConnection, tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "one").write_bytes(b"x" * 1000)
    (tmp_path / "a" / "b" / "two").write_bytes(b"y" * 3000)
    os.link(tmp_path / "a" / "one", tmp_path / "a" / "b" / "hardlink")  # counted once
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "big").write_bytes(b"z" * 100_000)
    (tmp_path / "a" / "link").symlink_to(outside)  # not followed
    try:
        usage = await agent.call("fs.du", path=str(tmp_path / "a"))
    finally:
        (outside / "big").unlink()
        outside.rmdir()
    link_size = len(str(outside))
    directory_sizes = (tmp_path / "a").stat().st_size + (tmp_path / "a" / "b").stat().st_size
    assert usage["bytes"] == 1000 + 3000 + link_size + directory_sizes
    assert usage["files"] == 3  # one (and its hard link), two, the symlink
    assert usage["directories"] == 1
    assert usage["disk_bytes"] > 0
    single = await agent.call("fs.du", path=str(tmp_path / "a" / "one"))
    assert (single["bytes"], single["files"], single["directories"]) == (1000, 1, 0)
    assert await refused(agent, "fs.du", path=str(tmp_path / "gone")) == "not_found"


async def test_search(agent: AgentConnection, tmp_path: Path) -> None:
    (tmp_path / "runs" / "2024").mkdir(parents=True)
    for name in ("Results.CSV", "results-old.csv", "notes.txt"):
        (tmp_path / "runs" / "2024" / name).touch()
    (tmp_path / "Results").mkdir()
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    outside.mkdir()
    (outside / "results-hidden.csv").touch()
    (tmp_path / "link").symlink_to(outside)  # not followed
    try:
        by_part = await agent.call("fs.search", path=str(tmp_path), pattern="RESULTS")
        by_glob = await agent.call("fs.search", path=str(tmp_path), pattern="*.csv")
        limited = await agent.call("fs.search", path=str(tmp_path), pattern="*s*", limit=2)
    finally:
        (outside / "results-hidden.csv").unlink()
        outside.rmdir()
    # Breadth first: the shallow match comes first.
    assert [m["path"] for m in by_part["matches"]] == [
        str(tmp_path / "Results"),
        str(tmp_path / "runs" / "2024" / "Results.CSV"),
        str(tmp_path / "runs" / "2024" / "results-old.csv"),
    ]
    assert by_part["truncated"] is False
    assert by_part["matches"][0]["kind"] == "directory"
    assert sorted(m["name"] for m in by_glob["matches"]) == ["Results.CSV", "results-old.csv"]
    assert len(limited["matches"]) == 2
    assert limited["truncated"] is True
    assert await refused(agent, "fs.search", path=str(tmp_path)) == "bad_request"
    assert await refused(agent, "fs.search", path=str(tmp_path / "gone"), pattern="x") == (
        "not_found"
    )


async def test_a_file_that_vanished(agent: AgentConnection, tmp_path: Path) -> None:
    gone = str(tmp_path / "vanished")
    for method, params in [
        ("fs.rename", {"path": gone, "to": str(tmp_path / "x")}),
        ("fs.copy", {"path": gone, "to": str(tmp_path / "x")}),
        ("fs.delete", {"path": gone}),
        ("fs.chmod", {"path": gone, "mode": 0o644}),
        ("fs.du", {"path": gone}),
        ("fs.stat", {"path": gone}),
    ]:
        assert await refused(agent, method, **params) == "not_found", method
    for method, params in [
        ("fs.rename", {"path": "a\0b", "to": str(tmp_path / "x")}),
        ("fs.copy", {"path": str(tmp_path), "to": "x\0"}),
        ("fs.chmod", {"path": "\0", "mode": 0o644}),
        ("fs.du", {"path": "a\0"}),
        ("fs.search", {"path": "a\0", "pattern": "x"}),
    ]:
        assert await refused(agent, method, **params) == "bad_request", method
    assert names(tmp_path) == []
