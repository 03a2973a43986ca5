"""The OS accounts of the server's own machine, for the ``local`` transport: who the
server runs as, which accounts are ordinary ones, and creating one for a labgate user
(and removing it again: an expired guest's, labgate.accounts.guest_files).

When the server runs as root, ``local`` runs each labgate user's agent as an account of
their own (docs/admin-guide.md, "The local resource"); this module knows the machine's
side of that (``/etc/passwd``, ``/etc/login.defs``, ``useradd``), not labgate's rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import re
import signal
from dataclasses import dataclass
from pathlib import Path

# Where the ordinary accounts' uids are configured, and their defaults there.
LOGIN_DEFS = Path("/etc/login.defs")
DEFAULT_UID_MIN = 1000
DEFAULT_UID_MAX = 60000

# Groups whose members hold powers over the machine or others' data: administration
# (sudo, wheel, admin), root's group, reading every log or disk (adm, disk, shadow),
# starting containers or VMs as root (docker, lxd, libvirt, kvm), writing root's PATH
# (staff: /usr/local on Debian).
PRIVILEGED_GROUPS = frozenset(
    {
        "root",
        "sudo",
        "wheel",
        "admin",
        "adm",
        "disk",
        "shadow",
        "docker",
        "lxd",
        "libvirt",
        "kvm",
        "staff",
    }
)

# Names labgate creates accounts for: what useradd accepts on every distribution.
_CREATABLE = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")

# useradd takes a moment; a machine that hangs in it must not hang a connection.
USERADD_TIMEOUT_SECONDS = 60
# Rounds of killing an account's processes before removing it (a process may fork while
# its siblings are killed), and the wait after each.
_KILL_ROUNDS = 5
_KILL_WAIT_SECONDS = 0.5


@dataclass(frozen=True)
class OsAccount:
    """One account of this machine, as ``/etc/passwd`` describes it."""

    name: str
    uid: int
    gid: int
    home: str
    shell: str
    #: The GECOS field; labgate writes who an account was made for there.
    comment: str = ""

    @classmethod
    def of(cls, entry: pwd.struct_passwd) -> OsAccount:
        return cls(
            entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_shell, entry.pw_gecos
        )

    @property
    def is_root(self) -> bool:
        return self.uid == 0


class AccountCreationFailed(Exception):
    """``useradd`` refused or failed; the message is its own."""


class AccountRemovalFailed(Exception):
    """``userdel`` refused or failed, or the account's processes would not end."""


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


def _login_defs_number(key: str, default: int, login_defs: Path) -> int:
    try:
        text = login_defs.read_text(errors="replace")
    except OSError:
        return default
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == key and words[1].isdigit():
            return int(words[1])
    return default


def uid_min(login_defs: Path = LOGIN_DEFS) -> int:
    """The first uid of an ordinary account (``UID_MIN`` in ``/etc/login.defs``); below
    it are root and the system's own accounts."""
    return _login_defs_number("UID_MIN", DEFAULT_UID_MIN, login_defs)


def uid_max(login_defs: Path = LOGIN_DEFS) -> int:
    """The last uid of an ordinary account (``UID_MAX``); above it are ``nobody`` and
    other special accounts."""
    return _login_defs_number("UID_MAX", DEFAULT_UID_MAX, login_defs)


def powers_of(account: OsAccount) -> list[str]:
    """Why ``account`` is not an ordinary person's account, in words (empty: it is): a
    uid outside ``UID_MIN``..``UID_MAX``, the server's own account, root's group, or a
    membership in one of :data:`PRIVILEGED_GROUPS`."""
    reasons = []
    low, high = uid_min(), uid_max()
    if not low <= account.uid <= high:
        reasons.append(f"uid {account.uid} is outside UID_MIN {low} to UID_MAX {high}")
    if account.uid == os.getuid():
        reasons.append("it is the account the labgate server runs as")
    if account.gid == 0:
        reasons.append("its group is root's")
    groups = {entry.gr_name for entry in grp.getgrall() if account.name in entry.gr_mem}
    with contextlib.suppress(KeyError):
        groups.add(grp.getgrgid(account.gid).gr_name)
    privileged = sorted(groups & PRIVILEGED_GROUPS)
    if privileged:
        reasons.append(
            "it is in the group" + ("s " if len(privileged) > 1 else " ") + ", ".join(privileged)
        )
    return reasons


def is_ordinary(account: OsAccount) -> bool:
    """An account of a person with no powers over the machine (:func:`powers_of`)."""
    return not powers_of(account)


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


def all_accounts() -> list[OsAccount]:
    """Every account of this machine."""
    return [OsAccount.of(entry) for entry in pwd.getpwall()]


def processes_of(uid: int) -> list[int]:
    """The PIDs of the processes running as ``uid`` (by ``/proc``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    found.append(int(entry.name))
    return found


async def _end_processes_of(account: OsAccount) -> None:
    """Kill every process of ``account`` (never root's or the server's own)."""
    if account.uid == 0 or account.uid == os.getuid():
        raise AccountRemovalFailed(f"{account.name} is root or the server's own account")
    for _ in range(_KILL_ROUNDS):
        running = processes_of(account.uid)
        if not running:
            return
        for pid in running:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(_KILL_WAIT_SECONDS)
    if processes_of(account.uid):
        raise AccountRemovalFailed(f"the processes of {account.name} did not end")


async def remove_account(account: OsAccount) -> None:
    """Remove ``account`` with its home directory and mail spool (``userdel --remove``),
    after killing its processes. Needs root; the caller decides that the account and
    its home are no one else's. :class:`AccountRemovalFailed` with userdel's words."""
    await _end_processes_of(account)
    process = await asyncio.create_subprocess_exec(
        "userdel",
        "--remove",
        "--",
        account.name,
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
        raise AccountRemovalFailed("userdel did not finish in time") from None
    # 6: the account is gone already (another replica removed it); anything else, 12
    # (the home could not be removed) among them, is a failure.
    if process.returncode not in (0, 6) or find_account(account.name) is not None:
        said = output.decode(errors="replace").strip() or f"exit status {process.returncode}"
        raise AccountRemovalFailed(said)
