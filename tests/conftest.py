"""Shared fixtures: a real database on each backend, the app in-process, logged-in clients.

Every database test runs twice, on SQLite and on a real PostgreSQL (found or started by
``tests/support/postgres.py``; each test run gets a fresh database).

For the resource side of sessions, only the tests that ask for them get: ``apps_env``
(JupyterLab and TensorBoard, ``tests/support/apps.py``) and ``slurm`` (a private
single-node SLURM, ``tests/support/slurm.py``), both once per test run, skipped when the
tests do not run as root.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from labgate.app import create_app
from labgate.db import migrate
from labgate.db.engine import Database
from labgate.db.models import Base
from labgate.settings import Settings
from labgate.state import AppState
from tests.support import postgres
from tests.support.accounts import AccountFactory
from tests.support.apps import AppsEnv, ensure_apps_env
from tests.support.labgate_api import TEST_CONNECT_ATTEMPTS, TEST_HOSTS_DENIED
from tests.support.local_accounts import LOCAL_FOR_ADMINS, map_local_to_root
from tests.support.mail import MailServer, running_mail_server
from tests.support.netns import JumpNetwork, jump_network
from tests.support.processes import skip_unless_root
from tests.support.pyenv_lock import stale_lock_guard
from tests.support.slurm import SlurmCluster, public_workdir, running_slurm
from tests.support.sshd import SshServer, ensure_test_user, running_sshd

BACKENDS = ["sqlite", "postgresql"]

# Fixtures for the file-transfer tests: the test account on a real sshd, its directories.
pytest_plugins = ["tests.support.remote_files"]


@pytest.fixture(scope="session", autouse=True)
def _pyenv_lock_guard() -> Iterator[None]:
    """Root's login shells never wait on a pyenv lock a killed shell left behind
    (tests/support/pyenv_lock.py)."""
    with stale_lock_guard():
        yield


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run."""
    with postgres.find_or_start_postgres() as admin, postgres.fresh_database(admin) as dsn:
        yield dsn


def async_url(dsn: str) -> str:
    return "postgresql+asyncpg://" + dsn.split("://", 1)[1]


_migrated: set[str] = set()


async def _empty_all_tables(database: Database) -> None:
    # The installation's row is the migration's, like alembic_version: it stays.
    names = ", ".join(t.name for t in Base.metadata.sorted_tables if t.name != "installation")
    async with database.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database: a new SQLite file, or the run's PostgreSQL emptied."""
    if request.param == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'labgate.sqlite3'}")
        await migrate.upgrade(db)
        yield db
        await db.dispose()
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        db = Database(async_url(dsn), pool_size=5)
        if dsn not in _migrated:
            await migrate.upgrade(db)
            _migrated.add(dsn)
        await _empty_all_tables(db)
        yield db
        await db.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        min_password_length=10,
        login_max_failures_per_account=5,
        login_max_failures_per_client=20,
        max_body_bytes=64 * 1024,
        # Cheap hashes keep the suite fast; production cost is a setting, not a code path.
        password_hash_time_cost=1,
        password_hash_memory_kib=64,
        resource_hosts_denied=TEST_HOSTS_DENIED,
        resource_connect_attempts_per_minute=TEST_CONNECT_ATTEMPTS,
        # local is mapped to root (map_local_to_root): for administrators, as before
        # the auto default, which gives it to everyone on a server running as root.
        local_resource=LOCAL_FOR_ADMINS,
    )


@pytest.fixture
async def app(settings: Settings, database: Database) -> AsyncIterator[Any]:
    application = create_app(settings, database=database, bootstrap=False)
    async with application.router.lifespan_context(application):
        await map_local_to_root(database)
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An anonymous client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def state(app: Any) -> AppState:
    """The in-process app's state."""
    found: AppState = app.state.labgate
    return found


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    """An SMTP server that keeps what it is sent (a test gives its settings the server's
    ``host`` and ``port`` to send there)."""
    with running_mail_server() as server:
        yield server


@pytest.fixture
def accounts(app: Any, database: Database, settings: Settings) -> AccountFactory:
    return AccountFactory(app, database, settings)


# -- an sshd on loopback ------------------------------------------------------------------


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """An ordinary sshd on 127.0.0.1 for the test account (keys from its authorized_keys
    file, passwords), one per module that asks for it."""
    with running_sshd(tmp_path_factory.mktemp("sshd"), ensure_test_user()) as server:
        yield server


# -- a host behind a jump host -----------------------------------------------------------
# For the modules that ask for them (each module builds its own): two network namespaces,
# a jump host reachable from here and a target reachable only from the jump host, each
# with an sshd for the test account.


@pytest.fixture(scope="module")
def network() -> Iterator[JumpNetwork]:
    with jump_network() as built:  # the guard route for the test range goes in first
        yield built


@pytest.fixture(scope="module")
def jump_sshd(
    tmp_path_factory: pytest.TempPathFactory, network: JumpNetwork
) -> Iterator[SshServer]:
    with running_sshd(
        tmp_path_factory.mktemp("jump-sshd"),
        ensure_test_user(),
        netns=network.jump,
        listen_address=network.jump_address,
    ) as server:
        yield server


@pytest.fixture(scope="module")
def target_sshd(
    tmp_path_factory: pytest.TempPathFactory, network: JumpNetwork
) -> Iterator[SshServer]:
    with running_sshd(
        tmp_path_factory.mktemp("target-sshd"),
        ensure_test_user(),
        netns=network.target,
        listen_address=network.target_address,
    ) as server:
        yield server


# -- the resource side of sessions -------------------------------------------------------


@pytest.fixture(scope="session")
def apps_env() -> AppsEnv:
    """JupyterLab and TensorBoard (the apps environment's pins), built first if missing."""
    skip_unless_root("the apps environment")
    return ensure_apps_env()


@pytest.fixture(scope="session")
def slurm() -> Iterator[SlurmCluster]:
    """A private single-node SLURM for the run; clients need ``slurm.setup_lines``."""
    skip_unless_root("a private SLURM cluster")
    with public_workdir() as workdir, running_slurm(workdir) as cluster:
        yield cluster
