"""First start: make sure an administrator exists and tell the person how to log in."""

from __future__ import annotations

import secrets
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from labgate.accounts.users import count_admins, create_user, get_user
from labgate.db.engine import Database, lock_across_replicas
from labgate.db.models import Role
from labgate.errors import NotFound
from labgate.settings import Settings

# Replicas starting together on an empty database create one administrator, not two.
_BOOTSTRAP_LOCK = 0x6C616268


async def ensure_admin(
    database: Database, settings: Settings, *, url: str, notes: Sequence[str] = ()
) -> None:
    """Create the first administrator when there is none, and print login instructions
    (and ``notes``, lines the administrator should read at the start)."""
    async with database.session() as db:
        await lock_across_replicas(db, _BOOTSTRAP_LOCK)
        if await count_admins(db, enabled_only=False) > 0:
            try:
                await get_user(db, settings.admin_username)
                who = settings.admin_username
            except NotFound:
                who = "an administrator account"
            _banner(
                url,
                f"Log in as {who}.",
                "Forgot the password? Run: "
                + _cli(settings, "user", "passwd", settings.admin_username),
                *notes,
            )
            return
        given = settings.admin_password.get_secret_value() if settings.admin_password else None
        password = given or secrets.token_urlsafe(12)
        await create_user(
            db,
            settings,
            username=settings.admin_username,
            password=password,
            role=Role.ADMIN,
            display_name="Administrator",
            must_change_password=not given,
        )
    if given:
        _banner(url, f"Log in as {settings.admin_username} with LABGATE_ADMIN_PASSWORD.", *notes)
    else:
        _banner(
            url,
            f"Log in as:  {settings.admin_username}",
            f"Password:   {password}",
            "This one-time password is shown only once; you choose your own at the first login.",
            *notes,
        )


def _cli(settings: Settings, *args: str) -> str:
    """The command line that reaches this server's database, to copy and paste."""
    program = sys.argv[0] if Path(sys.argv[0]).name == "labgate" else "labgate"
    words = [program]
    if settings.config_file is not None:
        words += ["--config", str(settings.config_file)]
    if not settings.database_url:
        words += ["--data-dir", str(settings.data_dir)]
    return shlex.join([*words, *args])


def _banner(url: str, *lines: str) -> None:
    rule = "=" * 72
    text = "\n".join([rule, f"labgate is running at {url}", *lines, rule])
    print(text, file=sys.stderr, flush=True)
