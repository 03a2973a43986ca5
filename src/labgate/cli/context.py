"""What every sub-command needs: settings, and a database opened for one async job."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError

from labgate.audit import Actor
from labgate.auth import passwords
from labgate.config_reference import mask_database_url
from labgate.db import migrate
from labgate.db.engine import Database
from labgate.errors import LabgateError
from labgate.settings import Settings, load_settings

T = TypeVar("T")


class CliContext:
    def __init__(self, config: Path | None, data_dir: Path | None) -> None:
        self.config = config
        self.data_dir = data_dir

    @property
    def actor(self) -> Actor:
        """How command-line changes appear in the audit log: ``cli:<unix user>``."""
        return Actor(None, f"cli:{getpass.getuser()}")

    def settings(self, **overrides: Any) -> Settings:
        try:
            return load_settings(self.config, data_dir=self.data_dir, **overrides)
        except LabgateError as exc:
            raise click.ClickException(exc.message) from None

    def run(
        self,
        job: Callable[[Database, Settings], Awaitable[T]],
        *,
        migrate_to: str | None = "head",
    ) -> T:
        """Open the database (migrated to ``migrate_to``), run ``job``, close it; a
        LabgateError becomes a one-line error message and exit status 1."""
        settings = self.settings()
        passwords.configure(
            time_cost=settings.password_hash_time_cost, memory_kib=settings.password_hash_memory_kib
        )

        async def main() -> T:
            if settings.effective_database_url.startswith("sqlite"):
                settings.make_data_dir()
            database = Database(settings.effective_database_url)
            try:
                if migrate_to is not None:
                    await migrate.upgrade(database, migrate_to)
                return await job(database, settings)
            finally:
                await database.dispose()

        try:
            return asyncio.run(main())
        except LabgateError as exc:
            raise click.ClickException(exc.message) from None
        except (OSError, SQLAlchemyError) as exc:
            where = mask_database_url(settings.effective_database_url)
            raise click.ClickException(f"Cannot use the database {where}: {exc}") from None


pass_context = click.make_pass_decorator(CliContext)
