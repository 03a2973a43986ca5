"""Who the tests' users are on ``local``, the server's own machine.

The tests run as root, so labgate runs each user's agent on ``local`` as the OS account
``local``'s account rule gives them (docs/admin-guide.md, "The local resource"). Tests
that only need a working ``local`` map everyone to root the way an administrator would,
explicitly (:func:`map_local_to_root` in-process, :func:`map_server_local_to_root` for
a ``labgate serve``). Tests of the mapping itself make real accounts with unique names
(:func:`os_account`), removed with everything they ran at the end.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import update

from labgate.db.engine import Database
from labgate.db.models import Resource, ResourceKind
from tests.support.eventually import within
from tests.support.server import RunningServer

# The explicit mapping an administrator would write: every labgate user is root there.
ROOT_RULE = "root"
# Who may use local when everyone there is root: administrators (the auto default would
# give it to everyone on a server running as root, as the tests' servers do).
LOCAL_FOR_ADMINS = "admins"
# How long userdel may wait for another one's lock on the password file.
REMOVE_SECONDS = 10.0


async def map_local_to_root(database: Database) -> None:
    """Set ``local``'s account rule to root, as an administrator would in its dialog
    (the app has created ``local`` by then: it does at every start)."""
    async with database.session() as db:
        changed = await db.execute(
            update(Resource)
            .where(Resource.kind == ResourceKind.LOCAL.value)
            .values(account_rule=ROOT_RULE)
        )
        assert changed.rowcount == 1, "the app has not created 'local' yet"  # type: ignore[attr-defined]


def map_server_local_to_root(
    server: RunningServer, admin_password: str, admin: str = "admin"
) -> None:
    """Set ``local``'s account rule to root through the API of a running server, as its
    administrator would."""
    with server.client() as http:
        login = http.post(
            "/api/v1/auth/login", json={"username": admin, "password": admin_password}
        )
        assert login.status_code == 200, login.text
        csrf = login.json()["csrf_token"]
        listing = http.get("/api/v1/resources").json()["resources"]
        local = next(r for r in listing if r["kind"] == ResourceKind.LOCAL.value)
        changed = http.patch(
            f"/api/v1/resources/{local['id']}",
            json={"account_rule": ROOT_RULE},
            headers={"X-CSRF-Token": csrf},
        )
        assert changed.status_code == 200, changed.text


def local_resource_of(listing: list[dict[str, Any]]) -> dict[str, Any]:
    """``local`` in a GET /api/v1/resources answer."""
    return next(r for r in listing if r["kind"] == ResourceKind.LOCAL.value)


# -- real OS accounts ---------------------------------------------------------------------


@dataclass(frozen=True)
class OsUser:
    """An OS account a test made."""

    name: str
    uid: int
    home: Path


def unique_account_name() -> str:
    return "lgt-" + secrets.token_hex(4)


def processes_of(uid: int) -> list[int]:
    """PIDs of the processes running as ``uid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    found.append(int(entry.name))
    return found


def remove_account(name: str) -> None:
    """Kill every process of the account ``name`` (by PID) and delete it with its home;
    nothing to do when it does not exist."""
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    assert uid >= 1000, f"refusing to remove {name}, uid {uid}"
    _kill_all_of(uid)
    # --force: a server still serving the account (an open page, a session's check) may
    # start its agent again at any moment, and userdel refuses an account that has
    # processes. Again while another useradd or userdel holds the password file's lock.
    failures: list[str] = []

    def removed() -> bool:
        userdel = subprocess.run(
            ["userdel", "--force", "--remove", name], capture_output=True, text=True, check=False
        )
        failures.append(userdel.stderr.strip())
        return not _exists(name)

    if not within(REMOVE_SECONDS, removed):
        raise AssertionError(f"the OS account {name} could not be removed: {failures[-1]}")
    # Nothing starts as the account any more (a reconnect fails now): end what did.
    _kill_all_of(uid)
    # The runtime directories the server made for it, or its agent made without one.
    shutil.rmtree(f"/run/labgate/{uid}", ignore_errors=True)
    shutil.rmtree(f"/tmp/labgate-{uid}", ignore_errors=True)


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _kill_all_of(uid: int) -> None:
    for _ in range(3):  # a daemon may fork while its siblings are being killed
        for pid in processes_of(uid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if within(5.0, lambda: not processes_of(uid)):
            return


@contextlib.contextmanager
def os_account(name: str | None = None) -> Iterator[OsUser]:
    """A new ordinary OS account (``lgt-`` and random hex unless ``name``), with a
    private home; its processes killed and the account removed at the end, also when
    the block failed."""
    name = name or unique_account_name()
    try:
        subprocess.run(
            ["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", name],
            capture_output=True,
            check=True,
        )
        entry = pwd.getpwnam(name)
        os.chmod(entry.pw_dir, 0o700)
        yield OsUser(name=name, uid=entry.pw_uid, home=Path(entry.pw_dir))
    finally:
        remove_account(name)
