"""The async engine and session factory, tuned per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

_READ_ONLY = "labgate_read_only"


class Database:
    """One engine and its session factory. ``session()`` is a unit of work: it commits
    when the block ends normally and rolls back on any exception."""

    def __init__(
        self, url: str, *, pool_size: int = 10, pool_timeout: float = 30, echo: bool = False
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        options: dict[str, Any] = {
            "echo": echo,
            "pool_pre_ping": not self.is_sqlite,
            "pool_size": pool_size,
            "max_overflow": pool_size,
            "pool_timeout": pool_timeout,
        }
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_on_connect)
            event.listen(self.engine.sync_engine, "begin", _sqlite_on_begin)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessionmaker = async_sessionmaker(
            self.engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A transaction that only reads. On SQLite it does not take the write lock, so
        reads run side by side (WAL) instead of queueing behind one another."""
        # Closing (not rolling back) ends the transaction without expiring what was
        # loaded, so results stay usable after the block.
        async with self.read_sessionmaker() as session:
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


async def lock_across_replicas(session: AsyncSession, key: int) -> None:
    """Hold a lock named ``key`` until ``session``'s transaction ends, so that replicas
    doing the same thing at once (first start, say) take turns. PostgreSQL: an advisory
    lock; SQLite: nothing to do, every transaction there is already exclusive."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def lock_per_user(session: AsyncSession, key: int, user_id: int) -> None:
    """Like :func:`lock_across_replicas`, for one user's ``key`` (a 31-bit number naming
    what is counted): requests of that user counting and adding such things (a cap)
    take turns, across replicas too; other users' do not wait."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:key, :user_id)"), {"key": key, "user_id": user_id}
        )


def _sqlite_on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy, not pysqlite, issue BEGIN, so transactions are real and
    # "BEGIN IMMEDIATE" below takes the write lock up front (no upgrade deadlocks).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    # Writers take the lock up front: a deferred transaction that reads and then writes
    # fails at once (no busy wait) when another writer got in between.
    read_only = conn.get_execution_options().get(_READ_ONLY, False)
    conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")
