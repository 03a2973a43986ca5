"""Signing in with a directory (labgate.auth.ldap) against a real OpenLDAP slapd.

The slapd (tests/support/slapd.py) holds people and groups, with the ppolicy overlay:
an account locked by an administrator, one whose password expired, one whose password
was reset; and one person with an Active Directory objectGUID. Sign-ins go through the
real login API; re-checks ask the provider itself.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import secrets
import socket
import tomllib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ldap3 import MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE, Connection, Server
from sqlalchemy import select

from labgate.app import create_app
from labgate.auth.ldap import LdapConfig, LdapProvider, ppolicy
from labgate.auth.ldap.ppolicy import PolicyError, PolicyResponse
from labgate.auth.providers import Recheck, Vouched, load_providers
from labgate.db.engine import Database
from labgate.db.models import Role, User, UserIdentity
from labgate.errors import ConfigurationError
from labgate.plugins.manager import Plugins
from labgate.settings import Settings
from tests.support.accounts import PASSWORD, AccountFactory
from tests.support.processes import skip_unless_root
from tests.support.slapd import SERVICE_DN, SERVICE_PASSWORD, SUFFIX, Slapd, running_slapd

LOGIN = "/api/v1/auth/login"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
LABEL = "Example directory"
#: Kim's objectGUID: bytes a filter must escape ('*', '(', ')', '\\', NUL) and that are
#: no UTF-8.
KIM_GUID = bytes.fromhex("2a28295c00ff10203040506070809aab")


def _person(uid: str, name: str, *extra: str) -> str:
    lines = [
        f"dn: uid={uid},{PEOPLE}",
        "objectClass: inetOrgPerson",
        f"uid: {uid}",
        f"cn: {name}",
        f"sn: {name.split()[-1]}",
        f"userPassword: {uid.lower()} password",
        *extra,
    ]
    return "\n".join(lines) + "\n"


def _group(name: str, *members: str) -> str:
    lines = [f"dn: cn={name},{GROUPS}", "objectClass: groupOfNames", f"cn: {name}"]
    lines += [f"member: uid={uid},{PEOPLE}" for uid in members]
    return "\n".join(lines) + "\n"


def _entries() -> str:
    a_day_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    policies = f"""\
dn: cn=expiring,ou=policies,{SUFFIX}
objectClass: device
objectClass: pwdPolicy
cn: expiring
pwdAttribute: userPassword
pwdMaxAge: 86400
pwdGraceAuthNLimit: 0

dn: cn=warning,ou=policies,{SUFFIX}
objectClass: device
objectClass: pwdPolicy
cn: warning
pwdAttribute: userPassword
pwdMaxAge: 864000
pwdExpireWarning: 864000

dn: cn=reset,ou=policies,{SUFFIX}
objectClass: device
objectClass: pwdPolicy
cn: reset
pwdAttribute: userPassword
pwdMustChange: TRUE
"""
    people = [
        _person("alice", "Alice Example", "mail: alice@example.org"),
        _person("bob", "Bob Example", "mail: bob@example.org"),
        _person("carol", "Carol Locked", "pwdAccountLockedTime: 000001010000Z"),
        _person(
            "dave",
            "Dave Expired",
            f"pwdPolicySubentry: cn=expiring,ou=policies,{SUFFIX}",
            "pwdChangedTime: 20000101000000Z",
        ),
        _person(
            "erin",
            "Erin Reset",
            f"pwdPolicySubentry: cn=reset,ou=policies,{SUFFIX}",
            "pwdReset: TRUE",
        ),
        _person(
            "frank",
            "Frank Expiring",
            f"pwdPolicySubentry: cn=warning,ou=policies,{SUFFIX}",
            f"pwdChangedTime: {a_day_ago:%Y%m%d%H%M%SZ}",
        ),
        _person("gina", "Gina Chemist"),
        _person("henry", "Henry Nogroup"),
        _person("ivan", "Ivan Leaving"),
        _person("judy", "Judy Later"),
        _person("Laura", "Laura Capital"),
        _person(
            "kim",
            "Kim Windows",
            "objectClass: adGuid",
            f"objectGUID:: {base64.b64encode(KIM_GUID).decode()}",
        ),
    ]
    groups = [
        _group("facility-admins", "alice"),
        _group("beamline-staff", "alice", "judy"),
        _group("physics", "alice", "bob", "ivan", "judy"),
        f"dn: cn=chemistry,{GROUPS}\nobjectClass: posixGroup\ncn: chemistry\n"
        "gidNumber: 5001\nmemberUid: gina\n",
    ]
    return "\n".join([policies, *people, *groups])


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    skip_unless_root("a private slapd")
    with running_slapd(tmp_path_factory.mktemp("slapd"), _entries()) as server:
        yield server


def search_config(directory: Slapd, **more: Any) -> dict[str, Any]:
    """Search-then-bind over StartTLS, with groups: a typical OpenLDAP."""
    return {
        "label": LABEL,
        "url": directory.url,
        "start_tls": True,
        "ca_file": str(directory.ca_path),
        "timeout_seconds": 5,
        "bind_dn": SERVICE_DN,
        "bind_password": SERVICE_PASSWORD,
        "user_base": PEOPLE,
        "group_base": GROUPS,
        "roles": {"facility-admins": "admin", "beamline-staff": "staff"},
        "groups": {"physics": "physics", f"cn=chemistry,{GROUPS}": "chemistry"},
        **more,
    }


def bind_config(directory: Slapd, **more: Any) -> dict[str, Any]:
    """Binding as the person over LDAPS."""
    return {
        "label": LABEL,
        "url": directory.tls_url,
        "ca_file": str(directory.ca_path),
        "timeout_seconds": 5,
        "user_dn_template": f"uid={{username}},{PEOPLE}",
        "group_base": GROUPS,
        "roles": {"facility-admins": "admin"},
        "groups": {"physics": "physics"},
        **more,
    }


@contextlib.asynccontextmanager
async def signing_in(
    settings: Settings,
    database: Database,
    ldap: dict[str, Any],
    providers: tuple[str, ...] = ("ldap", "local"),
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose sign-in asks ``providers`` with ``ldap`` as [auth.ldap]."""
    configured = settings.model_copy(
        update={"auth_providers": list(providers), "auth": {"ldap": ldap}}
    )
    application = create_app(configured, database=database, bootstrap=False)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def sign_in(http: httpx.AsyncClient, username: str, password: str = "") -> httpx.Response:
    return await http.post(
        LOGIN, json={"username": username, "password": password or f"{username} password"}
    )


def provider_for(settings: Settings, ldap: dict[str, Any]) -> LdapProvider:
    return LdapProvider(settings, LdapConfig.model_validate(ldap))


def entry_uuid(directory: Slapd, dn: str) -> str:
    with directory.admin() as admin:
        admin.search(dn, "(objectClass=*)", "BASE", attributes=["entryUUID"])
        return str(admin.entries[0].entryUUID.value)


@contextlib.contextmanager
def changed(
    directory: Slapd, dn: str, changes: dict[str, Any], undo: dict[str, Any]
) -> Iterator[None]:
    """``changes`` made to ``dn`` for the block, then ``undo``."""
    with directory.admin() as admin:
        assert admin.modify(dn, changes), admin.result
    try:
        yield
    finally:
        with directory.admin() as admin:
            assert admin.modify(dn, undo), admin.result


def closed_port() -> int:
    """A loopback port nothing listens on (refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- signing in ---------------------------------------------------------------------------


async def test_search_then_bind_over_starttls_maps_groups_to_a_role_and_groups(
    settings: Settings, database: Database, directory: Slapd
) -> None:
    async with signing_in(settings, database, search_config(directory)) as http:
        answer = await sign_in(http, "alice")
        assert answer.status_code == 200, answer.text
        user = answer.json()["user"]
        assert user["username"] == "alice"
        assert user["display_name"] == "Alice Example"
        assert user["email"] == "alice@example.org"
        # facility-admins (admin) and beamline-staff (staff): the highest wins.
        assert user["role"] == "admin"
        assert user["groups"] == ["physics"]
        assert (await http.get("/api/v1/users/me")).json()["username"] == "alice"
    async with database.session() as db:
        identity = (await db.scalars(select(UserIdentity))).one()
    assert identity.provider == "ldap"
    assert identity.subject == entry_uuid(directory, f"uid=alice,{PEOPLE}")
    assert identity.label == "alice"


async def test_binding_as_the_person_over_ldaps(
    settings: Settings, database: Database, directory: Slapd
) -> None:
    async with signing_in(settings, database, bind_config(directory)) as http:
        answer = await sign_in(http, "bob")
        assert answer.status_code == 200, answer.text
        user = answer.json()["user"]
        assert (user["username"], user["role"], user["groups"]) == ("bob", "user", ["physics"])
        assert user["email"] == "bob@example.org"
        wrong = await sign_in(http, "bob", "not bob's password")
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "invalid_credentials"


async def test_a_group_change_in_the_directory_applies_at_the_next_sign_in(
    settings: Settings, database: Database, directory: Slapd
) -> None:
    bob = f"uid=bob,{PEOPLE}"
    async with signing_in(settings, database, search_config(directory)) as http:
        # Another administrator: the mapping never demotes the last one (that is
        # tests/test_sign_in_flow.py's), and bob is to become one and stop being one.
        assert (await sign_in(http, "alice")).json()["user"]["role"] == "admin"
        first = (await sign_in(http, "bob")).json()["user"]
        assert (first["role"], first["groups"]) == ("user", ["physics"])
        with (
            changed(
                directory,
                f"cn=facility-admins,{GROUPS}",
                {"member": [(MODIFY_ADD, [bob])]},
                {"member": [(MODIFY_DELETE, [bob])]},
            ),
            changed(
                directory,
                f"cn=physics,{GROUPS}",
                {"member": [(MODIFY_DELETE, [bob])]},
                {"member": [(MODIFY_ADD, [bob])]},
            ),
        ):
            again = await sign_in(http, "bob")
            assert again.status_code == 200, again.text
            user = again.json()["user"]
            assert (user["role"], user["groups"]) == ("admin", [])
        back = (await sign_in(http, "bob")).json()["user"]
        assert (back["role"], back["groups"]) == ("user", ["physics"])


async def test_posix_groups_name_members_by_uid(
    settings: Settings, database: Database, directory: Slapd
) -> None:
    both = (
        "(|(&(objectClass=groupOfNames)(member={dn}))"
        "(&(objectClass=posixGroup)(memberUid={username})))"
    )
    async with signing_in(settings, database, search_config(directory, group_filter=both)) as http:
        answer = await sign_in(http, "gina")
        assert answer.status_code == 200, answer.text
        assert answer.json()["user"]["groups"] == ["chemistry"]
        assert answer.json()["user"]["role"] == "user"  # in none of the roles' groups


async def test_a_name_the_directory_spells_in_capitals_signs_in_lower_case(
    settings: Settings, database: Database, directory: Slapd
) -> None:
    async with signing_in(settings, database, search_config(directory)) as http:
        answer = await sign_in(http, "LAURA", "laura password")
        assert answer.status_code == 200, answer.text
        assert answer.json()["user"]["username"] == "laura"
    async with database.session() as db:
        assert (await db.scalars(select(UserIdentity.label))).one() == "Laura"


@pytest.mark.parametrize("mode", ["search", "bind"])
async def test_a_wrong_password_and_an_unknown_name_look_the_same(
    settings: Settings, database: Database, directory: Slapd, mode: str
) -> None:
    config = search_config(directory) if mode == "search" else bind_config(directory)
    async with signing_in(settings, database, config) as http:
        wrong = await sign_in(http, "alice", "not alice's password")
        unknown = await sign_in(http, "nobody")
        wildcard = await sign_in(http, "al*", "alice password")  # escaped, not a pattern
        injected = await sign_in(http, "alice)(uid=*", "alice password")
        assert wrong.status_code == unknown.status_code == wildcard.status_code == 401
        assert injected.status_code == 401
        assert wrong.json() == unknown.json() == wildcard.json() == injected.json()
        assert wrong.json()["error"]["message"] == "Wrong user name or password."


@pytest.mark.parametrize("password", ["carol password", "not carol's password"])
async def test_a_locked_account_is_told_whatever_the_password(
    settings: Settings, database: Database, directory: Slapd, password: str
) -> None:
    # slapd (ppolicy with olcPPolicyUseLockout) answers accountLocked to any password.
    async with signing_in(settings, database, search_config(directory)) as http:
        answer = await sign_in(http, "carol", password)
        assert answer.status_code == 401
        error = answer.json()["error"]
        assert error["code"] == "sign_in_refused"
        assert error["message"] == (
            f"This account is locked in the directory ({LABEL}). Ask the directory's "
            "administrators to unlock it."
        )
        assert "set-cookie" not in answer.headers


async def test_an_expired_password_is_told_only_with_the_right_password(
    settings: Settings, database: Database, directory: Slapd
) -> None:
    async with signing_in(settings, database, bind_config(directory)) as http:
        right = await sign_in(http, "dave")
        assert right.status_code == 401
        assert right.json()["error"]["code"] == "sign_in_refused"
        assert "password of this account has expired" in right.json()["error"]["message"]
        wrong = await sign_in(http, "dave", "not dave's password")
        assert wrong.json()["error"]["code"] == "invalid_credentials"


async def test_a_reset_password_must_be_changed_first(
    settings: Settings, database: Database, directory: Slapd
) -> None:
    async with signing_in(settings, database, search_config(directory)) as http:
        answer = await sign_in(http, "erin")
        assert answer.status_code == 401
        assert "was reset" in answer.json()["error"]["message"]
        assert "Change it" in answer.json()["error"]["message"]


async def test_a_password_about_to_expire_still_signs_in(
    settings: Settings, database: Database, directory: Slapd
) -> None:
    async with signing_in(settings, database, search_config(directory)) as http:
        assert (await sign_in(http, "frank")).status_code == 200


async def test_allowed_groups_keep_others_out_with_a_sentence(
    settings: Settings, database: Database, directory: Slapd
) -> None:
    config = search_config(directory, allowed_groups=["physics", f"cn=beamline-staff,{GROUPS}"])
    async with signing_in(settings, database, config) as http:
        assert (await sign_in(http, "bob")).status_code == 200
        refused = await sign_in(http, "henry")
        assert refused.status_code == 401
        assert refused.json()["error"]["message"] == (
            f"Your account in the directory ({LABEL}) is not in a group allowed to use "
            "labgate. Ask an administrator to add you to one."
        )


# -- what the directory vouches for ---------------------------------------------------------


@pytest.mark.parametrize("trust_email", [False, True])
async def test_the_address_is_vouched_for_only_when_the_settings_trust_it(
    settings: Settings, database: Database, directory: Slapd, trust_email: bool
) -> None:
    # People may often edit their own mail: unless the administrators say the
    # directory's addresses are theirs to give, one names nobody an experiment's member.
    config = search_config(directory, trust_email=trust_email)
    vouched = await provider_for(settings, config).authenticate(database, "alice", "alice password")
    assert isinstance(vouched, Vouched)
    assert (vouched.email, vouched.email_verified) == ("alice@example.org", trust_email)
    async with signing_in(settings, database, config) as http:
        answer = await sign_in(http, "alice")
        assert answer.status_code == 200, answer.text
        assert answer.json()["user"]["email"] == "alice@example.org"


@pytest.mark.parametrize("mode", ["search", "bind"])
async def test_names_are_os_accounts_only_when_the_settings_say(
    settings: Settings, database: Database, directory: Slapd, mode: str
) -> None:
    make = search_config if mode == "search" else bind_config
    unsaid = await provider_for(settings, make(directory)).authenticate(
        database, "bob", "bob password"
    )
    said = await provider_for(settings, make(directory, names_are_os_accounts=True)).authenticate(
        database, "bob", "bob password"
    )
    assert isinstance(unsaid, Vouched)
    assert isinstance(said, Vouched)
    assert (unsaid.username, unsaid.name_is_os_account) == ("bob", False)
    assert (said.username, said.name_is_os_account) == ("bob", True)


# -- the subject: never reused ---------------------------------------------------------------


async def test_a_new_entry_at_an_old_dn_is_another_person(
    settings: Settings, database: Database, directory: Slapd
) -> None:
    name = f"nina{secrets.token_hex(3)}"
    dn = f"uid={name},{PEOPLE}"

    def hire(password: str) -> None:
        with directory.admin() as admin:
            assert admin.add(
                dn,
                ["inetOrgPerson"],
                {"uid": name, "cn": "Nina", "sn": "Nina", "userPassword": password},
            ), admin.result

    provider = provider_for(settings, search_config(directory))
    hire("first password")
    try:
        async with signing_in(settings, database, search_config(directory)) as http:
            assert (await sign_in(http, name, "first password")).status_code == 200
            first = entry_uuid(directory, dn)
            # Nina leaves; a new hire gets her name, so her DN, and a password of their own.
            with directory.admin() as admin:
                assert admin.delete(dn), admin.result
            hire("second password")
            assert entry_uuid(directory, dn) != first
            newcomer = await sign_in(http, name, "second password")
            assert newcomer.status_code == 401
            assert newcomer.json()["error"]["message"] == (
                f"A labgate account named '{name}' already exists and is not linked to your "
                f"sign-in with {LABEL}. Ask an administrator to link them."
            )
        async with database.session() as db:
            identity = (await db.scalars(select(UserIdentity))).one()
        assert identity.subject == first
        # The first Nina's identity no longer holds: her sessions end.
        assert await provider.recheck(first, None) == Recheck(False)
        assert await provider.recheck(entry_uuid(directory, dn), None) == Recheck(True)
    finally:
        with directory.admin() as admin:
            admin.delete(dn)


@pytest.mark.parametrize("mode", ["search", "bind"])
async def test_active_directory_s_object_guid_is_the_subject_in_hex(
    settings: Settings, database: Database, directory: Slapd, mode: str
) -> None:
    make = search_config if mode == "search" else bind_config
    config = make(directory, subject_attribute="objectGUID")
    async with signing_in(settings, database, config) as http:
        answer = await sign_in(http, "kim")
        assert answer.status_code == 200, answer.text
    async with database.session() as db:
        identity = (await db.scalars(select(UserIdentity))).one()
    assert identity.subject == KIM_GUID.hex()


async def test_recheck_finds_the_entry_by_its_object_guid(
    settings: Settings, directory: Slapd
) -> None:
    provider = provider_for(settings, search_config(directory, subject_attribute="objectGUID"))
    assert await provider.recheck(KIM_GUID.hex(), None) == Recheck(True)
    # Another GUID, the GUID's text rather than its hex, a filter's wildcard: nobody.
    other = bytes(reversed(KIM_GUID)).hex()
    for subject in (other, KIM_GUID.hex().upper(), "*", KIM_GUID.hex()[:-2]):
        assert await provider.recheck(subject, None) == Recheck(False), subject


@pytest.mark.parametrize("mode", ["search", "bind"])
async def test_an_entry_without_the_subject_attribute_is_refused_never_named_by_its_dn(
    settings: Settings,
    database: Database,
    directory: Slapd,
    mode: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    make = search_config if mode == "search" else bind_config
    config = make(directory, subject_attribute="objectGUID")  # Alice has none
    async with signing_in(settings, database, config) as http:
        answer = await sign_in(http, "alice")
        assert answer.status_code == 401
        assert answer.json()["error"] == {
            "code": "sign_in_refused",
            "message": (
                f"Your entry in the directory ({LABEL}) has no objectGUID, which labgate "
                "needs to recognise you at every sign-in. Ask an administrator to look into "
                "it (labgate's log names your entry)."
            ),
        }
        # Told only after the right password.
        wrong = await sign_in(http, "alice", "not alice's password")
        assert wrong.json()["error"]["code"] == "invalid_credentials"
    assert f"uid=alice,{PEOPLE} has no objectGUID (subject_attribute)" in caplog.text
    async with database.session() as db:
        assert (await db.scalars(select(UserIdentity))).all() == []
        assert await db.scalar(select(User).where(User.username == "alice")) is None


# -- a directory that cannot be asked ------------------------------------------------------


async def test_an_unreachable_directory_is_told_and_local_accounts_still_sign_in(
    settings: Settings, database: Database, directory: Slapd
) -> None:
    config = search_config(directory, url=f"ldap://127.0.0.1:{closed_port()}")
    async with signing_in(settings, database, config) as http:
        answer = await sign_in(http, "alice")
        assert answer.status_code == 503
        error = answer.json()["error"]
        assert error["code"] == "identity_provider_unavailable"
        assert error["message"] == (
            f"The directory ({LABEL}) cannot be reached: try again later, or sign in "
            "another way if you have one."
        )
        await AccountFactory(None, database, settings).user("localuser")
        # ldap is asked first and cannot answer: local is asked all the same.
        local = await http.post(LOGIN, json={"username": "localuser", "password": PASSWORD})
        assert local.status_code == 200, local.text
        assert local.json()["user"]["username"] == "localuser"


async def test_a_directory_that_never_answers_times_out(
    settings: Settings, database: Database, directory: Slapd
) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections are made by the kernel and never answered
        url = f"ldap://127.0.0.1:{silent.getsockname()[1]}"
        config = search_config(directory, url=url, start_tls=False, timeout_seconds=1)
        async with signing_in(settings, database, config) as http:
            answer = await sign_in(http, "alice")
    assert answer.status_code == 503
    assert "cannot be reached" in answer.json()["error"]["message"]


async def test_the_next_url_is_tried_when_the_first_server_is_down(
    settings: Settings, database: Database, directory: Slapd
) -> None:
    config = search_config(directory, url=[f"ldap://127.0.0.1:{closed_port()}", directory.url])
    async with signing_in(settings, database, config) as http:
        assert (await sign_in(http, "alice")).status_code == 200


@pytest.mark.parametrize("tls", ["ldaps", "starttls", "ldaps-to-plain"])
async def test_a_certificate_from_another_ca_is_a_tls_message(
    settings: Settings, database: Database, directory: Slapd, tls: str
) -> None:
    other = str(directory.other_ca_path)
    if tls == "ldaps":
        config = bind_config(directory, ca_file=other)
    elif tls == "starttls":
        config = search_config(directory, ca_file=other)
    else:  # a server that does not speak TLS there
        config = bind_config(directory, url=f"ldaps://127.0.0.1:{directory.port}")
    async with signing_in(settings, database, config) as http:
        answer = await sign_in(http, "alice")
    assert answer.status_code == 503
    assert answer.json()["error"]["message"] == (
        f"The directory ({LABEL}) cannot be reached securely: TLS with it failed (its "
        "certificate is not trusted, or it does not offer TLS). Tell an administrator, and "
        "sign in another way meanwhile if you have one."
    )


async def test_a_certificate_for_another_host_name_is_a_tls_message(
    settings: Settings, database: Database, directory: Slapd
) -> None:
    # The server's certificate names 127.0.0.1 only.
    config = bind_config(directory, url=f"ldaps://localhost:{directory.tls_port}")
    async with signing_in(settings, database, config) as http:
        answer = await sign_in(http, "alice")
    assert answer.status_code == 503
    assert "cannot be reached securely" in answer.json()["error"]["message"]


async def test_a_refused_service_account_is_for_the_administrators(
    settings: Settings, database: Database, directory: Slapd, caplog: pytest.LogCaptureFixture
) -> None:
    config = search_config(directory, bind_password="not the service password")
    async with signing_in(settings, database, config) as http:
        answer = await sign_in(http, "alice")
    assert answer.status_code == 503
    assert "Tell an administrator" in answer.json()["error"]["message"]
    assert f"the service account {SERVICE_DN} was refused" in caplog.text


async def test_the_service_password_can_come_from_a_file(
    settings: Settings, database: Database, directory: Slapd, tmp_path: Path
) -> None:
    secret = tmp_path / "ldap-password"
    secret.write_text(SERVICE_PASSWORD + "\n")
    config = search_config(directory)
    del config["bind_password"]
    config["bind_password_file"] = str(secret)
    async with signing_in(settings, database, config) as http:
        assert (await sign_in(http, "alice")).status_code == 200


async def test_the_worked_example_of_the_admin_guide_signs_in(
    settings: Settings, database: Database, directory: Slapd, tmp_path: Path
) -> None:
    guide = (Path(__file__).parents[1] / "docs" / "admin-guide.md").read_text()
    section = guide.split("### LDAP", 1)[1].split("\n### ", 1)[0]
    example = next(block for block in section.split("```toml")[1:] if "[auth.ldap.roles]" in block)
    example = example.split("```", 1)[0].replace("/etc/labgate/", f"{tmp_path}/")
    # Its first server is down, its second is the test's slapd.
    example = example.replace("ldap://ldap1.example.org", f"ldap://127.0.0.1:{closed_port()}")
    example = example.replace("ldap://ldap2.example.org", directory.url)
    (tmp_path / "university-ca.pem").write_bytes(directory.ca_path.read_bytes())
    (tmp_path / "ldap-password").write_text(SERVICE_PASSWORD + "\n")
    parsed = tomllib.loads(example)
    providers = tuple(parsed["auth_providers"])
    async with signing_in(settings, database, parsed["auth"]["ldap"], providers) as http:
        answer = await sign_in(http, "alice")
        assert answer.status_code == 200, answer.text
        user = answer.json()["user"]
        assert (user["role"], user["groups"]) == ("admin", ["physics"])
        gina = await sign_in(http, "gina")  # in no group the example allows
        assert "not in a group allowed" in gina.json()["error"]["message"]


# -- re-checking ---------------------------------------------------------------------------


async def test_recheck_holds_for_an_entry_still_there(settings: Settings, directory: Slapd) -> None:
    provider = provider_for(settings, search_config(directory))
    subject = entry_uuid(directory, f"uid=alice,{PEOPLE}")
    assert await provider.recheck(subject, None) == Recheck(True)
    # A DN names no identity: the next person given that DN would inherit it.
    assert await provider.recheck(f"uid=alice,{PEOPLE}", None) == Recheck(False)
    assert await provider.recheck("*", None) == Recheck(False)  # escaped, not a pattern


async def test_recheck_refuses_an_entry_gone(settings: Settings, directory: Slapd) -> None:
    provider = provider_for(settings, search_config(directory))
    dn = f"uid=ivan,{PEOPLE}"
    subject = entry_uuid(directory, dn)
    assert await provider.recheck(subject, None) == Recheck(True)
    with directory.admin() as admin:
        assert admin.modify(f"cn=physics,{GROUPS}", {"member": [(MODIFY_DELETE, [dn])]})
        assert admin.delete(dn), admin.result
    assert await provider.recheck(subject, None) == Recheck(False)


async def test_recheck_refuses_an_entry_an_administrator_locked(
    settings: Settings, directory: Slapd
) -> None:
    provider = provider_for(settings, search_config(directory))
    dn = f"uid=judy,{PEOPLE}"
    subject = entry_uuid(directory, dn)
    locked = {"pwdAccountLockedTime": [(MODIFY_REPLACE, ["000001010000Z"])]}
    unlocked = {"pwdAccountLockedTime": [(MODIFY_DELETE, [])]}
    with changed(directory, dn, locked, unlocked):
        assert await provider.recheck(subject, None) == Recheck(False)
    # A lockout after failed passwords (the time it began) blocks new sign-ins, but
    # does not end the sessions of the one who holds the password.
    now = datetime.datetime.now(datetime.UTC)
    with changed(
        directory,
        dn,
        {"pwdAccountLockedTime": [(MODIFY_REPLACE, [f"{now:%Y%m%d%H%M%SZ}"])]},
        unlocked,
    ):
        assert await provider.recheck(subject, None) == Recheck(True)
    assert await provider.recheck(subject, None) == Recheck(True)


async def test_recheck_follows_allowed_groups_and_the_user_filter(
    settings: Settings, directory: Slapd
) -> None:
    subject = entry_uuid(directory, f"uid=judy,{PEOPLE}")
    physicists = provider_for(settings, search_config(directory, allowed_groups=["physics"]))
    chemists = provider_for(settings, search_config(directory, allowed_groups=["chemistry"]))
    assert await physicists.recheck(subject, None) == Recheck(True)
    assert await chemists.recheck(subject, None) == Recheck(False)
    # An entry the filter no longer finds (a filter that leaves out disabled people).
    staff_only = provider_for(
        settings,
        search_config(
            directory,
            user_filter="(&(uid={username})(employeeType=staff))",
        ),
    )
    assert await staff_only.recheck(subject, None) == Recheck(False)


async def test_recheck_cannot_tell_without_a_server_or_a_service_account(
    settings: Settings, directory: Slapd
) -> None:
    subject = entry_uuid(directory, f"uid=alice,{PEOPLE}")
    down = provider_for(settings, search_config(directory, url=f"ldap://127.0.0.1:{closed_port()}"))
    assert await down.recheck(subject, None) == Recheck(None)
    as_person = provider_for(settings, bind_config(directory))
    assert await as_person.recheck(subject, None) == Recheck(None)


async def test_an_empty_password_is_never_an_anonymous_bind(
    settings: Settings, database: Database, directory: Slapd
) -> None:
    provider = provider_for(settings, bind_config(directory))
    assert await provider.authenticate(database, "alice", "") is None


# -- the password policy control ----------------------------------------------------------

#: Response controls slapd 2.5.13 (Debian 12) sent, captured with ldap3.
CAPTURED = {
    # a right password, nothing to say
    b"0\x00": PolicyResponse(),
    # pwdAccountLockedTime set: to the right password and to a wrong one
    b"0\x03\x81\x01\x01": PolicyResponse(error=PolicyError.ACCOUNT_LOCKED),
    # pwdMaxAge passed, no grace left: to the right password only
    b"0\x03\x81\x01\x00": PolicyResponse(error=PolicyError.PASSWORD_EXPIRED),
    # pwdReset: the bind succeeds, and only a password change may follow
    b"0\x03\x81\x01\x02": PolicyResponse(error=PolicyError.CHANGE_AFTER_RESET),
    # pwdExpireWarning: nine days left
    b"0\x07\xa0\x05\x80\x03\x0b\xdd\x80": PolicyResponse(seconds_before_expiration=777600),
    # pwdGraceAuthNLimit: a sign-in after expiry, two more allowed
    b"0\x05\xa0\x03\x81\x01\x02": PolicyResponse(grace_sign_ins_remaining=2),
}


@pytest.mark.parametrize(("value", "meaning"), list(CAPTURED.items()))
def test_password_policy_responses_slapd_sent(value: bytes, meaning: PolicyResponse) -> None:
    assert ppolicy.decode(value) == meaning


@pytest.mark.parametrize(
    "value",
    [b"", b"0", b"0\x03\x81\x01\x63", b"0\x03\x81\x01\x01\x00", b"\x04\x00", b"0\x03\x80\x01\x01"],
)
def test_a_malformed_password_policy_response_is_refused(value: bytes) -> None:
    with pytest.raises(ppolicy.BadControl):
        ppolicy.decode(value)


def test_the_password_policy_response_of_a_live_bind(directory: Slapd) -> None:
    connection = Connection(
        Server(directory.host, port=directory.port), user=f"uid=carol,{PEOPLE}", password="x"
    )
    connection.open()
    try:
        assert not connection.bind(controls=[ppolicy.REQUEST])
        assert ppolicy.from_result(connection.result) == PolicyResponse(
            error=PolicyError.ACCOUNT_LOCKED
        )
    finally:
        connection.unbind()


# -- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"user_dn_template": "uid={username},ou=people"}, "not both nor neither"),
        ({"bind_dn": None}, "not both nor neither"),
        ({"bind_password": None}, "bind_password or bind_password_file"),
        ({"user_base": None}, "set user_base"),
        ({"user_filter": "(uid=alice)"}, "user_filter must hold"),
        ({"user_filter": "(uid={user})"}, "user_filter must hold"),
        ({"group_filter": "(member={dn})(cn={group})"}, "group_filter may hold only"),
        ({"url": "ldaps://127.0.0.1:636"}, "start_tls is for ldap://"),
        ({"url": "http://127.0.0.1"}, "not an ldap://host:port"),
        ({"url": "ldap://127.0.0.1:389/dc=example"}, "only the scheme, host and port"),
        ({"url": []}, "url"),
        ({"group_base": None}, "need group_base"),
        ({"groups": {"physics": "Physics Group"}}, "cannot be a labgate group name"),
        ({"roles": {"physics": "king"}}, "roles.physics"),
        ({"ca_file": "/nonexistent/ca.pem"}, "is not a file"),
        ({"ca_file": __file__}, "holds no PEM certificate"),
        ({"bind_pasword": "typo"}, "bind_pasword"),
        ({"subject_attribute": "entryDN"}, "holds the entry's DN"),
        ({"subject_attribute": "distinguishedName"}, "holds the entry's DN"),
        ({"subject_attribute": "entry UUID"}, "is not an attribute's name"),
        ({"trust_email": "maybe"}, "trust_email"),
    ],
)
def test_settings_are_checked_when_the_server_starts(
    settings: Settings, directory: Slapd, change: dict[str, Any], complaint: str
) -> None:
    config = {k: v for k, v in {**search_config(directory), **change}.items() if v is not None}
    configured = settings.model_copy(
        update={"auth_providers": ["local", "ldap"], "auth": {"ldap": config}}
    )
    with pytest.raises(ConfigurationError, match=complaint):
        load_providers(configured, Plugins.load(configured, entry_points=False))


def test_the_provider_is_built_in(settings: Settings, directory: Slapd) -> None:
    configured = settings.model_copy(
        update={"auth_providers": ["local", "ldap"], "auth": {"ldap": search_config(directory)}}
    )
    providers = load_providers(configured, Plugins.load(configured, entry_points=False))
    assert [(p.name, p.label) for p in providers] == [
        ("local", "labgate account"),
        ("ldap", LABEL),
    ]
    assert isinstance(providers[1], LdapProvider)
    assert providers[1].config.url == [directory.url]
    assert Role.ADMIN in providers[1].config.roles.values()
