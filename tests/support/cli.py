"""Running the ``labgate`` command line in-process, and checking its effect through the
application built over the same data directory."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import httpx
from click.testing import CliRunner, Result

from labgate.app import create_app
from labgate.cli.main import cli
from labgate.settings import Settings


@dataclass
class Labgate:
    """``labgate --data-dir DATA_DIR ...`` through click's test runner."""

    data_dir: Path
    runner: CliRunner = field(default_factory=CliRunner)

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(
            cli,
            ["--data-dir", str(self.data_dir), *args],
            input=input,
            prog_name="labgate",
            catch_exceptions=False,
        )

    def ok(self, *args: str, input: str | None = None) -> str:
        """Run a command that must succeed; its standard output."""
        result = self(*args, input=input)
        assert result.exit_code == 0, f"labgate {' '.join(args)}:\n{result.output}"
        return result.stdout

    def fails(self, *args: str, input: str | None = None, exit_code: int = 1) -> str:
        """Run a command that must fail; its standard error."""
        result = self(*args, input=input)
        assert result.exit_code == exit_code, f"labgate {' '.join(args)}:\n{result.output}"
        return result.stderr


def command_paths(
    command: click.Command, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command under ``command`` (itself included) with the words that invoke it."""
    yield prefix, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from command_paths(sub, (*prefix, name))


def call_app(
    data_dir: Path,
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    json: Any = None,
) -> httpx.Response:
    """One request to the application serving ``data_dir``, started and stopped around it
    (from synchronous tests, like the CLI itself)."""

    async def request() -> httpx.Response:
        app = create_app(Settings(data_dir=data_dir), bootstrap=False)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.request(method, url, headers=headers, json=json)

    return asyncio.run(request())


def login_status(data_dir: Path, username: str, password: str) -> int:
    """The HTTP status of a login attempt: 200, 401 (wrong credentials), 403 (disabled)."""
    response = call_app(
        data_dir, "POST", "/api/v1/auth/login", json={"username": username, "password": password}
    )
    return response.status_code
