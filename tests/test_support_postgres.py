"""Tests for tests/support/postgres.py: the PostgreSQL that the other tests rely on."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import (
    ENV_ADMIN_DSN,
    execute,
    fetchval,
    find_or_start_postgres,
    fresh_database,
)


@pytest.fixture(scope="module")
def admin_dsn() -> Iterator[str]:
    with find_or_start_postgres() as dsn:
        yield dsn


def _postmaster_pid(dsn: str) -> tuple[int, Path]:
    data_directory = fetchval(dsn, "SHOW data_directory")
    assert isinstance(data_directory, str)
    first_line = (Path(data_directory) / "postmaster.pid").read_text().splitlines()[0]
    return int(first_line), Path(data_directory)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_fresh_database_accepts_tables_and_is_dropped(admin_dsn: str) -> None:
    with fresh_database(admin_dsn) as dsn:
        name = dsn.rsplit("/", 1)[1]
        assert name.startswith("labgate_test_")
        assert dsn.startswith("postgresql://")
        assert fetchval(dsn, "SELECT current_database()") == name
        execute(dsn, "CREATE TABLE t (x int)", "INSERT INTO t VALUES (42)")
        assert fetchval(dsn, "SELECT x FROM t") == 42

    still_there = fetchval(admin_dsn, "SELECT count(*) FROM pg_database WHERE datname = $1", name)
    assert still_there == 0


def test_fresh_databases_are_distinct(admin_dsn: str) -> None:
    with fresh_database(admin_dsn) as first, fresh_database(admin_dsn) as second:
        assert first != second


def test_private_cluster_when_no_server_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing listens on port 1, so the helper must start a cluster of its own.
    monkeypatch.setenv(ENV_ADMIN_DSN, "postgresql://postgres@127.0.0.1:1/postgres")
    with find_or_start_postgres() as dsn:
        assert ":1/" not in dsn
        version = fetchval(dsn, "SELECT version()")
        assert isinstance(version, str)
        assert version.startswith("PostgreSQL ")
        pid, data_directory = _postmaster_pid(dsn)
        assert _alive(pid)
        with fresh_database(dsn) as db:
            assert fetchval(db, "SELECT 1") == 1

    assert not _alive(pid), f"postgres (pid {pid}) still running after the cluster was stopped"
    assert not data_directory.exists()
