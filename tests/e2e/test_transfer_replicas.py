"""Copy jobs with two ``labgate serve`` replicas on one PostgreSQL: the replica that runs
a job pushes its progress on the events WebSocket; the other answers for it from the
database and cancels it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.eventually import PATIENCE_SECONDS, eventually_sync
from tests.support.labgate_api import Browser, replicas_on_postgres
from tests.support.remote_files import chown_tree, small_disk
from tests.support.server import RunningServer
from tests.support.sshd import SshServer

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "transfers admin password"


@pytest.fixture
def replicas(
    runtime_dir: str, tmp_path: Path, postgres_dsn: str
) -> Iterator[tuple[RunningServer, RunningServer]]:
    with replicas_on_postgres(tmp_path, postgres_dsn, ADMIN_PASSWORD, runtime_dir) as servers:
        yield servers


def finished(browser: Browser, job_id: str) -> dict[str, Any]:
    def ended() -> dict[str, Any]:
        job: dict[str, Any] = browser.get(f"/api/v1/transfers/{job_id}").json()
        assert job["state"] in ("succeeded", "failed", "cancelled"), job
        return job

    return eventually_sync(ended, what=f"transfer {job_id} ended")


def test_progress_is_pushed_and_read_anywhere(
    replicas: tuple[RunningServer, RunningServer], sshd: SshServer, work: Path
) -> None:
    first, second = replicas
    on_a, on_b = Browser(first, "admin", ADMIN_PASSWORD), Browser(second, "admin", ADMIN_PASSWORD)
    source, destination = on_a.add_key_resource("one", sshd), on_a.add_key_resource("two", sshd)
    (work / "out").mkdir()
    (work / "data.bin").write_bytes(os.urandom(20 * 1024 * 1024))
    chown_tree(work, sshd.user)
    with on_a.socket("/api/v1/events") as events:
        started = on_a.post(
            "/api/v1/transfers",
            json={
                "source_resource": source,
                "paths": [str(work / "data.bin")],
                "destination_resource": destination,
                "destination_dir": str(work / "out"),
            },
        )
        assert started.status_code == 201, started.text
        job_id = started.json()["id"]
        pushed: list[dict[str, Any]] = []
        while not pushed or pushed[-1]["state"] not in ("succeeded", "failed"):
            message = json.loads(events.recv(timeout=PATIENCE_SECONDS))
            if message["type"] == "transfer" and message["transfer"]["id"] == job_id:
                pushed.append(message["transfer"])
    assert pushed[0]["state"] == "running"
    assert pushed[-1]["state"] == "succeeded", pushed[-1]
    assert pushed[-1]["bytes_done"] == pushed[-1]["bytes_total"] == 20 * 1024 * 1024
    # The other replica answers from the database.
    assert on_b.get(f"/api/v1/transfers/{job_id}").json()["state"] == "succeeded"
    assert (work / "out" / "data.bin").read_bytes() == (work / "data.bin").read_bytes()


def test_another_replica_cancels_a_job(
    replicas: tuple[RunningServer, RunningServer], sshd: SshServer, work: Path
) -> None:
    first, second = replicas
    on_a, on_b = Browser(first, "admin", ADMIN_PASSWORD), Browser(second, "admin", ADMIN_PASSWORD)
    source, destination = on_a.add_key_resource("one", sshd), on_a.add_key_resource("two", sshd)
    with open(work / "huge.bin", "wb") as handle:
        handle.truncate(8 * 1024**3)  # sparse: long to copy, quick to make
    chown_tree(work, sshd.user)
    with small_disk(work / "capped", sshd.user, size="512m") as capped:
        started = on_a.post(
            "/api/v1/transfers",
            json={
                "source_resource": source,
                "paths": [str(work / "huge.bin")],
                "destination_resource": destination,
                "destination_dir": str(capped),
            },
        )
        assert started.status_code == 201, started.text
        job_id = started.json()["id"]
        assert on_b.delete(f"/api/v1/transfers/{job_id}").status_code == 204
        assert on_b.get(f"/api/v1/transfers/{job_id}").json()["state"] in (
            "cancelling",
            "cancelled",
        )
        job = finished(on_a, job_id)
        assert job["state"] == "cancelled", job
        assert list(capped.iterdir()) == []
