"""Folders and selections as one streamed archive, from the test account on a real sshd:
zip and tar.gz contents, symlinks kept as links and never followed, what cannot be read
listed instead of failing, names, bad requests, other users, and the stream keeping pace
with its reader."""

from __future__ import annotations

import base64
import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from labgate.agent.remote.wire import WINDOW_BYTES
from labgate.settings import Settings
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.asgi import http_scope, stalled_reader
from tests.support.daemons import processes_using
from tests.support.remote_files import add_ssh_resource, chown_tree, error_of
from tests.support.sshd import SshServer
from tests.test_agent_streams import file_position, settled

MIB = 1024 * 1024
NOISE = os.urandom(300_000)  # does not compress


@pytest.fixture
def settings(settings: Settings, runtime_dir: str) -> Settings:
    return settings.model_copy(update={"agent_runtime_dir": runtime_dir})


@pytest.fixture
async def archive_url(alice: LoggedIn, sshd: SshServer) -> str:
    resource_id = await add_ssh_resource(alice, sshd, "box")
    return f"/api/v1/resources/{resource_id}/files/archive"


def raw(path: bytes) -> str:
    return base64.b64encode(path).decode()


@pytest.fixture
def tree(work: Path, sshd: SshServer) -> Path:
    """runs/ with files, a subdirectory, links inside and out, a fifo, an unreadable file
    and an unreadable directory; notes.txt beside it. Owned by the test account."""
    runs = work / "runs"
    (runs / "deep").mkdir(parents=True)
    (runs / "a.csv").write_bytes(b"1,2,3\n")
    (runs / "noise.bin").write_bytes(NOISE)
    (runs / "deep" / "b.bin").write_bytes(bytes(range(256)) * 1000)
    (runs / "inside").symlink_to("deep/b.bin")
    (runs / "outside").symlink_to("/etc/hostname")
    (runs / "up").symlink_to("../..")
    os.mkfifo(runs / "pipe")
    (runs / "secret").write_bytes(b"no")
    (runs / "closed").mkdir()
    (runs / "closed" / "hidden.txt").write_bytes(b"no")
    (work / "notes.txt").write_bytes(b"notes")
    chown_tree(work, sshd.user)
    (runs / "secret").chmod(0o000)
    (runs / "closed").chmod(0o000)
    return work


def skipped_lines(text: bytes) -> list[str]:
    return text.decode().splitlines()[1:]


async def test_a_zip_of_a_folder_and_a_file(alice: LoggedIn, archive_url: str, tree: Path) -> None:
    answer = await alice.get(
        archive_url, params={"path": [str(tree / "runs"), str(tree / "notes.txt")]}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    assert answer.headers["content-disposition"].startswith(
        f'attachment; filename="{tree.name}.zip"'
    )
    assert "content-length" not in answer.headers
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert archive.testzip() is None
    names = archive.namelist()
    assert set(names) == {
        "runs/",
        "runs/a.csv",
        "runs/noise.bin",
        "runs/closed/",
        "runs/deep/",
        "runs/deep/b.bin",
        "runs/inside",
        "runs/outside",
        "runs/up",
        "notes.txt",
        "labgate-skipped.txt",
    }
    assert archive.read("runs/deep/b.bin") == bytes(range(256)) * 1000
    assert archive.read("notes.txt") == b"notes"
    # Data that compresses is deflated; data that does not is stored as it is.
    assert archive.getinfo("runs/deep/b.bin").compress_type == zipfile.ZIP_DEFLATED
    assert archive.getinfo("runs/deep/b.bin").compress_size < 10_000
    assert archive.getinfo("runs/noise.bin").compress_type == zipfile.ZIP_STORED
    assert archive.read("runs/noise.bin") == NOISE
    # Symlinks are links (Info-ZIP: the mode says so, the data is the target), never the
    # file or the tree they point to.
    for name, target in (("runs/inside", b"deep/b.bin"), ("runs/outside", b"/etc/hostname")):
        info = archive.getinfo(name)
        assert stat.S_ISLNK(info.external_attr >> 16), name
        assert archive.read(name) == target
    assert archive.read("runs/up") == b"../.."
    assert stat.S_IMODE(archive.getinfo("runs/a.csv").external_attr >> 16) == 0o644
    skipped = skipped_lines(archive.read("labgate-skipped.txt"))
    assert skipped == [
        "runs/closed/: Permission denied (its contents are missing)",
        "runs/pipe: a fifo, not archived",
        "runs/secret: Permission denied",
    ]
    # The skipped list is always the last member: it is complete only at the end.
    assert names[-1] == "labgate-skipped.txt"


async def test_a_tar_gz_with_names_that_are_not_utf8(
    alice: LoggedIn, archive_url: str, tree: Path, sshd: SshServer
) -> None:
    odd = os.fsencode(tree / "runs") + b"/caf\xe9.txt"
    with open(odd, "wb") as handle:
        handle.write(b"espresso")
    os.chown(odd, sshd.user.uid, sshd.user.gid)
    answer = await alice.get(
        archive_url, params={"path": str(tree / "runs"), "format": "tar.gz", "name": "-rf"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/gzip"
    assert answer.headers["content-disposition"].startswith('attachment; filename="-rf.tar.gz"')
    with tarfile.open(fileobj=io.BytesIO(answer.content), mode="r:gz") as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert members["runs"].isdir()
        assert members["runs/inside"].issym()
        assert members["runs/inside"].linkname == "deep/b.bin"
        assert members["runs/outside"].linkname == "/etc/hostname"
        extracted = archive.extractfile("runs/deep/b.bin")
        assert extracted is not None
        assert extracted.read() == bytes(range(256)) * 1000
        # The name's own bytes, as tar keeps them.
        odd_name = os.fsdecode(b"runs/caf\xe9.txt")
        assert odd_name in members
        with_odd = archive.extractfile(odd_name)
        assert with_odd is not None
        assert with_odd.read() == b"espresso"
        skipped = archive.extractfile("labgate-skipped.txt")
        assert skipped is not None
        assert "runs/secret: Permission denied" in skipped_lines(skipped.read())
        assert "runs/pipe" not in members

    by_raw = await alice.get(archive_url, params={"path_raw": raw(odd)})
    assert by_raw.status_code == 200, by_raw.text
    assert zipfile.ZipFile(io.BytesIO(by_raw.content)).read("caf\ufffd.txt") == b"espresso"


async def test_refused_before_the_first_byte(alice: LoggedIn, archive_url: str, tree: Path) -> None:
    missing = await alice.get(archive_url, params={"path": str(tree / "nothing")})
    assert (missing.status_code, error_of(missing)["code"]) == (404, "not_found")
    apart = await alice.get(
        archive_url, params={"path": [str(tree / "runs" / "a.csv"), str(tree / "notes.txt")]}
    )
    assert (apart.status_code, error_of(apart)["code"]) == (400, "bad_request")
    assert "one directory" in error_of(apart)["message"]
    for params in (
        {},
        {"path": str(tree), "name": "a/b"},
        {"path": str(tree), "name": "a\0b"},
        {"path": str(tree), "name": ".."},
        {"path": str(tree / "a\0b")},
        {"path_raw": "not base64!"},
    ):
        refused = await alice.get(archive_url, params=params)
        assert (refused.status_code, error_of(refused)["code"]) == (400, "bad_request"), params
    wrong_format = await alice.get(archive_url, params={"path": str(tree), "format": "rar"})
    assert wrong_format.status_code == 422


async def test_other_users_and_read_only_tokens(
    alice: LoggedIn, accounts: AccountFactory, archive_url: str, tree: Path
) -> None:
    bob = await accounts.login("bob")
    hidden = await bob.get(archive_url, params={"path": str(tree / "notes.txt")})
    assert (hidden.status_code, error_of(hidden)["code"]) == (404, "not_found")
    token = await alice.post("/api/v1/tokens", json={"name": "ro", "scopes": ["read"]})
    script = accounts.anonymous()
    answer = await script.get(
        archive_url,
        params={"path": str(tree / "notes.txt")},
        headers={"Authorization": f"Bearer {token.json()['secret']}"},
    )
    assert answer.status_code == 200, answer.text
    assert zipfile.ZipFile(io.BytesIO(answer.content)).read("notes.txt") == b"notes"


async def test_the_archive_is_built_as_fast_as_the_client_reads(
    app: Any, alice: LoggedIn, archive_url: str, work: Path, sshd: SshServer, runtime_dir: str
) -> None:
    """A client that stops reading stops the agent reading the files, a window or two
    on: neither end ever holds the archive."""
    size = 48 * MIB
    big = work / "big.bin"
    with open(big, "wb") as handle:
        for _ in range(size // MIB):
            handle.write(os.urandom(MIB))  # random: compression cannot shrink it
    os.chown(big, sshd.user.uid, sshd.user.gid)
    cookies = "; ".join(f"{k}={v}" for k, v in alice.http.cookies.items())
    scope = http_scope("GET", archive_url, {"path": str(big)}, [(b"cookie", cookies.encode())])
    async with stalled_reader(app, scope) as started:
        assert started == [200]
        readers = [pid for pid in processes_using(runtime_dir) if file_position(pid, big)]
        assert readers, "no agent process holds the file"
        position = await settled(lambda: file_position(readers[0], big), at_least=1)
        assert position <= 4 * WINDOW_BYTES < size
