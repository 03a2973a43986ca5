"""The OS accounts of the server's own machine, for the ``local`` transport: who the
server runs as, which accounts are ordinary ones, and creating one for a labgate user.

When the server runs as root, ``local`` runs each labgate user's agent as an account of
their own (docs/admin-guide.md, "The local resource"); this module knows the machine's
side of that (``/etc/passwd``, ``/etc/login.defs``, ``useradd``), not labgate's rules.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
from dataclasses import dataclass
from pathlib import Path

# Where the first ordinary account's uid is configured, and its default there.
LOGIN_DEFS = Path("/etc/login.defs")
DEFAULT_UID_MIN = 1000

# Names labgate creates accounts for: what useradd accepts on every distribution.
_CREATABLE = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")

# useradd takes a moment; a machine that hangs in it must not hang a connection.
USERADD_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class OsAccount:
    """One account of this machine, as ``/etc/passwd`` describes it."""

    name: str
    uid: int
    gid: int
    home: str
    shell: str

    @classmethod
    def of(cls, entry: pwd.struct_passwd) -> OsAccount:
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_shell)

    @property
    def is_root(self) -> bool:
        return self.uid == 0


class AccountCreationFailed(Exception):
    """``useradd`` refused or failed; the message is its own."""


def server_runs_as_root() -> bool:
    """Whether the server process has root's powers (and so may run other accounts)."""
    return os.geteuid() == 0


def server_account() -> OsAccount:
    """The account the server runs as."""
    return OsAccount.of(pwd.getpwuid(os.getuid()))


def find_account(name: str) -> OsAccount | None:
    """The account named ``name``, or None when this machine has none."""
    try:
        return OsAccount.of(pwd.getpwnam(name))
    except KeyError:
        return None


def uid_min(login_defs: Path = LOGIN_DEFS) -> int:
    """The first uid of an ordinary account (``UID_MIN`` in ``/etc/login.defs``); below
    it are root and the system's own accounts."""
    try:
        text = login_defs.read_text(errors="replace")
    except OSError:
        return DEFAULT_UID_MIN
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "UID_MIN" and words[1].isdigit():
            return int(words[1])
    return DEFAULT_UID_MIN


def is_ordinary(account: OsAccount) -> bool:
    """An account of a person: at or above ``UID_MIN``, and not the server's own."""
    return account.uid >= uid_min() and account.uid != os.getuid()


def creatable_name(name: str) -> bool:
    """Whether labgate may create an account of this name (what every ``useradd``
    accepts, never all digits)."""
    return bool(_CREATABLE.match(name)) and not name.replace(".", "").isdigit()


async def create_account(name: str, comment: str) -> OsAccount:
    """Create the ordinary account ``name`` with a group and a private home (0700).
    Needs root; :class:`AccountCreationFailed` with useradd's own words when it fails."""
    if not creatable_name(name):
        raise AccountCreationFailed(f"{name!r} is not a name useradd accepts everywhere")
    process = await asyncio.create_subprocess_exec(
        "useradd",
        "--create-home",
        "--user-group",
        "--shell",
        "/bin/bash",
        "--comment",
        comment,
        "--",
        name,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), USERADD_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AccountCreationFailed("useradd did not finish in time") from None
    created = find_account(name)
    if process.returncode not in (0, 9) or created is None:  # 9: it exists (a race)
        said = output.decode(errors="replace").strip() or f"exit status {process.returncode}"
        raise AccountCreationFailed(said)
    os.chmod(created.home, 0o700)
    return created
