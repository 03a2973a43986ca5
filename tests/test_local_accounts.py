"""``local`` as each user's own OS account (labgate.resources.local_accounts): with the
server running as root (as these tests do), two labgate users mapped by ``local``'s
account rule to two real, fresh OS accounts cannot reach each other's files, processes
or environment, nor the server's data directory and secret; what they run has their
uid and none of the server's environment. The mapping's safety rules (a missing
account, a system account derived by the rule, an explicit root mapping, accounts
created on first use) are held here through the API, as a user meets them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from labgate.auth.policy import effective_local_resource
from labgate.credentials.vault import SECRET_FILE, Vault
from labgate.db.models import Role
from labgate.resources.catalog import AccountMapping
from labgate.resources.local_accounts import account_summary
from labgate.settings import Settings
from labgate.transport.base import StreamOpenFailed
from labgate.transport.local import LocalTransport
from labgate.transport.os_accounts import OsAccount
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.eventually import eventually
from tests.support.local_accounts import (
    OsUser,
    local_resource_of,
    os_account,
    remove_account,
    unique_account_name,
)
from tests.support.processes import skip_unless_root

pytestmark = pytest.mark.usefixtures("as_root")


@pytest.fixture
def as_root() -> None:
    skip_unless_root("running labgate users as OS accounts")


@pytest.fixture
def first_account() -> Iterator[OsUser]:
    # Requested before the app (``accounts``): removed after it, with all it ran.
    with os_account() as account:
        yield account


@pytest.fixture
def second_account() -> Iterator[OsUser]:
    with os_account() as account:
        yield account


@dataclass
class Lab:
    admin: LoggedIn
    local: int
    settings: Settings
    accounts: AccountFactory

    async def set_local(self, **fields: Any) -> dict[str, Any]:
        """Change ``local`` as its administrator does, in its dialog."""
        changed = await self.admin.patch(f"/api/v1/resources/{self.local}", json=fields)
        assert changed.status_code == 200, changed.text
        resource: dict[str, Any] = changed.json()
        return resource


@pytest.fixture
async def lab(accounts: AccountFactory, settings: Settings) -> AsyncIterator[Lab]:
    """``local`` as a server running as root has it by default: each user is the OS
    account named like them (the tests' own mapping to root undone), for everyone
    (``auto``)."""
    settings.local_resource = "auto"
    admin = await accounts.login("boss", role=Role.ADMIN)
    listing = (await admin.get("/api/v1/resources")).json()["resources"]
    lab = Lab(admin, local_resource_of(listing)["id"], settings, accounts)
    await lab.set_local(account_rule="{username}", account_overrides={})
    yield lab
    await accounts.close()


async def run(user: LoggedIn, local: int, command: str) -> dict[str, Any]:
    """Run ``command`` on ``local`` as ``user`` and wait for its end; the process."""
    started = await user.post(
        f"/api/v1/resources/{local}/processes", json={"command": command, "name": "probe"}
    )
    assert started.status_code == 201, started.text
    process_id = started.json()["id"]

    async def ended() -> dict[str, Any] | None:
        listing = (await user.get(f"/api/v1/resources/{local}/processes")).json()
        found = next(p for p in listing["processes"] if p["id"] == process_id)
        return None if found["running"] else found

    process: dict[str, Any] = await eventually(ended, what=f"{command!r} ended")
    return process


async def read(user: LoggedIn, local: int, path: Path) -> str:
    answer = await user.get(f"/api/v1/resources/{local}/files/content", params={"path": str(path)})
    assert answer.status_code == 200, answer.text
    return answer.text


async def test_two_users_on_local_are_two_accounts_that_cannot_reach_each_other(
    first_account: OsUser, second_account: OsUser, lab: Lab
) -> None:
    a = await lab.accounts.login(first_account.name)
    b = await lab.accounts.login(second_account.name)
    local = lab.local
    seen = local_resource_of((await a.get("/api/v1/resources")).json()["resources"])
    assert (seen["remote_username"], seen["runs_as_root"]) == (first_account.name, False)

    # B's private file and a long-running process.
    secret_file = second_account.home / "private.txt"
    written = await b.put(
        f"/api/v1/resources/{local}/files/content",
        params={"path": str(secret_file)},
        content=b"only for b",
    )
    assert written.status_code in (200, 201), written.text
    assert secret_file.stat().st_uid == second_account.uid
    started = await b.post(
        f"/api/v1/resources/{local}/processes", json={"command": "sleep 600", "name": "b's"}
    )
    assert started.status_code == 201, started.text
    b_process = started.json()
    assert Path(f"/proc/{b_process['pid']}").stat().st_uid == second_account.uid

    # Through labgate's own API, A reaches none of it.
    refused = await a.get(
        f"/api/v1/resources/{local}/files/content", params={"path": str(secret_file)}
    )
    assert refused.status_code in (403, 404), refused.text
    assert "only for b" not in refused.text
    listing = (await a.get(f"/api/v1/resources/{local}/processes")).json()["processes"]
    assert b_process["id"] not in [p["id"] for p in listing]
    assert b_process["pid"] not in [p["pid"] for p in listing]
    signalled = await a.post(
        f"/api/v1/resources/{local}/processes/{b_process['id']}/signal", json={"signal": "KILL"}
    )
    assert signalled.status_code == 404, signalled.text
    assert Path(f"/proc/{b_process['pid']}").exists()

    # Nor through what A runs there: B's files and environment, the server's data.
    data_dir = lab.settings.data_dir
    secret = data_dir / SECRET_FILE
    Vault.from_settings(lab.settings)  # the server's secret file, as the app has it
    assert secret.exists()
    out = first_account.home
    checks = {
        "b-file": f"cat {secret_file}",
        "b-environ": f"cat /proc/{b_process['pid']}/environ",
        "b-kill": f"kill -0 {b_process['pid']}",
        "data-dir": f"ls {data_dir}",
        "secret": f"cat {secret}",
    }
    script = "; ".join(
        f"if {command} >/dev/null 2>&1; then echo {name} reached; else echo {name} refused; fi"
        for name, command in checks.items()
    )
    probe = await run(
        a, local, f"({script}) > {out}/reach.txt; id -u > {out}/uid.txt; env > {out}/env.txt"
    )
    assert probe["exit_status"] == 0, probe
    reach = (await read(a, local, out / "reach.txt")).split("\n")
    assert [line for line in reach if line] == [f"{name} refused" for name in checks]
    assert (await read(a, local, out / "uid.txt")).strip() == str(first_account.uid)
    environment = dict(
        line.split("=", 1)
        for line in (await read(a, local, out / "env.txt")).splitlines()
        if "=" in line
    )
    assert not [name for name in environment if name.startswith("LABGATE_")], environment
    assert environment["HOME"] == str(first_account.home)
    assert environment["USER"] == environment["LOGNAME"] == first_account.name
    assert (out / "uid.txt").stat().st_uid == first_account.uid

    # With no /run/user/UID from a login, the daemon lives in /run/labgate/UID, which
    # the server made for the account (in /tmp, another user could take the name first:
    # see test_another_user_cannot_take_an_accounts_runtime_directory_first).
    runtime = Path(f"/run/labgate/{first_account.uid}")
    assert runtime.stat().st_uid == first_account.uid
    assert stat.S_IMODE(runtime.stat().st_mode) == 0o700
    assert (runtime / "labgate").stat().st_uid == first_account.uid


async def test_an_account_that_does_not_exist_is_named_with_the_setting_to_change(
    lab: Lab,
) -> None:
    name = unique_account_name()
    user = await lab.accounts.login(name)
    answer = await user.post(f"/api/v1/resources/{lab.local}/processes", json={"command": "true"})
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "local_account_missing"
    for words in (repr(name), "does not exist", "account rule", "local_create_accounts"):
        assert words in error["message"], error["message"]
    status = local_resource_of((await user.get("/api/v1/resources")).json()["resources"])
    assert status["status"]["state"] == "failed"
    assert status["status"]["error"]["code"] == "local_account_missing"
    assert name not in [entry.pw_name for entry in pwd.getpwall()]


@pytest.mark.parametrize("username", ["root", "daemon", "nobody"])
async def test_the_rule_never_maps_a_user_to_root_or_a_system_account(
    lab: Lab, username: str
) -> None:
    user = await lab.accounts.login(username)
    seen = local_resource_of((await user.get("/api/v1/resources")).json()["resources"])
    assert seen["remote_username"] == username
    answer = await user.post(f"/api/v1/resources/{lab.local}/processes", json={"command": "true"})
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "local_account_refused"
    assert repr(username) in error["message"]
    # How to map it explicitly, in the words of local's dialog.
    assert "as an exception" in error["message"]


async def test_the_rule_never_maps_a_user_to_a_privileged_or_anothers_account(
    lab: Lab, first_account: OsUser, second_account: OsUser
) -> None:
    """A name alone gets no powers: an account in a group that administers the machine
    (here adm, which reads every log) is refused to the rule, and so is an account an
    exception already gives to another user (they would share it)."""
    subprocess.run(["usermod", "-aG", "adm", first_account.name], check=True)
    sudoer = await lab.accounts.login(first_account.name)
    answer = await sudoer.post(f"/api/v1/resources/{lab.local}/processes", json={"command": "true"})
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "local_account_refused"
    assert "in the group adm" in answer.json()["error"]["message"]

    await lab.set_local(account_overrides={"carol": second_account.name})
    namesake = await lab.accounts.login(second_account.name)
    answer = await namesake.post(
        f"/api/v1/resources/{lab.local}/processes", json={"command": "true"}
    )
    assert answer.status_code == 409, answer.text
    assert "gives it to another labgate user" in answer.json()["error"]["message"]
    # The user the exception names gets it.
    carol = await lab.accounts.login("carol")
    probe = await run(carol, lab.local, "true")
    assert probe["exit_status"] == 0, probe


async def test_an_explicit_mapping_to_root_works_and_says_so(lab: Lab, tmp_path: Path) -> None:
    alice = await lab.accounts.login("alice")
    bob = await lab.accounts.login("bob")
    await lab.set_local(account_overrides={"alice": "root"})
    seen = local_resource_of((await alice.get("/api/v1/resources")).json()["resources"])
    assert (seen["remote_username"], seen["runs_as_root"]) == ("root", True)
    others = local_resource_of((await bob.get("/api/v1/resources")).json()["resources"])
    assert (others["remote_username"], others["runs_as_root"]) == ("bob", False)
    out = tmp_path / "uid.txt"
    probe = await run(alice, lab.local, f"id -u > {out}")
    assert probe["exit_status"] == 0, probe
    assert out.read_text().strip() == "0"


async def test_a_rule_without_username_is_explicit_too(lab: Lab) -> None:
    await lab.set_local(account_rule="root")
    alice = await lab.accounts.login("alice")
    seen = local_resource_of((await alice.get("/api/v1/resources")).json()["resources"])
    assert (seen["remote_username"], seen["runs_as_root"]) == ("root", True)
    probe = await run(alice, lab.local, "test $(id -u) = 0")
    assert probe["exit_status"] == 0, probe


async def test_local_create_accounts_creates_a_missing_account_on_first_use(lab: Lab) -> None:
    name = unique_account_name()
    lab.settings.local_create_accounts = True
    try:
        user = await lab.accounts.login(name)
        probe = await run(user, lab.local, "id -un > ~/me.txt")
        assert probe["exit_status"] == 0, probe
        entry = pwd.getpwnam(name)
        home = Path(entry.pw_dir)
        assert entry.pw_uid >= 1000
        assert entry.pw_gecos == f"labgate user {name}"
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert (home / "me.txt").read_text().strip() == name
        # Explicit mappings are never created.
        other = unique_account_name()
        await lab.set_local(account_overrides={"alice": other})
        alice = await lab.accounts.login("alice")
        answer = await alice.post(
            f"/api/v1/resources/{lab.local}/processes", json={"command": "true"}
        )
        assert answer.json()["error"]["code"] == "local_account_missing", answer.text
        assert other not in [e.pw_name for e in pwd.getpwall()]
    finally:
        remove_account(name)


async def test_the_data_directory_and_secret_are_the_servers_alone(tmp_path: Path) -> None:
    """An existing data directory and secret file that others could read are made
    private when the server opens them."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)
    secret = data_dir / SECRET_FILE
    secret.write_text("a server secret long enough to be one, surely\n")
    secret.chmod(0o644)
    Vault.from_settings(Settings(data_dir=data_dir))
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_the_banner_line_says_which_account_the_administrator_gets(
    first_account: OsUser, settings: Settings
) -> None:
    ordinary = AccountMapping(first_account.name, explicit=False)
    assert account_summary(ordinary, "admin", settings) == (
        f"On 'local', admin works as the OS account {first_account.name!r}."
    )
    root = account_summary(AccountMapping("root", explicit=True), "admin", settings)
    assert "(root: the machine's administrator account)" in root
    assert "refuses" in account_summary(AccountMapping("root", explicit=False), "root", settings)
    missing = AccountMapping(unique_account_name(), explicit=False)
    assert "does not exist yet" in account_summary(missing, "admin", settings)
    settings.local_create_accounts = True
    assert "created at the first connection" in account_summary(missing, "admin", settings)


def test_auto_gives_local_to_everyone_only_on_a_server_running_as_root() -> None:
    assert effective_local_resource("auto", server_is_root=True) == "everyone"
    assert effective_local_resource("auto", server_is_root=False) == "admins"
    for setting in ("admins", "everyone", "off"):
        assert effective_local_resource(setting, server_is_root=True) == setting


def _listening_socket(path: Path, owner: int) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    os.chown(path, owner, -1)
    return server


async def test_the_proxy_reaches_only_the_accounts_own_sockets(
    first_account: OsUser, second_account: OsUser, tmp_path: Path
) -> None:
    """The server connects to an app's socket with root's powers, so on a path the
    account controls it reaches only a socket the account owns: never one of root's or
    another account's, directly or through a symlink the account planted."""
    account = OsAccount.of(pwd.getpwnam(first_account.name))
    transport = LocalTransport(account=account)
    own, roots, others = tmp_path / "own.sock", tmp_path / "root.sock", tmp_path / "b.sock"
    servers = [
        _listening_socket(own, first_account.uid),
        _listening_socket(roots, 0),
        _listening_socket(others, second_account.uid),
    ]
    (tmp_path / "planted.sock").symlink_to(roots)
    try:
        _, writer = await transport.open_unix(str(own))
        writer.close()
        for refused in ("root.sock", "b.sock", "planted.sock"):
            with pytest.raises(StreamOpenFailed) as caught:
                await transport.open_unix(str(tmp_path / refused))
            assert refused in str(caught.value)
        with pytest.raises(StreamOpenFailed, match="Nothing answers"):
            await transport.open_unix(str(tmp_path / "missing.sock"))
    finally:
        for server in servers:
            server.close()


async def test_a_deleted_users_exception_is_not_inherited_by_a_namesake(lab: Lab) -> None:
    """Exceptions name labgate users: deleting one removes theirs, so that a user
    created later with the same name is not given the old user's account (root here)."""
    await lab.accounts.login("alice")
    mapped = await lab.set_local(account_overrides={"alice": "root", "bob": "lgt-bob"})
    assert mapped["account_overrides"]["alice"] == "root"
    deleted = await lab.admin.delete("/api/v1/users/alice")
    assert deleted.status_code == 204, deleted.text
    listing = (await lab.admin.get("/api/v1/resources")).json()["resources"]
    assert local_resource_of(listing)["account_overrides"] == {"bob": "lgt-bob"}
    namesake = await lab.accounts.login("alice")
    seen = local_resource_of((await namesake.get("/api/v1/resources")).json()["resources"])
    assert (seen["remote_username"], seen["runs_as_root"]) == ("alice", False)


async def test_another_user_cannot_take_an_accounts_runtime_directory_first(
    lab: Lab, first_account: OsUser, second_account: OsUser
) -> None:
    """The name the agent would take in /tmp when no runtime directory is given,
    made first by another account: the account's agent still starts, in the directory
    the server made for it under /run."""
    squatted = Path(f"/tmp/labgate-{first_account.uid}")
    squatted.mkdir(mode=0o700)
    os.chown(squatted, second_account.uid, second_account.uid)
    try:
        user = await lab.accounts.login(first_account.name)
        owned = 'test -n "$XDG_RUNTIME_DIR" && test -O "$XDG_RUNTIME_DIR"'
        probe = await run(user, lab.local, owned)
        assert probe["exit_status"] == 0, probe
    finally:
        shutil.rmtree(squatted, ignore_errors=True)
