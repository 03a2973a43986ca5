"""Launching for an experiment with the direct launcher on the ``local`` resource (in a
daemon of the test's own): the app finds the experiment's data as the documented
environment variables, links named by kind in its working directory (an existing file of
that name left alone) and the processed area as its working directory; with a working
directory of its own, the links are made there. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labgate.db.models import Role
from labgate.settings import Settings
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.local_sessions import local_id, private_daemon, wait_for

# Writes what the app sees, then serves HTTP so that the session becomes ready.
SEE = (
    "sh -c 'env | grep ^LABGATE_EXPERIMENT | sort > seen-env.txt; pwd > seen-pwd.txt; "
    "exec python3 -m http.server {port} --bind 127.0.0.1'"
)


@pytest.fixture
def settings(settings: Settings) -> Iterator[Settings]:
    with private_daemon() as runtime_dir:
        yield settings.model_copy(
            update={
                "local_resource": "everyone",
                "agent_runtime_dir": str(runtime_dir),
                "daemon_idle_minutes": 1,
                "app_reconcile_seconds": 1,
            }
        )


@pytest.fixture
def data(tmp_path: Path) -> dict[str, Path]:
    places = {name: tmp_path / "data" / name for name in ("raw", "raw2", "processed", "scratch")}
    for path in places.values():
        path.mkdir(parents=True)
    (places["raw"] / "run-0001.nxs").write_text("neutrons\n")
    # A file of a link's name in the working directory: it stays as it is.
    (places["processed"] / "scratch").write_text("mine\n")
    return places


async def experiment_for(admin: LoggedIn, data: dict[str, Path]) -> int:
    local = await local_id(admin)
    answer = await admin.post(
        "/api/v1/experiments",
        json={
            "code": "12-34",
            "title": "Spin waves",
            "members": [{"username": "alice", "role": "pi"}],
            "locations": [
                {"resource_id": local, "kind": kind, "path": str(data[name])}
                for kind, name in (
                    ("raw", "raw"),
                    ("raw", "raw2"),
                    ("processed", "processed"),
                    ("scratch", "scratch"),
                )
            ],
        },
    )
    assert answer.status_code == 201, answer.text
    experiment_id: int = answer.json()["id"]
    return experiment_id


async def launched(alice: LoggedIn, experiment_id: int, form: dict[str, Any]) -> dict[str, Any]:
    answer = await alice.post(
        "/api/v1/sessions",
        json={
            "template": "webapp",
            "resource_id": await local_id(alice),
            "form": {"app_command": SEE, **form},
            "experiment_id": experiment_id,
        },
    )
    assert answer.status_code == 201, answer.text
    session = await wait_for(alice, answer.json()["id"], "running")
    await alice.post(f"/api/v1/sessions/{session['id']}/stop")
    return session


async def test_the_app_finds_the_data_in_its_working_directory(
    accounts: AccountFactory, data: dict[str, Path]
) -> None:
    admin = await accounts.login("root", role=Role.ADMIN)
    alice = await accounts.login("alice")
    experiment_id = await experiment_for(admin, data)
    session = await launched(alice, experiment_id, {})
    assert session["experiment"]["code"] == "12-34"
    workdir = data["processed"]
    assert (workdir / "seen-pwd.txt").read_text().strip() == str(workdir)
    assert (workdir / "seen-env.txt").read_text().splitlines() == [
        "LABGATE_EXPERIMENT=12-34",
        f"LABGATE_EXPERIMENT_PROCESSED={data['processed']}",
        f"LABGATE_EXPERIMENT_RAW={data['raw']}:{data['raw2']}",
        f"LABGATE_EXPERIMENT_SCRATCH={data['scratch']}",
    ]
    assert (workdir / "raw").is_symlink()
    assert (workdir / "raw" / "run-0001.nxs").read_text() == "neutrons\n"
    assert (workdir / "raw-2").resolve() == data["raw2"]
    assert not (workdir / "processed").exists()  # the working directory itself
    assert not (workdir / "scratch").is_symlink()
    assert (workdir / "scratch").read_text() == "mine\n"


async def test_a_working_directory_of_its_own_gets_the_links(
    accounts: AccountFactory, data: dict[str, Path], tmp_path: Path
) -> None:
    admin = await accounts.login("root", role=Role.ADMIN)
    alice = await accounts.login("alice")
    experiment_id = await experiment_for(admin, data)
    own = tmp_path / "elsewhere"
    own.mkdir()
    (own / "raw").symlink_to(tmp_path)  # an earlier launch's link: replaced
    await launched(alice, experiment_id, {"workdir": str(own)})
    assert (own / "seen-pwd.txt").read_text().strip() == str(own)
    assert (own / "raw").resolve() == data["raw"]
    assert (own / "processed").resolve() == data["processed"]
    assert (own / "scratch").resolve() == data["scratch"]
