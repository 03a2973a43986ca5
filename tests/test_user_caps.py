"""Per-user caps on what can pile up, each a setting answered with a clear 409: running
processes and terminals on one resource (counted by the user's daemon on a real sshd),
running copy and move jobs, unfinished uploads and requests for more time waiting for an
administrator. Requests at the same moment cannot pass a cap together."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from labgate.db.engine import Database
from labgate.db.models import Transfer, TransferState, Upload
from labgate.db.types import utcnow
from labgate.settings import Settings
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.eventually import eventually
from tests.support.proxied import running_session, state_of
from tests.support.remote_files import add_ssh_resource
from tests.support.sshd import SshServer

TRANSFERS = "/api/v1/transfers"


@pytest.fixture
def settings(settings: Settings, runtime_dir: str) -> Settings:
    return settings.model_copy(
        update={
            "agent_runtime_dir": runtime_dir,
            "max_processes_per_resource": 2,
            "max_running_transfers": 1,
            "max_unfinished_uploads": 2,
            "app_max_pending_extensions": 2,
            # The sessions asking for more time run on `local` (tests/support/proxied.py).
            "local_resource": "everyone",
        }
    )


@pytest.fixture
async def box(alice: LoggedIn, sshd: SshServer) -> int:
    return await add_ssh_resource(alice, sshd, "box")


def refused_with(answer: Any, code: str) -> str:
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == code
    message: str = error["message"]
    return message


# -- processes and terminals -------------------------------------------------------------


@pytest.fixture
async def processes(alice: LoggedIn, box: int) -> AsyncIterator[list[str]]:
    """Ids of Alice's processes on box, all killed at the end."""
    started: list[str] = []
    yield started
    for process_id in started:
        await alice.post(
            f"/api/v1/resources/{box}/processes/{process_id}/signal", json={"signal": "KILL"}
        )


async def start(user: LoggedIn, rid: int, started: list[str], **body: Any) -> Any:
    answer = await user.post(
        f"/api/v1/resources/{rid}/processes", json={"command": "sleep 600", **body}
    )
    if answer.status_code == 201:
        started.append(answer.json()["id"])
    return answer


async def test_processes_and_terminals_per_user_on_a_resource(
    accounts: AccountFactory,
    alice: LoggedIn,
    box: int,
    sshd: SshServer,
    processes: list[str],
) -> None:
    assert (await start(alice, box, processes)).status_code == 201
    assert (await start(alice, box, processes, pty=True, command=None)).status_code == 201
    message = refused_with(await start(alice, box, processes), "too_many_processes")
    assert message.startswith("You have 2 processes and terminals running here")
    # One ends: there is room again.
    ended = processes.pop(0)
    await alice.post(f"/api/v1/resources/{box}/processes/{ended}/signal", json={"signal": "KILL"})

    async def room() -> bool:
        return bool((await start(alice, box, processes)).status_code == 201)

    await eventually(room, what="room again once a process ended")
    # Per user: Bob's processes on the same account (the same daemon) are his own count.
    bob = await accounts.login("bob")
    bob_box = await add_ssh_resource(bob, sshd, "box")
    bobs: list[str] = []
    try:
        assert (await start(bob, bob_box, bobs)).status_code == 201
    finally:
        for process_id in bobs:
            await bob.post(
                f"/api/v1/resources/{bob_box}/processes/{process_id}/signal",
                json={"signal": "KILL"},
            )


async def test_processes_started_together_do_not_pass_the_cap(
    alice: LoggedIn, box: int, processes: list[str]
) -> None:
    answers = await asyncio.gather(*(start(alice, box, processes) for _ in range(6)))
    assert sorted(a.status_code for a in answers) == [201, 201, 409, 409, 409, 409]


# -- copy and move jobs ------------------------------------------------------------------------


async def test_running_transfers_per_user(
    alice: LoggedIn, box: int, work: Path, database: Database
) -> None:
    (work / "a.txt").write_bytes(b"a")
    (work / "to").mkdir()
    job = {
        "source_resource": box,
        "paths": [str(work / "a.txt")],
        "destination_resource": box,
        "destination_dir": str(work / "to"),
    }
    # A job running on another replica (whose progress nobody here sees) counts.
    async with database.session() as db:
        user_id = int(alice.user["id"])
        db.add(
            Transfer(
                id=secrets.token_hex(12),
                user_id=user_id,
                source_resource_id=box,
                destination_resource_id=box,
                paths=[],
                destination_dir=b"/tmp",
                move=False,
                overwrite=False,
                state=TransferState.RUNNING.value,
                bytes_done=0,
                files_done=0,
                skipped=[],
                cancel_requested=False,
                runner="another replica",
            )
        )
    message = refused_with(await alice.post(TRANSFERS, json=job), "too_many_transfers")
    assert message.startswith("You have 1 copy or move jobs running")
    assert not (work / "to" / "a.txt").exists()
    async with database.session() as db:
        await db.execute(
            update(Transfer)
            .where(Transfer.runner == "another replica")
            .values(state=TransferState.SUCCEEDED.value)
        )
    assert (await alice.post(TRANSFERS, json=job)).status_code == 201


# -- unfinished uploads ------------------------------------------------------------------------


async def begin(user: LoggedIn, rid: int, path: Path) -> Any:
    return await user.post(f"/api/v1/resources/{rid}/uploads", json={"path": str(path), "size": 3})


def hidden_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".labgate-upload-"))


async def test_unfinished_uploads_per_user(
    alice: LoggedIn, box: int, work: Path, database: Database
) -> None:
    first = await begin(alice, box, work / "1.txt")
    assert first.status_code == 201, first.text
    assert (await begin(alice, box, work / "2.txt")).status_code == 201
    message = refused_with(await begin(alice, box, work / "3.txt"), "too_many_uploads")
    assert message.startswith("You have 2 uploads started and not finished")
    assert len(hidden_files(work)) == 2
    # A cancelled one makes room, and so does an expired one.
    cancelled = await alice.delete(f"/api/v1/resources/{box}/uploads/{first.json()['id']}")
    assert cancelled.status_code == 204
    assert (await begin(alice, box, work / "3.txt")).status_code == 201
    async with database.session() as db:
        await db.execute(update(Upload).values(last_activity_at=utcnow().replace(year=2000)))
    assert (await begin(alice, box, work / "4.txt")).status_code == 201


async def test_uploads_started_together_do_not_pass_the_cap(
    alice: LoggedIn, box: int, work: Path
) -> None:
    answers = await asyncio.gather(*(begin(alice, box, work / f"{n}.txt") for n in range(6)))
    assert sorted(a.status_code for a in answers) == [201, 201, 409, 409, 409, 409]
    # Those refused after their hidden file was made leave none behind.
    assert len(hidden_files(work)) == 2


# -- requests for more time -------------------------------------------------------------------


async def test_requests_waiting_for_an_administrator_per_user(
    app: Any, alice: LoggedIn, database: Database
) -> None:
    tokens = state_of(app).session_tokens
    sessions = [await running_session(database, tokens, "alice", 9) for _ in range(3)]

    async def extend(session_id: str, hours: int) -> Any:
        return await alice.post(f"/api/v1/sessions/{session_id}/extend", json={"hours": hours})

    for session_id in sessions[:2]:
        asked = await extend(session_id, 24)  # longer than app_extension_hours: it waits
        assert asked.status_code == 200, asked.text
        assert asked.json()["extension"]["state"] == "pending"
    message = refused_with(await extend(sessions[2], 24), "too_many_extension_requests")
    assert message.startswith("You have 2 requests for more time waiting for an administrator")
    # What is granted at once never waits, so it is not refused.
    granted = await extend(sessions[2], 1)
    assert granted.status_code == 200, granted.text
    assert granted.json()["extension"]["state"] == "granted"
