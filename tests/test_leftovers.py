"""The transfers' housekeeping (resources/leftovers.py) serves every user in one round:
a user whose daemon does not answer (stopped with SIGSTOP) costs the round one call's
wait, and another user's expired upload is removed all the same; the stuck one is kept
for a later round. Alice's resource is the test account on a real sshd, Bob's the
``local`` resource (another account, another daemon)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from labgate.db.models import Upload
from labgate.db.types import utcnow
from labgate.resources import leftovers
from labgate.settings import Settings
from labgate.state import AppState
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.daemons import daemon_runtime_dir
from tests.support.eventually import PATIENCE_SECONDS
from tests.support.local_sessions import local_id
from tests.support.remote_files import add_ssh_resource
from tests.support.sshd import SshServer


@pytest.fixture
def runtime_dir() -> Iterator[str]:
    """A directory per account: Alice's daemon runs as the test account, Bob's as root."""
    with daemon_runtime_dir("lg-", per_user=True) as path:
        yield path


@pytest.fixture
def settings(settings: Settings, runtime_dir: str) -> Settings:
    return settings.model_copy(
        update={
            "local_resource": "everyone",
            "agent_runtime_dir": runtime_dir,
            "agent_call_timeout_seconds": 2,
        }
    )


async def expired_upload(state: AppState, user: LoggedIn, resource_id: int, path: Path) -> str:
    created = await user.post(
        f"/api/v1/resources/{resource_id}/uploads", json={"path": str(path), "size": 10}
    )
    assert created.status_code == 201, created.text
    upload_id: str = created.json()["id"]
    async with state.database.session() as db:
        await db.execute(
            update(Upload)
            .where(Upload.id == upload_id)
            .values(last_activity_at=utcnow() - timedelta(days=2))
        )
    return upload_id


def hidden(directory: Path, upload_id: str) -> Path:
    return directory / f".labgate-upload-{upload_id}"


async def test_a_stopped_daemon_holds_up_no_other_users_clean_up(
    app: Any,
    alice: LoggedIn,
    accounts: AccountFactory,
    sshd: SshServer,
    work: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    state: AppState = app.state.labgate
    box = await add_ssh_resource(alice, sshd, "box")
    bob = await accounts.login("bob")
    bobs_dir = Path(tempfile.mkdtemp(prefix="lg-bob-"))
    stuck = await expired_upload(state, alice, box, work / "stuck.bin")
    freed = await expired_upload(state, bob, await local_id(bob), bobs_dir / "freed.bin")
    assert hidden(work, stuck).exists()
    assert hidden(bobs_dir, freed).exists()

    agent = state.connections.live_agent(alice.user["id"], box)
    assert agent is not None
    daemon = int(agent.hello["pid"])
    os.kill(daemon, signal.SIGSTOP)  # Alice's own daemon, stopped by Alice
    try:
        with caplog.at_level(logging.INFO, logger="labgate.resources.leftovers"):
            async with asyncio.timeout(PATIENCE_SECONDS):
                await leftovers.expire_uploads(state)
    finally:
        os.kill(daemon, signal.SIGCONT)

    assert not hidden(bobs_dir, freed).exists()
    assert "(fs.delete) within 2 s" in caplog.text
    async with state.database.read() as db:
        assert await db.get(Upload, freed) is None
        assert await db.get(Upload, stuck) is not None  # tried again on a later round
    bobs_dir.rmdir()
