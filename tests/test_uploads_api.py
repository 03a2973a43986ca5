"""Resumable uploads through the API, to the test account on a real sshd: parts at
offsets, resuming after a cut-off part, the checksum at the end, preconditions on the
target, a read-only folder, a full disk, bad names, other users' uploads, and expiry.
Nothing partial may ever appear under the target's name."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from labgate.db.models import Upload
from labgate.db.types import utcnow
from labgate.resources import leftovers
from labgate.settings import Settings
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.asgi import http_scope, leaving_writer
from tests.support.remote_files import add_ssh_resource, error_of, small_disk
from tests.support.sshd import SshServer

MIB = 1024 * 1024
PART_LIMIT = 4 * MIB
UPLOAD_LIMIT = 64 * MIB


@pytest.fixture
def settings(settings: Settings, runtime_dir: str) -> Settings:
    return settings.model_copy(
        update={
            "agent_runtime_dir": runtime_dir,
            "max_upload_bytes": UPLOAD_LIMIT,
            "upload_chunk_max_bytes": PART_LIMIT,
        }
    )


@pytest.fixture
async def uploads(alice: LoggedIn, sshd: SshServer) -> str:
    resource_id = await add_ssh_resource(alice, sshd, "box")
    return f"/api/v1/resources/{resource_id}/uploads"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def raw(path: bytes) -> str:
    return base64.b64encode(path).decode()


def hidden_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".labgate-upload-"))


async def start(user: LoggedIn, uploads: str, **body: Any) -> dict[str, Any]:
    created = await user.post(uploads, json=body)
    assert created.status_code == 201, created.text
    upload: dict[str, Any] = created.json()
    return upload


# -- the whole way ------------------------------------------------------------------------


async def test_parts_at_offsets_then_complete(alice: LoggedIn, uploads: str, work: Path) -> None:
    data = os.urandom(3 * MIB + 5)
    target = work / "run.h5"
    upload = await start(alice, uploads, path=str(target), size=len(data), sha256=sha256(data))
    assert (upload["offset"], upload["size"], upload["path"]) == (0, len(data), str(target))
    assert upload["sha256"] == sha256(data)
    url = f"{uploads}/{upload['id']}"
    # The bytes go to a hidden file beside the target; nothing under its name yet.
    assert hidden_files(work) == [f".labgate-upload-{upload['id']}"]
    assert not target.exists()

    first = await alice.put(url, params={"offset": 0}, content=data[:MIB])
    assert first.status_code == 200, first.text
    assert first.json() == {"offset": MIB}
    assert first.headers["upload-offset"] == str(MIB)
    state = await alice.get(url)
    assert (state.status_code, state.json()["offset"]) == (200, MIB)
    assert not target.exists()

    # A part that does not continue where the resource's copy ends is refused, and says
    # where to go on; nothing of it is kept.
    for wrong in (0, MIB + 1, 2 * MIB):
        refused = await alice.put(url, params={"offset": wrong}, content=data[wrong : wrong + 10])
        assert refused.status_code == 409, refused.text
        assert (error_of(refused)["code"], error_of(refused)["offset"]) == ("wrong_offset", MIB)
        assert refused.headers["upload-offset"] == str(MIB)
    assert (await alice.get(url)).json()["offset"] == MIB

    listed = await alice.get("/api/v1/uploads")
    assert [(u["id"], u["offset"]) for u in listed.json()["uploads"]] == [(upload["id"], MIB)]

    rest = await alice.put(url, params={"offset": MIB}, content=data[MIB:])
    assert rest.json() == {"offset": len(data)}
    done = await alice.post(f"{url}/complete", json={})
    assert done.status_code == 200, done.text
    assert (done.json()["size"], done.json()["sha256"]) == (len(data), sha256(data))
    assert done.headers["etag"] == f'"{done.json()["version"]}"'
    assert target.read_bytes() == data
    assert target.stat().st_mode & 0o777 == 0o666 & ~0o022
    assert hidden_files(work) == []
    assert (await alice.get(url)).status_code == 404
    assert (await alice.get("/api/v1/uploads")).json()["uploads"] == []


async def test_a_cut_off_part_keeps_what_arrived(
    app: Any, alice: LoggedIn, uploads: str, work: Path
) -> None:
    """A connection that drops in the middle of a part loses only what never arrived:
    the upload goes on from the offset the resource reports."""
    data = os.urandom(2 * MIB)
    upload = await start(alice, uploads, path=str(work / "cut"), size=len(data))
    url = f"{uploads}/{upload['id']}"
    delivered = MIB + 12345
    cookies = "; ".join(f"{k}={v}" for k, v in alice.http.cookies.items())
    headers = [
        (b"cookie", cookies.encode()),
        (b"x-csrf-token", alice.csrf.encode()),
        (b"content-type", b"application/octet-stream"),
    ]
    scope = http_scope("PUT", url, {"offset": 0}, headers)
    await leaving_writer(app, scope, [data[:MIB], data[MIB:delivered]])

    state = await alice.get(url)
    assert state.json()["offset"] == delivered
    rest = await alice.put(url, params={"offset": delivered}, content=data[delivered:])
    assert rest.json()["offset"] == len(data)
    done = await alice.post(f"{url}/complete", json={"sha256": sha256(data)})
    assert done.status_code == 200, done.text
    assert (work / "cut").read_bytes() == data


async def test_an_empty_file_and_a_folder_with_parents(
    alice: LoggedIn, uploads: str, work: Path
) -> None:
    empty = await start(alice, uploads, path=str(work / "empty"), size=0)
    done = await alice.post(f"{uploads}/{empty['id']}/complete", json={"sha256": sha256(b"")})
    assert done.status_code == 200, done.text
    assert (work / "empty").read_bytes() == b""

    # A folder upload: one upload per file, the directories made on the way.
    for relative, content in (("set/a/x.csv", b"1,2"), ("set/b/y.csv", b"3,4")):
        upload = await start(
            alice, uploads, path=str(work / relative), size=len(content), parents=True
        )
        url = f"{uploads}/{upload['id']}"
        assert (await alice.put(url, params={"offset": 0}, content=content)).status_code == 200
        assert (await alice.post(f"{url}/complete", json={})).status_code == 200
    assert (work / "set" / "a" / "x.csv").read_bytes() == b"1,2"
    assert (work / "set" / "b" / "y.csv").read_bytes() == b"3,4"
    no_parents = await alice.post(uploads, json={"path": str(work / "new" / "z"), "size": 1})
    assert (no_parents.status_code, error_of(no_parents)["code"]) == (404, "not_found")
    assert not (work / "new").exists()


# -- the target ---------------------------------------------------------------------------


async def test_existing_names_are_never_replaced_silently(
    alice: LoggedIn, uploads: str, work: Path
) -> None:
    target = work / "notes.txt"
    target.write_bytes(b"old")
    target.chmod(0o640)
    refused = await alice.post(uploads, json={"path": str(target), "size": 3})
    assert (refused.status_code, error_of(refused)["code"]) == (409, "exists")
    assert hidden_files(work) == []

    stale = await alice.post(uploads, json={"path": str(target), "size": 3, "if_match": '"1-2-3"'})
    assert (stale.status_code, error_of(stale)["code"]) == (409, "conflict")
    directory = await alice.post(uploads, json={"path": str(work), "size": 3})
    assert (directory.status_code, error_of(directory)["code"]) == (400, "is_a_directory")

    # Replacing, when asked: the file keeps its permission bits.
    upload = await start(alice, uploads, path=str(target), size=3, overwrite=True)
    url = f"{uploads}/{upload['id']}"
    await alice.put(url, params={"offset": 0}, content=b"new")
    assert (await alice.post(f"{url}/complete", json={})).status_code == 200
    assert (target.read_bytes(), target.stat().st_mode & 0o777) == (b"new", 0o640)

    # A name that appears while the upload runs is not replaced either; the upload
    # stays, to be completed with overwrite (or cancelled).
    later = work / "later.txt"
    upload = await start(alice, uploads, path=str(later), size=4)
    url = f"{uploads}/{upload['id']}"
    await alice.put(url, params={"offset": 0}, content=b"mine")
    later.write_bytes(b"theirs")
    clash = await alice.post(f"{url}/complete", json={})
    assert (clash.status_code, error_of(clash)["code"]) == (409, "exists")
    assert later.read_bytes() == b"theirs"
    assert (await alice.get(url)).json()["offset"] == 4
    replaced = await alice.post(f"{url}/complete", json={"overwrite": True})
    assert replaced.status_code == 200, replaced.text
    assert later.read_bytes() == b"mine"

    # if_match: replace exactly the version that was read.
    version = (
        await alice.get(f"{uploads.rsplit('/', 1)[0]}/files/content", params={"path": str(later)})
    ).headers["etag"]
    upload = await start(alice, uploads, path=str(later), size=2, if_match=version)
    url = f"{uploads}/{upload['id']}"
    await alice.put(url, params={"offset": 0}, content=b"v2")
    later.write_bytes(b"changed meanwhile")
    changed = await alice.post(f"{url}/complete", json={})
    assert (changed.status_code, error_of(changed)["code"]) == (409, "conflict")
    assert later.read_bytes() == b"changed meanwhile"
    assert (await alice.delete(url)).status_code == 204
    assert hidden_files(work) == []


async def test_a_wrong_checksum_discards_the_upload(
    alice: LoggedIn, uploads: str, work: Path
) -> None:
    data = os.urandom(100_000)
    upload = await start(alice, uploads, path=str(work / "data.bin"), size=len(data))
    url = f"{uploads}/{upload['id']}"
    await alice.put(url, params={"offset": 0}, content=data)
    wrong = sha256(data[::-1])
    mismatch = await alice.post(f"{url}/complete", json={"sha256": wrong})
    assert (mismatch.status_code, error_of(mismatch)["code"]) == (422, "checksum_mismatch")
    assert sha256(data) in error_of(mismatch)["message"]
    assert not (work / "data.bin").exists()
    assert hidden_files(work) == []
    assert (await alice.get(url)).status_code == 404


async def test_sizes_limits_and_early_completion(alice: LoggedIn, uploads: str, work: Path) -> None:
    upload = await start(alice, uploads, path=str(work / "f"), size=10)
    url = f"{uploads}/{upload['id']}"
    assert (await alice.put(url, params={"offset": 0}, content=b"12345")).status_code == 200
    early = await alice.post(f"{url}/complete", json={})
    assert (early.status_code, error_of(early)["code"], error_of(early)["offset"]) == (
        409,
        "incomplete",
        5,
    )

    async def streamed(data: bytes) -> AsyncIterator[bytes]:
        yield data

    # Past the declared size: refused, declared or found while streaming; nothing kept.
    for body in (b"x" * 6, streamed(b"y" * 6)):
        too_much = await alice.put(url, params={"offset": 5}, content=body)
        assert (too_much.status_code, error_of(too_much)["code"]) == (413, "payload_too_large")
        assert (await alice.get(url)).json()["offset"] == 5
    assert (work / f".labgate-upload-{upload['id']}").read_bytes() == b"12345"
    # After a part taken back the upload goes on, and its checksum is still the file's.
    assert (await alice.put(url, params={"offset": 5}, content=b"67890")).status_code == 200
    wrong = await alice.post(f"{url}/complete", json={"sha256": sha256(b"1234567899")})
    assert (wrong.status_code, error_of(wrong)["code"]) == (422, "checksum_mismatch")
    assert sha256(b"1234567890") in error_of(wrong)["message"]
    again = await start(alice, uploads, path=str(work / "f"), size=10)
    again_url = f"{uploads}/{again['id']}"
    for offset, piece in ((0, b"12345"), (5, b"67890")):
        sent = await alice.put(again_url, params={"offset": offset}, content=piece)
        assert sent.status_code == 200
    done = await alice.post(f"{again_url}/complete", json={"sha256": sha256(b"1234567890")})
    assert done.status_code == 200, done.text
    (work / "f").unlink()

    big = await start(alice, uploads, path=str(work / "big"), size=PART_LIMIT * 2)
    part = await alice.put(
        f"{uploads}/{big['id']}", params={"offset": 0}, content=os.urandom(PART_LIMIT + 1)
    )
    assert part.status_code == 413
    over = await alice.post(uploads, json={"path": str(work / "huge"), "size": UPLOAD_LIMIT + 1})
    assert (over.status_code, error_of(over)["code"]) == (413, "payload_too_large")
    for body in (
        {"path": str(work / "g"), "size": -1},
        {"path": str(work / "g"), "size": 1, "sha256": "abc"},
        {"path": str(work / "g")},
        {"path": str(work / "g"), "size": 1, "mode": 1},
    ):
        assert (await alice.post(uploads, json=body)).status_code == 422, body
    bad_offset = await alice.put(url, params={"offset": -1}, content=b"x")
    assert bad_offset.status_code == 422
    assert not (work / "f").exists()


# -- where the account may not write, or the disk is full -----------------------------------


async def test_a_read_only_folder(alice: LoggedIn, uploads: str, work: Path) -> None:
    locked = work / "locked"
    locked.mkdir()
    os.chown(locked, *_owner(work))
    locked.chmod(0o555)
    refused = await alice.post(uploads, json={"path": str(locked / "out.bin"), "size": 10})
    assert (refused.status_code, error_of(refused)["code"]) == (403, "permission_denied")
    assert error_of(refused)["message"]
    assert list(locked.iterdir()) == []


def _owner(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_uid, info.st_gid


async def test_a_full_disk_midway(
    alice: LoggedIn, uploads: str, work: Path, sshd: SshServer
) -> None:
    with small_disk(work / "small", sshd.user) as small:
        data = os.urandom(3 * MIB)
        upload = await start(alice, uploads, path=str(small / "big.bin"), size=len(data))
        url = f"{uploads}/{upload['id']}"
        full = await alice.put(url, params={"offset": 0}, content=data)
        assert full.status_code == 507, full.text
        assert error_of(full)["code"] in ("no_space", "quota_exceeded")
        assert "space" in error_of(full)["message"].lower()
        assert list(small.iterdir()) == []  # the hidden file is gone, nothing was renamed
        assert (await alice.get(url)).status_code == 404


# -- names ----------------------------------------------------------------------------------


async def test_names_dashes_bytes_and_nul(alice: LoggedIn, uploads: str, work: Path) -> None:
    for name in ("-rf", "--help", "-"):
        upload = await start(alice, uploads, path=str(work / name), size=1)
        url = f"{uploads}/{upload['id']}"
        await alice.put(url, params={"offset": 0}, content=b"!")
        assert (await alice.post(f"{url}/complete", json={})).status_code == 200
        assert (work / name).read_bytes() == b"!"

    latin1 = os.fsencode(work) + b"/caf\xe9.txt"
    upload = await start(alice, uploads, path_raw=raw(latin1), size=2)
    assert base64.b64decode(upload["path_raw"]) == latin1
    url = f"{uploads}/{upload['id']}"
    await alice.put(url, params={"offset": 0}, content=b"ok")
    done = await alice.post(f"{url}/complete", json={})
    assert done.status_code == 200, done.text
    assert base64.b64decode(done.json()["path_raw"]) == latin1
    with open(latin1, "rb") as handle:
        assert handle.read() == b"ok"

    for body in ({"path": str(work / "a\0b"), "size": 1}, {"path_raw": raw(b"/tmp/\0"), "size": 1}):
        refused = await alice.post(uploads, json=body)
        assert refused.status_code == 400, refused.text
        assert "NUL" in error_of(refused)["message"]
    both = await alice.post(uploads, json={"path": "/a", "path_raw": raw(b"/a"), "size": 1})
    assert both.status_code == 422
    assert hidden_files(work) == []


# -- who ------------------------------------------------------------------------------------


async def test_other_users_and_tokens(
    alice: LoggedIn, accounts: AccountFactory, uploads: str, work: Path, sshd: SshServer
) -> None:
    upload = await start(alice, uploads, path=str(work / "mine"), size=4)
    url = f"{uploads}/{upload['id']}"
    bob = await accounts.login("bob")
    bobs = f"/api/v1/resources/{await add_ssh_resource(bob, sshd, 'bobs')}/uploads"
    # Neither Alice's resource nor her upload exists for Bob, under any resource.
    for target in (url, f"{bobs}/{upload['id']}"):
        for method, suffix, kwargs in (
            ("GET", "", {}),
            ("PUT", "", {"params": {"offset": 0}, "content": b"evil"}),
            ("POST", "/complete", {"json": {}}),
            ("DELETE", "", {}),
        ):
            response = await bob.request(method, target + suffix, **kwargs)
            assert (response.status_code, error_of(response)["code"]) == (404, "not_found")
    assert (await bob.get("/api/v1/uploads")).json()["uploads"] == []
    assert (await alice.get(url)).json()["offset"] == 0

    # A read-only token reads; it never writes. A cookie without the CSRF header neither.
    token = await alice.post("/api/v1/tokens", json={"name": "ro", "scopes": ["read"]})
    bearer = {"Authorization": f"Bearer {token.json()['secret']}"}
    script = accounts.anonymous()
    assert (await script.get(url, headers=bearer)).status_code == 200
    for method, suffix, kwargs in (
        ("POST", "", {"json": {"path": str(work / "x"), "size": 1}}),
        ("PUT", f"/{upload['id']}", {"params": {"offset": 0}, "content": b"x"}),
        ("POST", f"/{upload['id']}/complete", {"json": {}}),
        ("DELETE", f"/{upload['id']}", {}),
    ):
        denied = await script.request(method, uploads + suffix, headers=bearer, **kwargs)
        assert (denied.status_code, error_of(denied)["code"]) == (403, "forbidden")
        no_csrf = await alice.http.request(method, uploads + suffix, **kwargs)
        assert (no_csrf.status_code, error_of(no_csrf)["code"]) == (403, "csrf_failed")
    assert (await alice.get(url)).json()["offset"] == 0
    assert sorted(p.name for p in work.iterdir()) == [f".labgate-upload-{upload['id']}"]


# -- expiry ---------------------------------------------------------------------------------


async def test_abandoned_uploads_expire(
    app: Any, alice: LoggedIn, uploads: str, work: Path
) -> None:
    old = await start(alice, uploads, path=str(work / "old"), size=10)
    fresh = await start(alice, uploads, path=str(work / "fresh"), size=10)
    state = app.state.labgate
    async with state.database.session() as db:
        await db.execute(
            update(Upload)
            .where(Upload.id == old["id"])
            .values(last_activity_at=utcnow() - timedelta(hours=25))
        )
    # Expired: no longer listed or continued, even before housekeeping removes it.
    assert [u["id"] for u in (await alice.get("/api/v1/uploads")).json()["uploads"]] == [
        fresh["id"]
    ]
    gone = await alice.put(f"{uploads}/{old['id']}", params={"offset": 0}, content=b"x")
    assert gone.status_code == 404
    await leftovers.expire_uploads(state)
    assert hidden_files(work) == [f".labgate-upload-{fresh['id']}"]
    async with state.database.read() as db:
        assert await db.get(Upload, old["id"]) is None
        assert await db.get(Upload, fresh["id"]) is not None
