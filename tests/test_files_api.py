"""The file API on a resource, in-process against ``local`` (the server's own machine,
here the test's own account) with paths under pytest's tmp_path: listing, stat,
streamed downloads with ranges and entity tags, streamed atomic uploads with
preconditions, the file browser's operations, names that are not UTF-8, and who may
reach which files (404 for resources the caller does not see, 403 for a read-only token).
"""

from __future__ import annotations

import base64
import contextlib
import grp
import hashlib
import json
import os
import pwd
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from labgate.agent.client import AgentCallError
from labgate.agent.remote.wire import _OS_ERROR_CODES, WINDOW_BYTES
from labgate.api.files import DirectoryPage
from labgate.api.remote_errors import OTHER_STATUS, STATUS_OF_CODE, resource_error
from labgate.db.models import Role
from labgate.http import content
from labgate.settings import Settings
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.asgi import http_scope, stalled_reader
from tests.support.daemons import daemon_runtime_dir, processes_using
from tests.support.eventually import eventually
from tests.test_agent_streams import file_position, settled
from tests.test_resources_api import CLUSTER

MIB = 1024 * 1024
UPLOAD_LIMIT = 4 * MIB


@pytest.fixture
def runtime_dir() -> Iterator[str]:
    # Under /tmp rather than tmp_path: the daemon's socket path must fit in 108 bytes.
    # Afterwards the daemon these tests started is killed by PID.
    with daemon_runtime_dir("labgate-files-") as path:
        yield path


@pytest.fixture
def settings(settings: Settings, runtime_dir: str) -> Settings:
    return settings.model_copy(
        update={"agent_runtime_dir": runtime_dir, "max_upload_bytes": UPLOAD_LIMIT}
    )


@pytest.fixture
async def admin(accounts: AccountFactory) -> AsyncIterator[LoggedIn]:
    yield await accounts.login("root", role=Role.ADMIN)
    await accounts.close()


async def local_id(user: LoggedIn) -> int:
    listing = (await user.get("/api/v1/resources")).json()["resources"]
    return int(next(r["id"] for r in listing if r["kind"] == "local"))


@pytest.fixture
async def files(admin: LoggedIn) -> str:
    """The file API of the local resource."""
    return f"/api/v1/resources/{await local_id(admin)}/files"


def raw(path: bytes) -> str:
    return base64.b64encode(path).decode()


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The test's directory on the resource (tmp_path holds the SQLite database too)."""
    path = tmp_path / "work"
    path.mkdir()
    return path


# -- listing and stat -----------------------------------------------------------------------


def assert_a_directory_page(response: Any) -> None:
    """Exactly the documented DirectoryPage: valid, no nulls, nothing more (the server
    passes the agent's page on without decoding it)."""
    assert response.headers["content-type"] == "application/json"
    page = DirectoryPage.model_validate_json(response.content)
    assert json.loads(response.content) == page.model_dump(exclude_none=True)


async def test_the_listing_is_documented_as_a_directory_page(admin: LoggedIn) -> None:
    schema = (await admin.get("/api/v1/openapi.json")).json()
    answer = schema["paths"]["/api/v1/resources/{resource_id}/files"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DirectoryPage"
    }
    assert "entries" in schema["components"]["schemas"]["DirectoryPage"]["properties"]


async def test_listing_and_stat(admin: LoggedIn, files: str, work: Path) -> None:
    (work / "b.txt").write_bytes(b"hello")
    (work / ".hidden").write_bytes(b"")
    (work / "sub").mkdir()
    (work / "link").symlink_to("b.txt")

    listing = await admin.get(files, params={"path": str(work)})
    assert listing.status_code == 200, listing.text
    assert_a_directory_page(listing)
    page = listing.json()
    assert page["path"] == str(work)
    assert page["total"] == 4
    assert [e["name"] for e in page["entries"]] == [".hidden", "b.txt", "link", "sub"]
    by_name = {e["name"]: e for e in page["entries"]}
    assert by_name["b.txt"]["kind"] == "file"
    assert by_name["b.txt"]["size"] == 5
    assert "raw" not in by_name["b.txt"]
    assert "target" not in by_name["b.txt"]
    assert (by_name["link"]["target"], by_name["link"]["target_kind"]) == ("b.txt", "file")
    assert by_name["sub"]["kind"] == "directory"

    visible = await admin.get(
        files, params={"path": str(work), "hidden": "false", "offset": 1, "limit": 1}
    )
    assert (visible.json()["total"], [e["name"] for e in visible.json()["entries"]]) == (
        3,
        ["link"],
    )

    home = await admin.get(files, params={"limit": 1})
    assert home.json()["path"] == os.path.expanduser("~")

    stat = await admin.get(f"{files}/stat", params={"path": str(work / "b.txt")})
    assert stat.status_code == 200, stat.text
    assert (stat.json()["name"], stat.json()["kind"], stat.json()["size"]) == ("b.txt", "file", 5)
    assert stat.json()["mode"] == (work / "b.txt").stat().st_mode & 0o7777
    # Owners by name as the resource knows them, beside the numbers.
    owner = (work / "b.txt").stat()
    names = (pwd.getpwuid(owner.st_uid).pw_name, grp.getgrgid(owner.st_gid).gr_name)
    assert (stat.json()["user"], stat.json()["group"]) == names
    assert (by_name["b.txt"]["user"], by_name["b.txt"]["group"]) == names
    assert (by_name["b.txt"]["uid"], by_name["b.txt"]["gid"]) == (owner.st_uid, owner.st_gid)

    missing = await admin.get(f"{files}/stat", params={"path": str(work / "nothing")})
    assert (missing.status_code, error_code(missing)) == (404, "not_found")
    assert missing.json()["error"]["message"]
    not_a_dir = await admin.get(files, params={"path": str(work / "b.txt")})
    assert (not_a_dir.status_code, error_code(not_a_dir)) == (400, "not_a_directory")
    both = await admin.get(f"{files}/stat", params={"path": str(work), "path_raw": raw(b"/tmp")})
    assert both.status_code == 422
    neither = await admin.get(f"{files}/stat")
    assert neither.status_code == 422
    too_big = await admin.get(files, params={"path": str(work), "limit": 5001})
    assert too_big.status_code == 422


# -- downloads ------------------------------------------------------------------------------


async def test_download_whole_and_ranged(admin: LoggedIn, files: str, work: Path) -> None:
    data = bytes(range(256)) * 4 + b"end."  # 1028 bytes
    (work / "data.bin").write_bytes(data)
    url = f"{files}/content"
    where = {"path": str(work / "data.bin")}

    whole = await admin.get(url, params=where)
    assert whole.status_code == 200, whole.text
    assert whole.content == data
    tag = whole.headers["etag"]
    assert (tag[0], tag[-1]) == ('"', '"')
    assert whole.headers["content-length"] == "1028"
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "application/octet-stream"
    assert whole.headers["content-disposition"].startswith('inline; filename="data.bin"')
    assert whole.headers["content-security-policy"].startswith("sandbox;")
    assert whole.headers["cache-control"] == "private, no-cache"

    cases = {
        "bytes=10-19": (10, 19),
        "bytes=1020-": (1020, 1027),
        "bytes=-5": (1023, 1027),
        "bytes=-5000": (0, 1027),
        "bytes=1000-99999": (1000, 1027),
        "bytes=0-0": (0, 0),
    }
    for header, (first, last) in cases.items():
        part = await admin.get(url, params=where, headers={"Range": header})
        assert part.status_code == 206, (header, part.text)
        assert part.content == data[first : last + 1], header
        assert part.headers["content-range"] == f"bytes {first}-{last}/1028", header
        assert part.headers["content-length"] == str(last - first + 1), header
        assert part.headers["etag"] == tag

    for header in ("bytes=1028-", "bytes=5000-6000", "bytes=-0"):
        refused = await admin.get(url, params=where, headers={"Range": header})
        assert refused.status_code == 416, header
        assert refused.headers["content-range"] == "bytes */1028"
        assert error_code(refused) == "range_not_satisfiable"

    # Ranges this server does not serve are ignored: the whole file, as HTTP allows.
    for header in ("bytes=0-1,5-6", "lines=1-2", "bytes=9-2", "bytes=x"):
        ignored = await admin.get(url, params=where, headers={"Range": header})
        assert (ignored.status_code, ignored.content) == (200, data), header

    same = await admin.get(url, params=where, headers={"If-None-Match": tag})
    assert (same.status_code, same.content, same.headers["etag"]) == (304, b"", tag)
    weak = await admin.get(url, params=where, headers={"If-None-Match": f'"x", W/{tag}'})
    assert weak.status_code == 304
    other = await admin.get(url, params=where, headers={"If-None-Match": '"older"'})
    assert (other.status_code, other.content) == (200, data)

    # If-Range: the range only while the file is the one the client has part of.
    resumed = await admin.get(url, params=where, headers={"Range": "bytes=4-", "If-Range": tag})
    assert (resumed.status_code, resumed.content) == (206, data[4:])
    changed = await admin.get(
        url, params=where, headers={"Range": "bytes=4-", "If-Range": '"older"'}
    )
    assert (changed.status_code, changed.content) == (200, data)


async def test_download_names_types_and_errors(admin: LoggedIn, files: str, work: Path) -> None:
    url = f"{files}/content"
    name = 'résumé "final";.txt'
    (work / name).write_text("text")
    attachment = await admin.get(url, params={"path": str(work / name), "download": "1"})
    assert attachment.status_code == 200
    assert attachment.headers["content-disposition"] == (
        "attachment; filename=\"r_sum_ _final__.txt\"; filename*=UTF-8''"
        "r%C3%A9sum%C3%A9%20%22final%22%3B.txt"
    )
    assert attachment.headers["content-type"].startswith("text/plain")

    # Only types that are safe to show come with their type; pages and scripts never.
    for file_name, expected in (
        ("page.html", "application/octet-stream"),
        ("drawing.svg", "application/octet-stream"),
        ("code.js", "application/octet-stream"),
        ("plot.png", "image/png"),
    ):
        (work / file_name).write_bytes(b"<script>alert(1)</script>")
        served = await admin.get(url, params={"path": str(work / file_name)})
        assert served.headers["content-type"] == expected, file_name

    (work / "empty").write_bytes(b"")
    empty = await admin.get(url, params={"path": str(work / "empty")})
    assert (empty.status_code, empty.content, empty.headers["content-length"]) == (200, b"", "0")
    empty_range = await admin.get(
        url, params={"path": str(work / "empty")}, headers={"Range": "bytes=0-"}
    )
    assert empty_range.status_code == 416

    big = os.urandom(3 * MIB + 17)
    (work / "big").write_bytes(big)
    fetched = await admin.get(url, params={"path": str(work / "big")})
    assert hashlib.sha256(fetched.content).digest() == hashlib.sha256(big).digest()

    directory = await admin.get(url, params={"path": str(work)})
    assert (directory.status_code, error_code(directory)) == (400, "is_a_directory")
    missing = await admin.get(url, params={"path": str(work / "nothing")})
    assert (missing.status_code, error_code(missing)) == (404, "not_found")


async def test_a_download_goes_as_fast_as_the_client_reads(
    app: Any, admin: LoggedIn, files: str, work: Path, runtime_dir: str
) -> None:
    """A client that stops reading stops the reading on the resource, one window on:
    the server never holds the file."""
    size = 64 * MIB
    big = work / "big"
    with open(big, "wb") as handle:
        handle.truncate(size)
    token = await admin.post("/api/v1/tokens", json={"name": "dl", "scopes": ["read"]})
    bearer = (b"authorization", f"Bearer {token.json()['secret']}".encode())
    scope = http_scope("GET", f"{files}/content", {"path": str(big)}, [bearer])
    async with stalled_reader(app, scope) as started:
        assert started == [200]
        reader = next(pid for pid in processes_using(runtime_dir) if file_position(pid, big))
        position = await settled(lambda: file_position(reader, big), at_least=1)
        assert position <= 4 * WINDOW_BYTES < size


# -- uploads --------------------------------------------------------------------------------


async def test_upload_new_overwrite_and_preconditions(
    admin: LoggedIn, files: str, work: Path
) -> None:
    url = f"{files}/content"
    target = work / "notes.txt"
    where = {"path": str(target)}

    created = await admin.put(url, params=where, content=b"first")
    assert created.status_code == 200, created.text
    first = created.json()
    assert first["size"] == 5
    assert created.headers["etag"] == f'"{first["version"]}"'
    assert target.read_bytes() == b"first"
    read = await admin.get(url, params=where)
    assert read.headers["etag"] == created.headers["etag"]

    saved = await admin.put(
        url, params=where, content=b"second version", headers={"If-Match": read.headers["etag"]}
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] != first["version"]
    assert target.read_bytes() == b"second version"

    # Saving over a file that changed since it was read is refused, and changes nothing.
    stale = await admin.put(
        url, params=where, content=b"lost update", headers={"If-Match": f'"{first["version"]}"'}
    )
    assert (stale.status_code, error_code(stale)) == (409, "conflict")
    assert target.read_bytes() == b"second version"
    bare = await admin.put(
        url, params=where, content=b"third", headers={"If-Match": saved.json()["version"]}
    )
    assert bare.status_code == 200, bare.text
    gone = await admin.put(
        url,
        params={"path": str(work / "never-existed")},
        content=b"x",
        headers={"If-Match": bare.headers["etag"]},
    )
    assert (gone.status_code, error_code(gone)) == (409, "conflict")

    exists = await admin.put(url, params=where, content=b"new", headers={"If-None-Match": "*"})
    assert (exists.status_code, error_code(exists)) == (409, "exists")
    assert target.read_bytes() == b"third"
    fresh = await admin.put(
        url,
        params={"path": str(work / "fresh")},
        content=b"new",
        headers={"If-None-Match": "*"},
    )
    assert fresh.status_code == 200
    assert (work / "fresh").read_bytes() == b"new"

    for headers in ({"If-Match": "*"}, {"If-Match": '"a", "b"'}, {"If-None-Match": '"a"'}):
        refused = await admin.put(url, params=where, content=b"x", headers=headers)
        assert refused.status_code == 400, headers
    into_directory = await admin.put(url, params={"path": str(work)}, content=b"x")
    assert (into_directory.status_code, error_code(into_directory)) == (400, "is_a_directory")
    no_parent = await admin.put(url, params={"path": str(work / "a" / "b")}, content=b"x")
    assert (no_parent.status_code, error_code(no_parent)) == (404, "not_found")
    assert sorted(p.name for p in work.iterdir()) == ["fresh", "notes.txt"]


async def test_uploads_are_not_held_to_the_json_limit(
    admin: LoggedIn, accounts: AccountFactory, files: str, work: Path
) -> None:
    assert accounts.settings.max_body_bytes == 64 * 1024
    url = f"{files}/content"
    data = os.urandom(3 * 1000 * 1000)
    declared = await admin.put(url, params={"path": str(work / "declared")}, content=data)
    assert declared.status_code == 200, declared.text
    assert (work / "declared").read_bytes() == data

    async def pieces(payload: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 100_000):
            yield payload[start : start + 100_000]

    chunked = await admin.put(url, params={"path": str(work / "chunked")}, content=pieces(data))
    assert chunked.status_code == 200, chunked.text
    assert chunked.json()["size"] == len(data)
    assert (work / "chunked").read_bytes() == data

    # The upload limit applies instead, declared or found while streaming; nothing stays.
    too_big = os.urandom(UPLOAD_LIMIT + 1)
    refused = await admin.put(url, params={"path": str(work / "too-big")}, content=too_big)
    assert (refused.status_code, error_code(refused)) == (413, "payload_too_large")
    assert str(UPLOAD_LIMIT) in refused.json()["error"]["message"]
    streamed = await admin.put(url, params={"path": str(work / "too-big")}, content=pieces(too_big))
    assert streamed.status_code == 413
    await eventually(
        lambda: sorted(p.name for p in work.iterdir()) == ["chunked", "declared"],
        what="the aborted uploads' parts removed",
    )

    # The other file routes keep the JSON limit.
    big_json = await admin.post(
        f"{files}/mkdir", json={"path": str(work / "x"), "padding": "x" * 70_000}
    )
    assert big_json.status_code == 413


@contextlib.contextmanager
def unwritable(directory: Path) -> Iterator[None]:
    """A directory nobody may write in: for root (which passes permission checks) an
    immutable one (chattr +i), for anyone else one without write permission."""
    directory.mkdir()
    if os.geteuid() != 0:
        directory.chmod(0o555)
        yield
        directory.chmod(0o755)
        return
    made = subprocess.run(["chattr", "+i", str(directory)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make a directory immutable here: {made.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True)


async def test_writing_where_the_account_may_not(admin: LoggedIn, files: str, work: Path) -> None:
    locked = work / "locked"
    with unwritable(locked):
        upload = await admin.put(
            f"{files}/content", params={"path": str(locked / "out.bin")}, content=os.urandom(MIB)
        )
        assert (upload.status_code, error_code(upload)) == (403, "permission_denied")
        made = await admin.post(f"{files}/mkdir", json={"path": str(locked / "sub")})
        assert (made.status_code, error_code(made)) == (403, "permission_denied")
        assert list(locked.iterdir()) == []


# -- the file browser's operations --------------------------------------------------------


async def test_mkdir_rename_copy_delete_chmod(admin: LoggedIn, files: str, work: Path) -> None:
    made = await admin.post(f"{files}/mkdir", json={"path": str(work / "runs")})
    assert made.status_code == 201, made.text
    assert (made.json()["name"], made.json()["kind"]) == ("runs", "directory")
    again = await admin.post(f"{files}/mkdir", json={"path": str(work / "runs")})
    assert (again.status_code, error_code(again)) == (409, "exists")
    deep = {"path": str(work / "a" / "b"), "parents": True}
    assert (await admin.post(f"{files}/mkdir", json=deep)).status_code == 201
    assert (await admin.post(f"{files}/mkdir", json=deep)).status_code == 201  # like -p
    unknown = await admin.post(f"{files}/mkdir", json={"path": str(work / "c"), "mode": 1})
    assert unknown.status_code == 422

    (work / "one").write_text("1")
    (work / "two").write_text("2")
    onto = {"path": str(work / "one"), "to": str(work / "two")}
    clash = await admin.post(f"{files}/rename", json=onto)
    assert (clash.status_code, error_code(clash)) == (409, "exists")
    assert ((work / "one").read_text(), (work / "two").read_text()) == ("1", "2")
    replaced = await admin.post(f"{files}/rename", json={**onto, "overwrite": True})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["name"] == "two"
    assert not (work / "one").exists()
    assert (work / "two").read_text() == "1"
    moved = await admin.post(
        f"{files}/rename", json={"path": str(work / "two"), "to": str(work / "runs/2")}
    )
    assert moved.status_code == 200
    missing = await admin.post(
        f"{files}/rename", json={"path": str(work / "two"), "to": str(work / "three")}
    )
    assert (missing.status_code, error_code(missing)) == (404, "not_found")
    no_target = await admin.post(f"{files}/rename", json={"path": str(work / "runs")})
    assert no_target.status_code == 422

    tree = work / "runs"
    (tree / "nested").mkdir()
    (tree / "nested" / "x.dat").write_bytes(b"xyz")
    (tree / "link").symlink_to("nested/x.dat")
    os.mkfifo(tree / "pipe")
    copied = await admin.post(f"{files}/copy", json={"path": str(tree), "to": str(work / "copy")})
    assert copied.status_code == 200, copied.text
    assert copied.json()["skipped"] == [str(tree / "pipe")]
    assert (work / "copy" / "nested" / "x.dat").read_bytes() == b"xyz"
    assert os.readlink(work / "copy" / "link") == "nested/x.dat"
    clash = await admin.post(f"{files}/copy", json={"path": str(tree), "to": str(work / "a")})
    assert (clash.status_code, error_code(clash)) == (409, "exists")
    into_itself = await admin.post(
        f"{files}/copy", json={"path": str(tree), "to": str(tree / "nested" / "again")}
    )
    assert (into_itself.status_code, error_code(into_itself)) == (400, "bad_request")
    over = await admin.post(
        f"{files}/copy",
        json={"path": str(tree / "2"), "to": str(work / "a"), "overwrite": True},
    )
    assert over.status_code == 200, over.text
    assert (work / "a").read_text() == "1"

    chmod = await admin.post(f"{files}/chmod", json={"path": str(work / "a"), "mode": 0o640})
    assert chmod.status_code == 200, chmod.text
    assert chmod.json()["mode"] == 0o640
    assert (work / "a").stat().st_mode & 0o7777 == 0o640
    for mode in (0o10000, -1, "0755", True, 1.5):
        bad = await admin.post(f"{files}/chmod", json={"path": str(work / "a"), "mode": mode})
        assert bad.status_code == 422, mode

    not_empty = await admin.post(f"{files}/delete", json={"path": str(work / "copy")})
    assert (not_empty.status_code, error_code(not_empty)) == (409, "not_empty")
    assert (work / "copy" / "nested" / "x.dat").exists()
    gone = await admin.post(f"{files}/delete", json={"path": str(work / "copy"), "recursive": True})
    assert gone.status_code == 204
    assert not (work / "copy").exists()
    file_gone = await admin.post(f"{files}/delete", json={"path": str(work / "a")})
    assert file_gone.status_code == 204
    again = await admin.post(f"{files}/delete", json={"path": str(work / "a")})
    assert (again.status_code, error_code(again)) == (404, "not_found")
    home = await admin.post(f"{files}/delete", json={"path": "~"})
    assert (home.status_code, error_code(home)) == (403, "refused")


async def test_du_and_search(admin: LoggedIn, files: str, work: Path) -> None:
    (work / "data").mkdir()
    (work / "data" / "Run_01.csv").write_bytes(b"a" * 100)
    (work / "data" / "run_02.csv").write_bytes(b"b" * 50)
    (work / "data" / "notes.txt").write_bytes(b"c" * 10)
    (work / "data" / "deeper").mkdir()
    (work / "data" / "deeper" / "run_03.csv").write_bytes(b"")

    usage = await admin.get(f"{files}/du", params={"path": str(work / "data")})
    assert usage.status_code == 200, usage.text
    totals = usage.json()
    assert (totals["files"], totals["directories"], totals["unreadable"]) == (4, 1, 0)
    assert (
        totals["bytes"]
        == 160 + (work / "data").stat().st_size + (work / "data" / "deeper").stat().st_size
    )

    found = await admin.get(
        f"{files}/search", params={"path": str(work / "data"), "pattern": "RUN"}
    )
    assert found.status_code == 200, found.text
    assert [m["name"] for m in found.json()["matches"]] == [
        "Run_01.csv",
        "run_02.csv",
        "run_03.csv",
    ]
    assert found.json()["matches"][2]["path"] == str(work / "data" / "deeper" / "run_03.csv")
    assert found.json()["truncated"] is False
    glob = await admin.get(
        f"{files}/search", params={"path": str(work), "pattern": "*.txt", "limit": 5}
    )
    assert [m["name"] for m in glob.json()["matches"]] == ["notes.txt"]
    limited = await admin.get(
        f"{files}/search", params={"path": str(work), "pattern": "csv", "limit": 2}
    )
    assert (len(limited.json()["matches"]), limited.json()["truncated"]) == (2, True)
    no_pattern = await admin.get(f"{files}/search", params={"path": str(work)})
    assert no_pattern.status_code == 422
    nowhere = await admin.get(
        f"{files}/search", params={"path": str(work / "nothing"), "pattern": "x"}
    )
    assert (nowhere.status_code, error_code(nowhere)) == (404, "not_found")


# -- names ----------------------------------------------------------------------------------


async def test_names_that_are_not_utf8_round_trip(admin: LoggedIn, files: str, work: Path) -> None:
    base = os.fsencode(work)
    latin1 = base + b"/caf\xe9.txt"
    with open(latin1, "wb") as handle:
        handle.write(b"espresso")

    answer = await admin.get(files, params={"path": str(work)})
    assert_a_directory_page(answer)
    entry = answer.json()["entries"][0]
    assert base64.b64decode(entry["raw"]) == b"caf\xe9.txt"
    assert entry["name"] == "caf\ufffd.txt"

    stat = await admin.get(f"{files}/stat", params={"path_raw": raw(latin1)})
    assert (stat.status_code, stat.json()["raw"]) == (200, entry["raw"])
    found = await admin.get(f"{files}/search", params={"path": str(work), "pattern": "caf"})
    assert found.status_code == 200, found.text
    (match,) = found.json()["matches"]
    assert (match["raw"], base64.b64decode(match["path_raw"])) == (entry["raw"], latin1)
    read = await admin.get(f"{files}/content", params={"path_raw": raw(latin1), "download": "1"})
    assert read.content == b"espresso"
    assert "filename*=UTF-8''caf%EF%BF%BD.txt" in read.headers["content-disposition"]

    uploaded = base + b"/new\xff"
    written = await admin.put(f"{files}/content", params={"path_raw": raw(uploaded)}, content=b"1")
    assert written.status_code == 200, written.text
    with open(uploaded, "rb") as handle:
        assert handle.read() == b"1"
    renamed = base + b"/\xfe-renamed"
    moved = await admin.post(
        f"{files}/rename", json={"path_raw": raw(uploaded), "to_raw": raw(renamed)}
    )
    assert moved.status_code == 200, moved.text
    assert base64.b64decode(moved.json()["raw"]) == b"\xfe-renamed"
    made = await admin.post(f"{files}/mkdir", json={"path_raw": raw(base + b"/dir\x80")})
    assert made.status_code == 201
    deleted = await admin.post(f"{files}/delete", json={"path_raw": raw(renamed)})
    assert deleted.status_code == 204
    assert sorted(os.listdir(base)) == [b"caf\xe9.txt", b"dir\x80"]


async def test_nul_and_malformed_paths_are_refused(admin: LoggedIn, files: str, work: Path) -> None:
    with_nul = str(work / "a\0b")
    for response in (
        await admin.get(files, params={"path": with_nul}),
        await admin.get(f"{files}/stat", params={"path_raw": raw(b"/tmp/a\0b")}),
        await admin.get(f"{files}/content", params={"path": with_nul}),
        await admin.put(f"{files}/content", params={"path": with_nul}, content=b"x"),
        await admin.post(f"{files}/mkdir", json={"path": with_nul}),
        await admin.post(f"{files}/rename", json={"path": str(work), "to": with_nul}),
        await admin.post(f"{files}/delete", json={"path_raw": raw(b"\0")}),
    ):
        assert response.status_code == 400, (response.request.url, response.text)
        assert "NUL" in response.json()["error"]["message"]
    for response in (
        await admin.get(f"{files}/stat", params={"path_raw": "not base64!"}),
        await admin.post(f"{files}/mkdir", json={"path_raw": "%%%"}),
        await admin.post(f"{files}/mkdir", json={"path": ""}),
        await admin.post(f"{files}/mkdir", json={"path": str(work), "path_raw": raw(b"/")}),
    ):
        assert response.status_code == 422, (response.request.url, response.text)
    assert list(work.iterdir()) == []


# -- who may reach which files ---------------------------------------------------------------


def every_call(files: str, path: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Each file route, on directory ``path`` and its file ``f``."""
    where, file = {"params": {"path": path}}, {"params": {"path": path + "/f"}}
    return [
        ("GET", files, where),
        ("GET", f"{files}/stat", file),
        ("GET", f"{files}/content", file),
        ("GET", f"{files}/du", where),
        ("GET", f"{files}/search", {"params": {"path": path, "pattern": "x"}}),
        ("PUT", f"{files}/content", {**file, "content": b"written"}),
        ("POST", f"{files}/mkdir", {"json": {"path": path + "/new"}}),
        ("POST", f"{files}/rename", {"json": {"path": path + "/f", "to": path + "/g"}}),
        ("POST", f"{files}/copy", {"json": {"path": path + "/f", "to": path + "/h"}}),
        ("POST", f"{files}/delete", {"json": {"path": path + "/f"}}),
        ("POST", f"{files}/chmod", {"json": {"path": path + "/f", "mode": 0o600}}),
    ]


async def test_other_users_reach_nothing(
    admin: LoggedIn, accounts: AccountFactory, files: str, work: Path
) -> None:
    (work / "f").write_text("mine")
    alice = await accounts.login("alice")
    own = await alice.post("/api/v1/resources", json=CLUSTER)
    assert own.status_code == 201
    bob = await accounts.login("bob")
    alices_files = f"/api/v1/resources/{own.json()['id']}/files"
    # The local resource is for administrators (local_resource = "admins"); Alice's own
    # resource is hers alone. Neither is confirmed to exist.
    for user, url in ((alice, files), (bob, alices_files)):
        for method, call_url, kwargs in every_call(url, str(work)):
            response = await user.request(method, call_url, **kwargs)
            assert response.status_code == 404, (user.user["username"], method, call_url)
            assert error_code(response) == "not_found"
    assert sorted(p.name for p in work.iterdir()) == ["f"]
    assert (work / "f").read_text() == "mine"


async def test_a_read_only_token_reads_but_never_writes(
    admin: LoggedIn, accounts: AccountFactory, files: str, work: Path
) -> None:
    (work / "f").write_text("kept")
    created = await admin.post("/api/v1/tokens", json={"name": "ro", "scopes": ["read"]})
    script = accounts.anonymous()
    bearer = {"Authorization": f"Bearer {created.json()['secret']}"}
    for method, url, kwargs in every_call(files, str(work)):
        response = await script.request(method, url, headers=bearer, **kwargs)
        if method == "GET":
            assert response.status_code == 200, (method, url, response.text)
        else:
            assert (response.status_code, error_code(response)) == (403, "forbidden"), url
    assert sorted(p.name for p in work.iterdir()) == ["f"]
    assert (work / "f").read_text() == "kept"


async def test_cookie_sessions_need_the_csrf_header_to_change_files(
    admin: LoggedIn, files: str, work: Path
) -> None:
    (work / "f").write_text("kept")
    for method, url, kwargs in every_call(files, str(work)):
        if method == "GET":
            continue
        response = await admin.http.request(method, url, **kwargs)
        assert (response.status_code, error_code(response)) == (403, "csrf_failed"), url
    assert sorted(p.name for p in work.iterdir()) == ["f"]
    assert (work / "f").read_text() == "kept"


# -- the pieces -----------------------------------------------------------------------------


def test_every_file_system_error_of_the_agent_has_a_status() -> None:
    assert set(_OS_ERROR_CODES.values()) <= set(STATUS_OF_CODE)
    expected = {
        "not_found": 404,
        "permission_denied": 403,
        "read_only": 403,
        "exists": 409,
        "conflict": 409,
        "not_empty": 409,
        "running": 409,
        "no_space": 507,
        "quota_exceeded": 507,
        "is_a_directory": 400,
        "not_a_directory": 400,
        "bad_request": 400,
        "cross_device": 400,
        "os_error": OTHER_STATUS,
        "something_new": OTHER_STATUS,
    }
    for code, status in expected.items():
        error = resource_error(AgentCallError(code, f"What the agent said about {code}."))
        assert (error.code, error.status, error.message) == (
            code,
            status,
            f"What the agent said about {code}.",
        )


def test_range_headers() -> None:
    assert content.requested_range(None) is None
    assert content.requested_range("bytes=0-99") == (0, 99)
    assert content.requested_range(" bytes=5- ") == (5, None)
    assert content.requested_range("bytes=-7") == (None, 7)
    for ignored in ("bytes=-", "bytes=3-1", "bytes=0-1,4-5", "items=0-1", "bytes=a-b", ""):
        assert content.requested_range(ignored) is None, ignored


def test_entity_tags_and_names() -> None:
    assert content.etag("1-2-3") == '"1-2-3"'
    assert content.none_match('"0", "1-2-3"', "1-2-3")
    assert content.none_match('W/"1-2-3"', "1-2-3")
    assert content.none_match("*", "1-2-3")
    assert not content.none_match('"1-2"', "1-2-3")
    assert not content.none_match(None, "1-2-3")
    assert content.if_match_version('"1-2-3"') == "1-2-3"
    assert content.if_match_version("1-2-3") == "1-2-3"
    assert content.if_match_version(None) is None
    assert content.disposition("inline", "a b.txt") == (
        "inline; filename=\"a b.txt\"; filename*=UTF-8''a%20b.txt"
    )
    assert content.disposition("attachment", "x\r\n\\y") == (
        "attachment; filename=\"x___y\"; filename*=UTF-8''x%0D%0A%5Cy"
    )
