"""Copy and move jobs through the API, between two resources (the test account on a real
sshd, added twice, so the bytes stream through the server) and within one: trees with
links and modes, conflicts, cancelling, a full destination, bad input, other users, and
housekeeping's rule for a job whose server stopped."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from labgate.db.models import Transfer, TransferState
from labgate.db.types import utcnow
from labgate.resources import leftovers
from labgate.resources.tree_copy import hidden_name
from labgate.settings import Settings
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.eventually import eventually
from tests.support.remote_files import (
    account_dir,
    add_ssh_resource,
    chown_tree,
    error_of,
    small_disk,
)
from tests.support.sshd import SshServer

MIB = 1024 * 1024
TRANSFERS = "/api/v1/transfers"


@pytest.fixture
def settings(settings: Settings, runtime_dir: str) -> Settings:
    return settings.model_copy(update={"agent_runtime_dir": runtime_dir})


@pytest.fixture
async def two(alice: LoggedIn, sshd: SshServer) -> tuple[int, int]:
    """Two of Alice's resources (both the test account, so each sees the other's files)."""
    return await add_ssh_resource(alice, sshd, "one"), await add_ssh_resource(alice, sshd, "two")


@pytest.fixture
def target(sshd: SshServer) -> Iterator[Path]:
    with account_dir(sshd.user, "labgate-target-") as path:
        yield path


def raw(path: bytes) -> str:
    return base64.b64encode(path).decode()


def leftovers_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".labgate-"))


async def finished(user: LoggedIn, job_id: str) -> dict[str, Any]:
    """The job once it has ended (polled, as a tab on another replica would)."""

    async def ended() -> dict[str, Any]:
        job: dict[str, Any] = (await user.get(f"{TRANSFERS}/{job_id}")).json()
        assert job["state"] in ("succeeded", "failed", "cancelled"), job
        return job

    return await eventually(ended, what=f"transfer {job_id} ended")


async def run(user: LoggedIn, **body: Any) -> dict[str, Any]:
    started = await user.post(TRANSFERS, json=body)
    assert started.status_code == 201, started.text
    assert started.json()["state"] == "running"
    return await finished(user, started.json()["id"])


@pytest.fixture
def tree(work: Path, sshd: SshServer) -> Path:
    """work/runs: files (one of 3 MiB), a read-only subdirectory, a link, a fifo; and
    work/notes.txt."""
    runs = work / "runs"
    (runs / "deep").mkdir(parents=True)
    (runs / "a.csv").write_bytes(b"1,2,3\n")
    (runs / "deep" / "big.bin").write_bytes(os.urandom(3 * MIB))
    (runs / "link").symlink_to("deep/big.bin")
    os.mkfifo(runs / "pipe")
    (work / "notes.txt").write_bytes(b"notes")
    chown_tree(work, sshd.user)
    (runs / "a.csv").chmod(0o600)
    os.utime(runs / "a.csv", (1_600_000_000, 1_600_000_000))
    (runs / "deep").chmod(0o550)
    return work


def assert_copied(source: Path, destination: Path) -> None:
    runs, copy = source / "runs", destination / "runs"
    assert (copy / "a.csv").read_bytes() == b"1,2,3\n"
    assert (copy / "a.csv").stat().st_mode & 0o777 == 0o600
    assert (copy / "a.csv").stat().st_mtime == 1_600_000_000
    assert (copy / "deep" / "big.bin").read_bytes() == (runs / "deep" / "big.bin").read_bytes()
    assert (copy / "deep").stat().st_mode & 0o777 == 0o550
    assert os.readlink(copy / "link") == "deep/big.bin"
    assert not (copy / "pipe").exists()
    assert (destination / "notes.txt").read_bytes() == b"notes"
    assert leftovers_in(destination) == []


# -- between two resources ------------------------------------------------------------------


async def test_copy_between_two_resources(
    app: Any, alice: LoggedIn, two: tuple[int, int], tree: Path, target: Path
) -> None:
    source, destination = two
    with app.state.labgate.transfers.hub.subscribe(alice.user["id"]) as pushed:
        job = await run(
            alice,
            source_resource=source,
            paths=[str(tree / "runs"), str(tree / "notes.txt")],
            destination_resource=destination,
            destination_dir=str(target),
        )
    assert job["state"] == "succeeded", job
    assert job["error"] is None
    assert (job["files_done"], job["files_total"]) == (3, 3)
    assert job["bytes_done"] == job["bytes_total"] == 3 * MIB + 6 + 5
    assert job["skipped"] == [str(tree / "runs" / "pipe")]
    assert job["finished_at"] is not None
    assert_copied(tree, target)
    assert (tree / "runs" / "a.csv").exists()  # a copy leaves the sources
    # Progress went to Alice's tabs, ending with the outcome.
    states = []
    while not pushed.empty():
        states.append(pushed.get_nowait().state)
    assert states[0] == "running"
    assert states[-1] == "succeeded"
    listed = (await alice.get(TRANSFERS)).json()["transfers"]
    assert [j["id"] for j in listed] == [job["id"]]


async def test_move_between_two_resources(
    alice: LoggedIn, two: tuple[int, int], tree: Path, target: Path
) -> None:
    source, destination = two
    (tree / "runs" / "deep").chmod(0o750)  # else the account could not delete its contents
    before = (tree / "runs" / "deep" / "big.bin").read_bytes()
    job = await run(
        alice,
        source_resource=source,
        paths=[str(tree / "runs")],
        destination_resource=destination,
        destination_dir=str(target),
        move=True,
    )
    assert job["state"] == "succeeded", job["error"]
    assert (target / "runs" / "deep" / "big.bin").read_bytes() == before
    assert not (tree / "runs").exists()
    assert (tree / "notes.txt").exists()


async def test_existing_names_need_overwrite(
    alice: LoggedIn, two: tuple[int, int], tree: Path, target: Path, sshd: SshServer
) -> None:
    source, destination = two
    (target / "notes.txt").write_bytes(b"older notes")
    (target / "runs").mkdir()
    (target / "runs" / "stale").write_bytes(b"x")
    chown_tree(target, sshd.user)
    body = {
        "source_resource": source,
        "paths": [str(tree / "runs"), str(tree / "notes.txt")],
        "destination_resource": destination,
        "destination_dir": str(target),
    }
    refused = await alice.post(TRANSFERS, json=body)
    assert (refused.status_code, error_of(refused)["code"]) == (409, "exists")
    assert [d["field"] for d in error_of(refused)["details"]] == ["paths.0", "paths.1"]
    assert (target / "notes.txt").read_bytes() == b"older notes"
    assert (await alice.get(TRANSFERS)).json()["transfers"] == []

    job = await run(alice, **body, overwrite=True)
    assert job["state"] == "succeeded", job
    assert (target / "notes.txt").read_bytes() == b"notes"
    assert not (target / "runs" / "stale").exists()  # the old tree was replaced
    assert_copied(tree, target)


async def test_cancelling_removes_what_was_built(
    app: Any, alice: LoggedIn, two: tuple[int, int], work: Path, target: Path, sshd: SshServer
) -> None:
    source, destination = two
    huge = work / "huge.bin"
    with open(huge, "wb") as handle:
        handle.truncate(8 * 1024 * MIB)  # sparse: quick to make, long to copy
    chown_tree(work, sshd.user)
    hub = app.state.labgate.transfers.hub
    with (
        small_disk(target / "capped", sshd.user, size="512m") as capped,
        hub.subscribe(alice.user["id"]) as pushed,
    ):
        started = await alice.post(
            TRANSFERS,
            json={
                "source_resource": source,
                "paths": [str(huge)],
                "destination_resource": destination,
                "destination_dir": str(capped),
            },
        )
        assert started.status_code == 201, started.text
        assert (await alice.delete(f"{TRANSFERS}/{started.json()['id']}")).status_code == 204
        job = await finished(alice, started.json()["id"])
        assert job["state"] == "cancelled", job
        assert job["bytes_total"] is None or job["bytes_done"] < job["bytes_total"]
        states = []
        while not pushed.empty():
            states.append(pushed.get_nowait().state)
        assert states[-2:] == ["cancelling", "cancelled"], states
        assert list(capped.iterdir()) == []
    # A finished job is forgotten by DELETE.
    assert (await alice.delete(f"{TRANSFERS}/{job['id']}")).status_code == 204
    assert (await alice.get(f"{TRANSFERS}/{job['id']}")).status_code == 404


async def test_a_full_destination_fails_cleanly(
    alice: LoggedIn, two: tuple[int, int], tree: Path, target: Path, sshd: SshServer
) -> None:
    source, destination = two
    with small_disk(target / "small", sshd.user) as small:
        job = await run(
            alice,
            source_resource=source,
            paths=[str(tree / "runs")],
            destination_resource=destination,
            destination_dir=str(small),
            move=True,
        )
        assert job["state"] == "failed", job
        assert job["error"]["code"] in ("no_space", "quota_exceeded")
        assert job["error"]["message"]
        assert list(small.iterdir()) == []
    assert (tree / "runs" / "deep" / "big.bin").exists()  # a failed move deletes nothing


# -- within one resource --------------------------------------------------------------------


async def test_copy_and_move_within_one_resource(
    alice: LoggedIn, two: tuple[int, int], tree: Path, target: Path
) -> None:
    resource, _ = two
    copied = await run(
        alice,
        source_resource=resource,
        paths=[str(tree / "runs"), str(tree / "notes.txt")],
        destination_resource=resource,
        destination_dir=str(target),
    )
    assert copied["state"] == "succeeded", copied
    assert copied["skipped"] == [str(tree / "runs" / "pipe")]
    assert copied["files_done"] == copied["files_total"]
    assert_copied(tree, target)

    elsewhere = target / "moved"
    elsewhere.mkdir()
    os.chown(elsewhere, *_owner(target))
    moved = await run(
        alice,
        source_resource=resource,
        paths=[str(target / "runs")],
        destination_resource=resource,
        destination_dir=str(elsewhere),
        move=True,
    )
    assert moved["state"] == "succeeded", moved
    assert not (target / "runs").exists()
    assert (elsewhere / "runs" / "a.csv").read_bytes() == b"1,2,3\n"

    for destination_dir, message in (
        (str(tree), "already"),
        (str(tree / "runs" / "deep"), "into itself"),
        (str(tree / "runs"), "into itself"),
    ):
        refused = await alice.post(
            TRANSFERS,
            json={
                "source_resource": resource,
                "paths": [str(tree / "runs")],
                "destination_resource": resource,
                "destination_dir": destination_dir,
            },
        )
        assert (refused.status_code, error_of(refused)["code"]) == (400, "bad_request")
        assert message in error_of(refused)["message"]


def _owner(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_uid, info.st_gid


# -- bad input and other users ----------------------------------------------------------------


async def test_bad_input(
    alice: LoggedIn, two: tuple[int, int], tree: Path, target: Path, sshd: SshServer
) -> None:
    source, destination = two
    base = {"source_resource": source, "destination_resource": destination}
    cases: list[tuple[dict[str, Any], int]] = [
        ({"paths": [str(tree / "a\0b")], "destination_dir": str(target)}, 400),
        ({"paths": ["runs"], "destination_dir": str(target)}, 400),
        ({"paths": [str(tree / "notes.txt")], "destination_dir": "relative"}, 400),
        ({"paths": ["/"], "destination_dir": str(target)}, 400),
        (
            {"paths": [str(tree / "notes.txt"), str(tree / "runs/a.csv")], "destination_dir": "/"},
            400,
        ),
        ({"paths": [str(tree / "notes.txt")] * 2, "destination_dir": str(target)}, 400),
        ({"paths": [str(tree / "nothing")], "destination_dir": str(target)}, 404),
        ({"paths": [str(tree / "notes.txt")], "destination_dir": str(target / "no")}, 404),
        ({"paths": [str(tree / "runs")], "destination_dir": str(tree / "notes.txt")}, 400),
        ({"paths": [], "destination_dir": str(target)}, 422),
        ({"paths": [str(tree / "notes.txt")]}, 422),
        ({"paths": [str(tree / "notes.txt")], "destination_dir": str(target), "x": 1}, 422),
    ]
    for body, status in cases:
        refused = await alice.post(TRANSFERS, json={**base, **body})
        assert refused.status_code == status, (body, refused.text)
    assert (await alice.get(TRANSFERS)).json()["transfers"] == []

    # Leading dashes are names; bytes that are not UTF-8 go as paths_raw.
    odd = os.fsencode(tree) + b"/caf\xe9"
    with open(odd, "wb") as handle:
        handle.write(b"latin")
    (tree / "-rf").write_bytes(b"dash")
    chown_tree(tree, sshd.user)
    job = await run(
        alice,
        **base,
        paths=[str(tree / "-rf")],
        paths_raw=[raw(odd)],
        destination_dir=str(target),
    )
    assert job["state"] == "succeeded", job
    assert [base64.b64decode(p) for p in job["paths_raw"]] == [os.fsencode(tree / "-rf"), odd]
    assert (target / "-rf").read_bytes() == b"dash"
    with open(os.fsencode(target) + b"/caf\xe9", "rb") as handle:
        assert handle.read() == b"latin"


async def test_only_the_owner_sees_a_job(
    alice: LoggedIn,
    accounts: AccountFactory,
    two: tuple[int, int],
    tree: Path,
    target: Path,
    sshd: SshServer,
) -> None:
    source, destination = two
    job = await run(
        alice,
        source_resource=source,
        paths=[str(tree / "notes.txt")],
        destination_resource=destination,
        destination_dir=str(target),
    )
    bob = await accounts.login("bob")
    bobs = await add_ssh_resource(bob, sshd, "bobs")
    assert (await bob.get(f"{TRANSFERS}/{job['id']}")).status_code == 404
    assert (await bob.delete(f"{TRANSFERS}/{job['id']}")).status_code == 404
    assert (await bob.get(TRANSFERS)).json()["transfers"] == []
    assert (await alice.get(f"{TRANSFERS}/{job['id']}")).status_code == 200
    # Alice's resources do not exist for Bob, as source or as destination.
    for body in (
        {"source_resource": source, "destination_resource": bobs},
        {"source_resource": bobs, "destination_resource": destination},
    ):
        hidden = await bob.post(
            TRANSFERS, json={**body, "paths": [str(tree / "notes.txt")], "destination_dir": "/tmp"}
        )
        assert (hidden.status_code, error_of(hidden)["code"]) == (404, "not_found")

    token = await alice.post("/api/v1/tokens", json={"name": "ro", "scopes": ["read"]})
    bearer = {"Authorization": f"Bearer {token.json()['secret']}"}
    script = accounts.anonymous()
    assert (await script.get(TRANSFERS, headers=bearer)).status_code == 200
    body = {
        "source_resource": source,
        "paths": [str(tree / "runs")],
        "destination_resource": destination,
        "destination_dir": str(target),
    }
    denied = await script.post(TRANSFERS, json=body, headers=bearer)
    assert (denied.status_code, error_of(denied)["code"]) == (403, "forbidden")
    no_csrf = await alice.http.post(TRANSFERS, json=body)
    assert (no_csrf.status_code, error_of(no_csrf)["code"]) == (403, "csrf_failed")
    assert not (target / "runs").exists()


# -- a server that stops ------------------------------------------------------------------------


async def test_a_job_whose_server_stopped_is_marked_failed(
    app: Any, alice: LoggedIn, two: tuple[int, int], target: Path, sshd: SshServer
) -> None:
    source, destination = two
    state = app.state.labgate
    job_id = secrets.token_hex(12)
    half_built = Path(os.fsdecode(hidden_name(job_id, os.fsencode(target), 0)))
    half_built.mkdir()
    (half_built / "part").write_bytes(b"x")
    chown_tree(target, sshd.user)
    async with state.database.session() as db:
        db.add(
            Transfer(
                id=job_id,
                user_id=alice.user["id"],
                source_resource_id=source,
                destination_resource_id=destination,
                paths=[raw(b"/somewhere/data")],
                destination_dir=os.fsencode(target),
                move=False,
                overwrite=False,
                state=TransferState.RUNNING.value,
                bytes_done=0,
                files_done=0,
                skipped=[],
                cancel_requested=False,
                runner="a-replica-that-died",
                heartbeat_at=utcnow() - timedelta(minutes=3),
            )
        )
    await leftovers.fail_lost_jobs(state)
    job = (await alice.get(f"{TRANSFERS}/{job_id}")).json()
    assert (job["state"], job["error"]["code"]) == ("failed", "server_lost")
    assert not half_built.exists()
