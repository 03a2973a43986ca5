"""Migrations: they build exactly the models' schema, and go down and up again, on both
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from labgate.db import migrate
from labgate.db.engine import Database
from labgate.db.models import Base
from tests.conftest import BACKENDS, async_url
from tests.support import postgres


@pytest.fixture(scope="module")
def postgres_admin_dsn() -> Iterator[str]:
    with postgres.find_or_start_postgres() as admin:
        yield admin


@pytest.fixture(params=BACKENDS)
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database with no tables at all (its own, not the run's shared one)."""
    if request.param == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.sqlite3'}")
        yield db
        await db.dispose()
        return
    admin = request.getfixturevalue("postgres_admin_dsn")
    with postgres.fresh_database(admin) as dsn:
        db = Database(async_url(dsn))
        yield db
        await db.dispose()


def _schema_difference(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_migrations_build_the_models_schema(empty_database: Database) -> None:
    await migrate.upgrade(empty_database)
    assert await migrate.current_revision(empty_database) == migrate.head_revision()
    async with empty_database.engine.connect() as conn:
        assert await conn.run_sync(_schema_difference) == []


async def test_downgrade_to_nothing_and_up_again(empty_database: Database) -> None:
    await migrate.upgrade(empty_database)
    await migrate.downgrade(empty_database, "base")
    async with empty_database.engine.connect() as conn:
        assert await conn.run_sync(_tables) <= {"alembic_version"}
    await migrate.upgrade(empty_database)
    async with empty_database.engine.connect() as conn:
        assert {
            "users",
            "groups",
            "memberships",
            "login_sessions",
            "api_tokens",
            "preferences",
            "audit_events",
        } <= await conn.run_sync(_tables)


async def test_upgrading_twice_is_harmless(empty_database: Database) -> None:
    await migrate.upgrade(empty_database)
    await migrate.upgrade(empty_database)
    assert await migrate.current_revision(empty_database) == migrate.head_revision()


async def test_work_tags_are_given_to_existing_users(empty_database: Database) -> None:
    """Migration 0007: every user gets a random work tag of their own, and those who
    existed keep their old ``user:<id>`` tag as an alias; the installation gets its tag."""
    await migrate.upgrade(empty_database, "0006")
    async with empty_database.engine.begin() as conn:
        for name in ("ann", "ben"):
            await conn.execute(
                text(
                    "INSERT INTO users (username, display_name, role, auth_provider, disabled,"
                    " created_at, updated_at, must_change_password) VALUES (:name, '', 'user',"
                    " 'local', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, false)"
                ),
                {"name": name},
            )
    await migrate.upgrade(empty_database)
    async with empty_database.engine.connect() as conn:
        users = (await conn.execute(text("SELECT id, work_tag, legacy_work_tag FROM users"))).all()
        installations = (await conn.execute(text("SELECT tag FROM installation"))).all()
    assert len(installations) == 1
    assert len(installations[0].tag) == 16
    assert len({u.work_tag for u in users}) == 2
    assert all(len(u.work_tag) == 16 for u in users)
    assert {u.legacy_work_tag for u in users} == {f"user:{u.id}" for u in users}
