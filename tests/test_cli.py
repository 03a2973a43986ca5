"""Tests for labgate.cli: the ``labgate`` command line over a SQLite data directory."""

from __future__ import annotations

import asyncio
import getpass
import json
import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import click
import pytest
from sqlalchemy import select

from labgate.accounts.users import get_user
from labgate.audit import SYSTEM
from labgate.cli.main import cli
from labgate.config_reference import reference_markdown
from labgate.db.engine import Database
from labgate.db.migrate import head_revision
from labgate.db.models import AppSession
from labgate.resources.catalog import create_resource
from labgate.sessions.tokens import new_session_id
from labgate.settings import Settings
from tests.support.cli import Labgate, call_app, command_paths, login_status
from tests.support.environment import isolate_settings_environment

PASSWORD = "correct horse battery"
NEW_PASSWORD = "staple battery horse"
COMMANDS = list(command_paths(cli))


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_settings_environment(monkeypatch)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"  # not created: the CLI must create it


@pytest.fixture
def labgate(data_dir: Path) -> Labgate:
    return Labgate(data_dir)


def add_user(labgate: Labgate, username: str, *, role: str = "user") -> None:
    labgate.ok("user", "add", username, "--role", role, "--password-stdin", input=PASSWORD + "\n")


def users_json(labgate: Labgate) -> dict[str, dict[str, object]]:
    return {u["username"]: u for u in json.loads(labgate.ok("user", "list", "--json"))}


def groups_json(labgate: Labgate) -> dict[str, dict[str, object]]:
    return {g["name"]: g for g in json.loads(labgate.ok("group", "list", "--json"))}


def printed_password(output: str) -> str:
    found = re.search(r"^Password: (\S+)$", output, re.MULTILINE)
    assert found, output
    return found.group(1)


# --- help -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "command"), COMMANDS, ids=[" ".join(w) or "labgate" for w, _ in COMMANDS]
)
def test_help(words: tuple[str, ...], command: click.Command, labgate: Labgate) -> None:
    output = labgate.ok(*words, "--help")

    assert output.startswith(f"Usage: {' '.join(('labgate', *words))} ")
    assert command.get_short_help_str(), "every command needs a docstring"
    assert command.get_short_help_str()[:20] in " ".join(output.split())


def test_short_help_option_and_version(labgate: Labgate) -> None:
    assert labgate.ok("-h").startswith("Usage: labgate ")
    assert labgate.ok("--version").startswith("labgate, version ")


# --- users ------------------------------------------------------------------------------


def test_user_add_reads_password_from_stdin(labgate: Labgate, data_dir: Path) -> None:
    output = labgate.ok(
        "user",
        "add",
        "alice",
        "--display-name",
        "Alice Liddell",
        "--email",
        "alice@example.org",
        "--password-stdin",
        input=PASSWORD + "\n",
    )

    assert output == "Created user 'alice'.\n"
    assert PASSWORD not in output
    assert login_status(data_dir, "alice", PASSWORD) == 200
    assert login_status(data_dir, "alice", NEW_PASSWORD) == 401


def test_user_add_generates_a_password(labgate: Labgate, data_dir: Path) -> None:
    output = labgate.ok("user", "add", "bob", "--role", "admin", "--generate-password")

    assert output.startswith("Created admin 'bob'.\n")
    assert login_status(data_dir, "bob", printed_password(output)) == 200


def test_user_list(labgate: Labgate) -> None:
    assert labgate.ok("user", "list") == "(none)\n"
    add_user(labgate, "alice")
    add_user(labgate, "root", role="admin")

    table = labgate.ok("user", "list").splitlines()
    listed = users_json(labgate)

    assert " ".join(table[0].split()) == "USERNAME ROLE DISPLAY_NAME DISABLED GROUPS LAST_LOGIN_AT"
    assert [line.split()[:2] for line in table[1:]] == [["alice", "user"], ["root", "admin"]]
    assert list(listed) == ["alice", "root"]
    assert listed["alice"]["role"] == "user"
    assert listed["alice"]["disabled"] is False
    assert listed["alice"]["groups"] == []
    assert listed["alice"]["last_login_at"] is None


def test_user_passwd(labgate: Labgate, data_dir: Path) -> None:
    add_user(labgate, "alice")

    output = labgate.ok("user", "passwd", "alice", "--password-stdin", input=NEW_PASSWORD + "\n")

    assert output == "Password of 'alice' changed.\n"
    assert login_status(data_dir, "alice", NEW_PASSWORD) == 200
    assert login_status(data_dir, "alice", PASSWORD) == 401

    generated = printed_password(labgate.ok("user", "passwd", "alice", "--generate-password"))
    assert login_status(data_dir, "alice", generated) == 200


def test_user_disable_and_enable(labgate: Labgate, data_dir: Path) -> None:
    add_user(labgate, "alice")

    assert labgate.ok("user", "disable", "alice") == "Disabled 'alice'.\n"
    assert users_json(labgate)["alice"]["disabled"] is True
    assert login_status(data_dir, "alice", PASSWORD) == 403

    assert labgate.ok("user", "enable", "alice") == "Enabled 'alice'.\n"
    assert users_json(labgate)["alice"]["disabled"] is False
    assert login_status(data_dir, "alice", PASSWORD) == 200


def test_user_set_role(labgate: Labgate) -> None:
    add_user(labgate, "alice")

    assert labgate.ok("user", "set-role", "alice", "admin") == "'alice' is now admin.\n"
    assert users_json(labgate)["alice"]["role"] == "admin"
    assert "'wizard' is not one of" in labgate.fails(
        "user", "set-role", "alice", "wizard", exit_code=2
    )


def test_user_delete(labgate: Labgate) -> None:
    add_user(labgate, "alice")

    assert "Aborted" in labgate.fails("user", "delete", "alice", input="n\n")
    assert "alice" in users_json(labgate)

    assert labgate.ok("user", "delete", "alice", "--yes") == "Deleted 'alice'.\n"
    assert users_json(labgate) == {}


def test_duplicate_user_is_refused(labgate: Labgate) -> None:
    add_user(labgate, "alice")

    error = labgate.fails("user", "add", "alice", "--password-stdin", input=NEW_PASSWORD + "\n")

    assert error == "Error: A user named 'alice' already exists.\n"


@pytest.mark.parametrize(
    "command",
    [
        ["user", "passwd", "ghost", "--generate-password"],
        ["user", "disable", "ghost"],
        ["user", "enable", "ghost"],
        ["user", "set-role", "ghost", "guest"],
        ["user", "delete", "ghost", "--yes"],
        ["token", "create", "--user", "ghost"],
        ["token", "list", "--user", "ghost"],
    ],
    ids=" ".join,
)
def test_unknown_user(command: list[str], labgate: Labgate) -> None:
    assert labgate.fails(*command) == "Error: There is no user 'ghost'.\n"


@pytest.mark.parametrize("name", ["Alice", "has space", "9lives", "x" * 33, ""])
def test_invalid_user_name(name: str, labgate: Labgate) -> None:
    error = labgate.fails("user", "add", name, "--password-stdin", input=PASSWORD + "\n")

    assert error.startswith("Error: A user name is 1-32 characters")
    assert users_json(labgate) == {}


def test_short_password_is_refused(labgate: Labgate) -> None:
    error = labgate.fails("user", "add", "alice", "--password-stdin", input="short\n")

    assert error == "Error: Passwords need at least 10 characters.\n"
    assert users_json(labgate) == {}


@pytest.mark.parametrize(
    ("command", "verb"),
    [
        (["user", "delete", "root", "--yes"], "deleted"),
        (["user", "disable", "root"], "disabled"),
        (["user", "set-role", "root", "user"], "demoted"),
    ],
)
def test_last_admin_is_kept(command: list[str], verb: str, labgate: Labgate) -> None:
    add_user(labgate, "root", role="admin")
    add_user(labgate, "alice")

    error = labgate.fails(*command)

    assert error == (f"Error: 'root' is the last active administrator and cannot be {verb}.\n")
    assert users_json(labgate)["root"]["role"] == "admin"
    assert users_json(labgate)["root"]["disabled"] is False


def test_an_admin_may_go_when_another_remains(labgate: Labgate) -> None:
    add_user(labgate, "root", role="admin")
    add_user(labgate, "deputy", role="admin")

    labgate.ok("user", "disable", "root")
    labgate.ok("user", "delete", "root", "--yes")

    assert list(users_json(labgate)) == ["deputy"]
    assert "last active administrator" in labgate.fails("user", "disable", "deputy")


# --- groups -----------------------------------------------------------------------------


def test_group_lifecycle(labgate: Labgate) -> None:
    add_user(labgate, "alice")
    add_user(labgate, "bob")

    assert labgate.ok("group", "add", "physics", "--description", "Lab 3") == (
        "Created group 'physics'.\n"
    )
    assert labgate.ok("group", "add-member", "physics", "alice", "bob") == (
        "Added alice, bob to 'physics'.\n"
    )
    assert groups_json(labgate)["physics"] == {
        "name": "physics",
        "description": "Lab 3",
        "members": ["alice", "bob"],
    }
    assert users_json(labgate)["alice"]["groups"] == ["physics"]
    group_row = labgate.ok("group", "list").splitlines()[1]
    assert " ".join(group_row.split()) == "physics alice,bob Lab 3"

    assert labgate.ok("group", "remove-member", "physics", "alice") == (
        "Removed alice from 'physics'.\n"
    )
    assert groups_json(labgate)["physics"]["members"] == ["bob"]

    assert labgate.ok("group", "delete", "physics", "--yes") == "Deleted group 'physics'.\n"
    assert labgate.ok("group", "list") == "(none)\n"
    assert list(users_json(labgate)) == ["alice", "bob"]  # members keep their accounts


def test_group_errors(labgate: Labgate) -> None:
    add_user(labgate, "alice")
    labgate.ok("group", "add", "physics")

    assert labgate.fails("group", "add", "physics") == (
        "Error: A group named 'physics' already exists.\n"
    )
    assert labgate.fails("group", "add", "Physics Lab").startswith(
        "Error: A group name is 1-32 characters"
    )
    assert labgate.fails("group", "delete", "chemistry", "--yes") == (
        "Error: There is no group 'chemistry'.\n"
    )
    assert labgate.fails("group", "remove-member", "physics", "alice") == (
        "Error: 'alice' is not a member of 'physics'.\n"
    )
    assert "Aborted" in labgate.fails("group", "delete", "physics", input="n\n")
    assert "Missing argument 'USERNAMES...'" in labgate.fails(
        "group", "add-member", "physics", exit_code=2
    )


def test_add_member_is_all_or_nothing(labgate: Labgate) -> None:
    add_user(labgate, "alice")
    labgate.ok("group", "add", "physics")

    error = labgate.fails("group", "add-member", "physics", "alice", "ghost")

    assert error == "Error: There is no user 'ghost'.\n"
    assert groups_json(labgate)["physics"]["members"] == []


# --- API tokens -------------------------------------------------------------------------


def test_token_create_prints_a_working_secret(labgate: Labgate, data_dir: Path) -> None:
    add_user(labgate, "alice")

    secret = labgate.ok("token", "create", "--user", "alice", "--name", "ci").strip()

    assert re.fullmatch(r"lgt_[A-Za-z0-9_-]{40,}", secret), secret
    me = call_app(
        data_dir, "GET", "/api/v1/users/me", headers={"Authorization": f"Bearer {secret}"}
    )
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "alice"
    wrong = call_app(
        data_dir, "GET", "/api/v1/users/me", headers={"Authorization": f"Bearer {secret[:-2]}xx"}
    )
    assert wrong.status_code == 401


def test_token_scopes_are_enforced(labgate: Labgate, data_dir: Path) -> None:
    add_user(labgate, "alice")
    secret = labgate.ok("token", "create", "--user", "alice", "--scope", "read").strip()
    bearer = {"Authorization": f"Bearer {secret}"}

    assert call_app(data_dir, "GET", "/api/v1/users/me", headers=bearer).status_code == 200
    change = call_app(
        data_dir, "PATCH", "/api/v1/users/me", headers=bearer, json={"display_name": "A"}
    )
    assert change.status_code == 403
    assert "'write' scope" in change.json()["error"]["message"]


def test_token_list_never_shows_secrets(labgate: Labgate) -> None:
    add_user(labgate, "alice")
    assert labgate.ok("token", "list", "--user", "alice") == "(none)\n"
    secret = labgate.ok("token", "create", "--user", "alice", "--name", "ci").strip()

    table = labgate.ok("token", "list", "--user", "alice")
    listed = json.loads(labgate.ok("token", "list", "--user", "alice", "--json"))

    assert secret not in table
    assert secret not in json.dumps(listed)
    assert secret[:10] in table
    assert len(listed) == 1
    assert listed[0]["name"] == "ci"
    assert listed[0]["prefix"] == secret[:10]
    assert listed[0]["scopes"] == ["read", "write"]
    assert listed[0]["revoked"] is False
    assert listed[0]["expires_at"] is not None


def test_token_lifetime_is_limited(labgate: Labgate, monkeypatch: pytest.MonkeyPatch) -> None:
    add_user(labgate, "alice")

    assert labgate.fails("token", "create", "--user", "alice", "--expires-days", "366") == (
        "Error: Tokens expire after at most 365 days.\n"
    )
    monkeypatch.setenv("LABGATE_API_TOKEN_MAX_DAYS", "7")
    assert labgate.fails("token", "create", "--user", "alice", "--expires-days", "8") == (
        "Error: Tokens expire after at most 7 days.\n"
    )
    assert labgate.ok("token", "create", "--user", "alice", "--expires-days", "7").startswith(
        "lgt_"
    )
    assert "0 is not in the range x>=1" in labgate.fails(
        "token", "create", "--user", "alice", "--expires-days", "0", exit_code=2
    )
    assert len(json.loads(labgate.ok("token", "list", "--user", "alice", "--json"))) == 1


def test_admin_scope_only_for_admins(labgate: Labgate) -> None:
    add_user(labgate, "alice")
    add_user(labgate, "root", role="admin")

    assert labgate.fails("token", "create", "--user", "alice", "--scope", "admin") == (
        "Error: Only administrators' tokens may have the admin scope.\n"
    )
    assert labgate.ok("token", "create", "--user", "root", "--scope", "admin").startswith("lgt_")


# --- configuration ----------------------------------------------------------------------


def test_config_show_masks_secrets(
    labgate: Labgate, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABGATE_ADMIN_PASSWORD", "hunter2hunter2")
    monkeypatch.setenv("LABGATE_DATABASE_URL", "postgresql://lab:s3cr3t-pw@db.example.org/lab")
    ldap = {"url": "ldaps://ldap.example.org", "bind_password": "d1rect0ry-pw"}
    ldap["bind_password_file"] = "/etc/labgate/ldap-password"
    monkeypatch.setenv("LABGATE_AUTH", json.dumps({"ldap": ldap}))

    text = labgate.ok("config", "show")
    values = json.loads(labgate.ok("config", "show", "--json"))

    for output in (text, json.dumps(values)):
        assert "hunter2hunter2" not in output
        assert "s3cr3t-pw" not in output
        assert "d1rect0ry-pw" not in output
    assert values["auth"]["ldap"] == {**ldap, "bind_password": "********"}
    assert re.search(r'^admin_password\s+= "\*{8}"$', text, re.MULTILINE), text
    assert values["admin_password"] == "********"
    assert values["database_url"] == "postgresql://lab:***@db.example.org/lab"
    assert values["data_dir"] == str(data_dir)
    assert values["port"] == 8000


def test_config_show_reads_the_config_file(labgate: Labgate, tmp_path: Path) -> None:
    config = tmp_path / "labgate.toml"
    config.write_text("port = 9123\n")

    values = json.loads(labgate.ok("--config", str(config), "config", "show", "--json"))

    assert values["port"] == 9123


def test_configuration_errors_are_one_line(labgate: Labgate, tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"

    error = labgate.fails("--config", str(missing), "config", "show")

    assert error == f"Error: Configuration file {missing} does not exist.\n"


def test_config_reference(labgate: Labgate, tmp_path: Path) -> None:
    target = tmp_path / "configuration.md"

    assert labgate.ok("config", "reference") == reference_markdown()
    assert labgate.ok("config", "reference", "-o", str(target)) == ""
    assert target.read_text() == reference_markdown()


# --- SSH certificate authority ----------------------------------------------------------


def test_ca_show_prints_the_ca_public_key_for_sshd(labgate: Labgate, data_dir: Path) -> None:
    first = labgate("ca", "show")
    again = labgate("ca", "show")

    assert first.exit_code == 0, first.output
    # Only the key line on standard output (`labgate ca show > labgate_ca.pub` works) ...
    key_type, _key_data, comment = first.stdout.strip().split(" ")
    assert (key_type, comment, first.stdout.count("\n")) == ("ssh-ed25519", "labgate-ca", 1)
    # ... the instructions on standard error, with the fingerprint OpenSSH computes.
    keygen = subprocess.run(
        ["ssh-keygen", "-l", "-f", "-"], input=first.stdout, capture_output=True, text=True
    )
    assert keygen.stdout.split()[1] in first.stderr
    assert "TrustedUserCAKeys /etc/ssh/labgate_ca.pub" in first.stderr
    # Made once, on first use, under the server secret kept in the data directory.
    assert again.stdout == first.stdout
    assert (data_dir / "secret.key").is_file()
    # Neither the directory nor the secret is readable by other accounts of the server.
    assert data_dir.stat().st_mode & 0o777 == 0o700
    assert (data_dir / "secret.key").stat().st_mode & 0o777 == 0o600
    events = json.loads(labgate.ok("audit", "list", "--json", "--event", "ssh_ca_created"))
    assert [e["actor"] for e in events] == [f"cli:{getpass.getuser()}"]


# --- database ---------------------------------------------------------------------------


def test_db_upgrade_and_current(labgate: Labgate, data_dir: Path) -> None:
    head = head_revision()

    assert labgate.ok("db", "current") == f"current: empty\nnewest:  {head}\n"
    assert labgate.ok("db", "upgrade") == f"Database at revision {head}.\n"
    assert labgate.ok("db", "current") == f"current: {head}\nnewest:  {head}\n"
    assert (data_dir / "labgate.sqlite3").is_file()


def test_command_line_changes_are_audited_with_the_unix_user(labgate: Labgate) -> None:
    labgate.ok("user", "add", "zoe", "--generate-password")
    labgate.ok("group", "add", "optics")
    labgate.ok("group", "add-member", "optics", "zoe")
    labgate.ok("user", "disable", "zoe")
    me = f"cli:{getpass.getuser()}"
    events = json.loads(labgate.ok("audit", "list", "--json", "--actor", me))
    assert [e["event"] for e in events] == [
        "user_updated",
        "group_member_added",
        "group_created",
        "user_created",
    ]
    assert events[0]["detail"] == {"changes": {"disabled": True}}
    table = labgate.ok("audit", "list", "--event", "user_created")
    assert "user_created" in table
    assert "zoe" in table
    assert "role=user" in table
    assert json.loads(labgate.ok("audit", "list", "--json", "--target", "nobody")) == []


# --- losing access --------------------------------------------------------------------


async def _running_sessions(data_dir: Path) -> dict[str, str]:
    """A running session of bob's on 'hpc' (shared with 'physics') and one of carol's on
    'admin-box' (shared with nobody: administrators only); session id by owner."""
    database = Database(Settings(data_dir=data_dir).effective_database_url)
    found: dict[str, str] = {}
    try:
        async with database.session() as db:
            for owner, name, groups in (("bob", "hpc", ["physics"]), ("carol", "admin-box", [])):
                user = await get_user(db, owner)
                resource = await create_resource(
                    db,
                    owner_id=None,
                    fields={"name": name, "host": "192.0.2.1", "username": ""},
                    hops=[],
                    groups=groups,
                    actor=SYSTEM,
                )
                session_id = new_session_id()
                db.add(
                    AppSession(
                        id=session_id,
                        user_id=user.id,
                        resource_id=resource.id,
                        template="webapp",
                        launcher="direct",
                        title=f"Web app on {name}",
                        state="running",
                        sealed_token=b"",
                    )
                )
                found[owner] = session_id
    finally:
        await database.dispose()
    return found


async def _session_states(data_dir: Path) -> dict[str, tuple[str, str]]:
    database = Database(Settings(data_dir=data_dir).effective_database_url)
    try:
        async with database.read() as db:
            rows = await db.execute(select(AppSession.id, AppSession.state, AppSession.message))
            return {session_id: (state, message) for session_id, state, message in rows}
    finally:
        await database.dispose()


def test_command_line_changes_stop_sessions_whose_users_lost_access(
    labgate: Labgate, data_dir: Path
) -> None:
    add_user(labgate, "root", role="admin")
    add_user(labgate, "bob")
    add_user(labgate, "carol", role="admin")
    labgate.ok("group", "add", "physics")
    labgate.ok("group", "add-member", "physics", "bob")
    sessions = asyncio.run(_running_sessions(data_dir))

    removed = labgate.ok("group", "remove-member", "physics", "bob")
    assert removed.splitlines() == [
        "Removed bob from 'physics'.",
        "1 session(s) on resources their users may no longer use are stopping; "
        "the labgate servers end them within 30 seconds.",
    ]
    demoted = labgate.ok("user", "set-role", "carol", "user")
    assert demoted.splitlines()[0] == "'carol' is now user."
    assert "1 session(s)" in demoted.splitlines()[1]
    assert asyncio.run(_session_states(data_dir)) == {
        sessions["bob"]: ("stopping", "you no longer have access to hpc"),
        sessions["carol"]: ("stopping", "you no longer have access to admin-box"),
    }
    # Nothing else to stop: nothing said.
    assert labgate.ok("user", "set-role", "root", "admin") == "'root' is now admin.\n"


# --- guests --------------------------------------------------------------------------------


def test_guest_invitations_from_the_command_line(labgate: Labgate, data_dir: Path) -> None:
    until = (datetime.now() + timedelta(days=30)).strftime("%Y-%m-%dT18:00")
    made = labgate.ok(
        "guests", "create", "--title", "School visit", "--seats", "2", "--expires", until
    )
    code = re.search(r"^Code: (\S+)$", made, re.MULTILINE)
    link = re.search(r"^Link: (\S+)$", made, re.MULTILINE)
    assert code, made
    assert link, made
    assert link.group(1) == f"http://127.0.0.1:8000/login?invitation={code.group(1)}"
    for expires, why in (("2099-01-01", "within a year"), ("soon", "is not a date and time")):
        refused = labgate.fails(
            "guests", "create", "--title", "No", "--seats", "2", "--expires", expires
        )
        assert why in refused, refused

    joined = call_app(
        data_dir,
        "POST",
        "/api/v1/auth/guest",
        json={"code": code.group(1), "display_name": "Pupil", "password": PASSWORD},
    )
    assert joined.status_code == 200, joined.text
    guest = joined.json()["user"]["username"]
    (listed,) = json.loads(labgate.ok("guests", "list", "--json"))
    assert (listed["code"], listed["used"], listed["state"], listed["guests"]) == (
        code.group(1),
        1,
        "open",
        [guest],
    )

    ended = labgate.ok("guests", "revoke", str(listed["id"]), "--end-accounts")
    assert ended.splitlines() == [f"Invitation {listed['id']} is withdrawn.", f"Removed: {guest}"]
    assert guest not in users_json(labgate)
    assert json.loads(labgate.ok("guests", "list", "--json"))[0]["state"] == "revoked"
    assert labgate.ok("guests", "expire") == "No guest account has ended.\n"
    assert "There is no guest invitation 99." in labgate.fails("guests", "revoke", "99")


def test_guest_invitations_need_the_local_provider_and_a_plain_title(
    labgate: Labgate, monkeypatch: pytest.MonkeyPatch
) -> None:
    until = (datetime.now() + timedelta(days=3)).strftime("%Y-%m-%dT18:00")
    # A byte that is not UTF-8 in the arguments comes as a lone surrogate.
    for title in ("Workshop \udcff", "Workshop \u202egnp.exe"):
        refused = labgate.fails(
            "guests", "create", "--title", title, "--seats", "2", "--expires", until
        )
        assert "without invisible formatting characters" in refused, refused
    monkeypatch.setenv("LABGATE_AUTH_PROVIDERS", json.dumps(["pam"]))
    refused = labgate.fails(
        "guests", "create", "--title", "Workshop", "--seats", "2", "--expires", until
    )
    assert (
        "Guests log in again with a labgate password, which needs the provider 'local' in "
        "auth_providers. Add it there to invite guests." in refused
    ), refused
    assert json.loads(labgate.ok("guests", "list", "--json")) == []
