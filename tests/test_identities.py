"""Identities at sign-in providers (labgate.accounts.identities, labgate.api.identities):
the account a provider's word signs in as, made on the first sign-in with the mapping's
name, role and groups, never by taking over a name; the mapping applied again at every
sign-in; and administrators linking and unlinking identities through the API. On SQLite
and PostgreSQL, with the tests' sign-in plug-in (tests/support/sign_in_plugin.py) as the
provider the API knows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from labgate.accounts.groups import add_member, create_group
from labgate.accounts.identities import REFUSED_BY_PROVIDER, account_for, link
from labgate.accounts.users import create_user, get_user, group_names
from labgate.app import create_app
from labgate.auth.providers import SignInRefused, Vouched
from labgate.credentials.vault import Vault
from labgate.db.engine import Database
from labgate.db.models import AuditEvent, Role, User, UserIdentity
from labgate.plugins.manager import Plugins
from labgate.settings import Settings
from tests.support import sign_in_plugin
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.sign_in_plugin import PASSWORD

LABEL = "University account"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "auth_providers": ["local", "codes", "elsewhere"],
            "auth": {"codes": {"second_factor": False}},
        }
    )


@pytest.fixture
async def app(settings: Settings, database: Database) -> AsyncIterator[Any]:
    plugins = Plugins.load(settings, extra=[sign_in_plugin])
    application = create_app(settings, database=database, bootstrap=False, plugins=plugins)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def vault(settings: Settings) -> Vault:
    settings.make_data_dir()
    return Vault.from_settings(settings)


def vouched(username: str = "alice", **more: Any) -> Vouched:
    return Vouched(
        **{"provider": "codes", "subject": f"uid-{username}", "username": username, **more}
    )


async def signed_in(
    database: Database, settings: Settings, vault: Vault, who: Vouched
) -> tuple[User, UserIdentity | None]:
    async with database.session() as db:
        return await account_for(db, who, settings, vault, label=LABEL)


async def groups_of(database: Database, username: str) -> set[str]:
    async with database.read() as db:
        user = await get_user(db, username)
        return set((await group_names(db, [user.id]))[user.id])


async def events(database: Database, name: str) -> list[AuditEvent]:
    async with database.read() as db:
        return list((await db.scalars(select(AuditEvent).where(AuditEvent.event == name))).all())


# -- account_for ---------------------------------------------------------------------------


async def test_a_first_sign_in_makes_the_account_its_mapping_says(
    database: Database, settings: Settings, vault: Vault
) -> None:
    who = vouched(
        "Alice",
        label="alice@university.example",
        display_name="Alice Liddell",
        email="alice@university.example",
        role=Role.GUEST,
        groups=frozenset({"physics", "optics"}),
        managed_groups=frozenset({"physics", "optics", "chemistry"}),
        recheck_secret=b"a refresh token",
    )
    user, identity = await signed_in(database, settings, vault, who)
    assert identity is not None
    # The name is lower-cased; the rest is what the provider said.
    assert (user.username, user.display_name, user.role) == ("alice", "Alice Liddell", "guest")
    assert user.email == "alice@university.example"
    assert user.email_verified
    assert user.auth_provider == "codes"
    assert user.password_hash is None
    assert (identity.provider, identity.subject) == ("codes", "uid-Alice")
    assert identity.label == "alice@university.example"
    assert identity.last_login_at is not None
    # Its re-check secret is kept sealed, for this identity only.
    assert identity.recheck_secret is not None
    assert b"a refresh token" not in identity.recheck_secret
    assert vault.open(identity.recheck_secret, f"identity:{identity.id}") == b"a refresh token"
    # Groups the mapping names are made, and the account is in them.
    assert await groups_of(database, "alice") == {"physics", "optics"}
    [linked] = await events(database, "identity_linked")
    assert linked.detail["by"] == "first sign-in"
    # The next sign-in finds the same account by the identity, not by the name.
    again, same = await signed_in(database, settings, vault, who)
    assert again.id == user.id
    assert same is not None
    assert same.id == identity.id


async def test_a_taken_name_refuses_the_sign_in_and_never_takes_over(
    database: Database, settings: Settings, vault: Vault
) -> None:
    async with database.session() as db:
        await create_user(db, settings, username="alice", password="alice's own password")
    with pytest.raises(SignInRefused) as refused:
        await signed_in(database, settings, vault, vouched("alice"))
    assert refused.value.message == (
        "A labgate account named 'alice' already exists and is not linked to your sign-in "
        f"with {LABEL}. Ask an administrator to link them."
    )
    async with database.read() as db:
        assert (await db.scalars(select(UserIdentity))).all() == []
    # Once an administrator links the identity, it signs in as that account.
    async with database.session() as db:
        alice = await get_user(db, "alice")
        await link(db, alice, provider="codes", subject="uid-alice", label="alice")
    user, identity = await signed_in(database, settings, vault, vouched("alice"))
    assert user.username == "alice"
    assert identity is not None
    assert identity.user_id == alice.id


async def test_a_name_labgate_cannot_have_is_refused_with_what_to_do(
    database: Database, settings: Settings, vault: Vault
) -> None:
    with pytest.raises(SignInRefused) as refused:
        await signed_in(database, settings, vault, vouched("alice smith@campus"))
    assert "cannot be a labgate user name" in refused.value.message
    assert "Ask an administrator" in refused.value.message


async def test_every_sign_in_applies_the_mapping_to_the_groups_it_decides(
    database: Database, settings: Settings, vault: Vault
) -> None:
    decided = frozenset({"physics", "chemistry"})
    await signed_in(
        database,
        settings,
        vault,
        vouched(groups=frozenset({"physics"}), managed_groups=decided, role=Role.USER),
    )
    # An administrator's own group for alice: not the mapping's business.
    async with database.session() as db:
        staff = await create_group(db, name="staff")
        await add_member(db, staff, await get_user(db, "alice"))
    user, _ = await signed_in(
        database,
        settings,
        vault,
        vouched(
            groups=frozenset({"chemistry"}),
            managed_groups=decided,
            role=Role.ADMIN,
            display_name="Alice L.",
            email="alice@new.example",
        ),
    )
    assert await groups_of(database, "alice") == {"chemistry", "staff"}
    assert (user.role, user.display_name, user.email) == ("admin", "Alice L.", "alice@new.example")
    synced = (await events(database, "group_memberships_synced"))[-1]
    assert (synced.detail["added"], synced.detail["removed"]) == (["chemistry"], ["physics"])
    # A mapping without a role leaves the role as it is.
    user, _ = await signed_in(database, settings, vault, vouched(managed_groups=decided))
    assert user.role == "admin"
    assert await groups_of(database, "alice") == {"staff"}


async def test_a_sign_in_enables_an_account_its_provider_had_refused_not_an_admins(
    database: Database, settings: Settings, vault: Vault
) -> None:
    user, _ = await signed_in(database, settings, vault, vouched())
    async with database.session() as db:
        found = await db.get(User, user.id)
        assert found is not None
        found.disabled, found.disabled_reason = True, REFUSED_BY_PROVIDER
    user, _ = await signed_in(database, settings, vault, vouched())
    assert not user.disabled
    assert user.disabled_reason is None
    async with database.session() as db:
        found = await db.get(User, user.id)
        assert found is not None
        found.disabled, found.disabled_reason = True, "admin"
    user, _ = await signed_in(database, settings, vault, vouched())
    assert user.disabled
    assert user.disabled_reason == "admin"


async def test_a_provider_naming_a_labgate_account_makes_no_identity(
    database: Database, settings: Settings, vault: Vault
) -> None:
    async with database.session() as db:
        made = await create_user(db, settings, username="bob", password="bob's own password")
    user, identity = await signed_in(
        database, settings, vault, Vouched("", "", "", user_id=made.id)
    )
    assert (user.id, identity) == (made.id, None)


# -- the API ---------------------------------------------------------------------------------


@pytest.fixture
async def admin(accounts: AccountFactory) -> LoggedIn:
    return await accounts.login("root", role=Role.ADMIN)


async def sign_in_with_codes(accounts: AccountFactory, username: str) -> LoggedIn:
    http = accounts.anonymous()
    answer = await http.post(
        "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return LoggedIn(http=http, csrf=body["csrf_token"], user=body["user"])


async def test_users_see_their_identities_and_administrators_anyones(
    accounts: AccountFactory, admin: LoggedIn
) -> None:
    alice = await sign_in_with_codes(accounts, "alice")
    assert alice.user["auth_provider"] == "codes"
    assert alice.user["disabled_reason"] is None
    assert alice.user["expires_at"] is None
    mine = (await alice.get("/api/v1/users/me/identities")).json()["identities"]
    assert [(i["provider"], i["provider_label"], i["subject"]) for i in mine] == [
        ("codes", LABEL, "uid-alice")
    ]
    assert mine[0]["label"] == "alice@university.example"
    assert mine[0]["last_login_at"] is not None
    assert mine[0]["refused_at"] is None
    theirs = (await admin.get("/api/v1/users/alice/identities")).json()["identities"]
    assert theirs == mine
    # A labgate account of its own has none.
    assert (await admin.get("/api/v1/users/me/identities")).json() == {"identities": []}
    assert (await admin.get("/api/v1/users/nobody/identities")).status_code == 404
    assert (await alice.get("/api/v1/users/root/identities")).status_code == 403


async def test_administrators_link_an_identity_that_then_signs_in(
    accounts: AccountFactory, admin: LoggedIn, database: Database
) -> None:
    await accounts.user("bob")
    linked = await admin.post(
        "/api/v1/users/bob/identities",
        json={"provider": "codes", "subject": " uid-bob ", "label": "bob@university.example"},
    )
    assert linked.status_code == 201, linked.text
    assert linked.json()["subject"] == "uid-bob"
    assert linked.json()["provider_label"] == LABEL
    # Linking it again to the same account changes nothing.
    again = await admin.post(
        "/api/v1/users/bob/identities", json={"provider": "codes", "subject": "uid-bob"}
    )
    assert again.status_code == 201
    assert again.json()["id"] == linked.json()["id"]
    bob = await sign_in_with_codes(accounts, "bob")
    assert bob.user["username"] == "bob"
    [event] = await events(database, "identity_linked")
    assert (event.actor, event.target, event.detail["by"]) == ("root", "bob", "administrator")


async def test_linking_refuses_what_cannot_be_linked(
    accounts: AccountFactory, admin: LoggedIn
) -> None:
    await sign_in_with_codes(accounts, "alice")
    await accounts.user("bob")
    taken = await admin.post(
        "/api/v1/users/bob/identities", json={"provider": "codes", "subject": "uid-alice"}
    )
    assert taken.status_code == 409
    assert taken.json()["error"]["message"] == (
        "That identity at codes signs in as 'alice': unlink it there first."
    )
    for provider in ("local", "ldap"):
        refused = await admin.post(
            "/api/v1/users/bob/identities", json={"provider": provider, "subject": "x"}
        )
        assert refused.status_code == 422
        error = refused.json()["error"]
        assert error["message"] == (
            f"'{provider}' is not an active sign-in provider to link: use one of codes, elsewhere."
        )
        assert error["details"][0]["field"] == "body.provider"
    for subject in ("", "   ", "two\nlines", "x" * 256):
        bad = await admin.post(
            "/api/v1/users/bob/identities", json={"provider": "codes", "subject": subject}
        )
        assert bad.status_code == 422, subject
        assert bad.json()["error"]["details"][0]["field"] == "body.subject"
    for body, field in (
        ({"provider": "codes", "subject": "x", "label": "two\nlines"}, "body.label"),
        ({"provider": "codes", "subject": "x", "label": "x" * 256}, "body.label"),
        ({"subject": "x"}, "body.provider"),
        ({"provider": "p" * 65, "subject": "x"}, "body.provider"),
        ({"provider": "codes", "subject": "x", "user_id": 1}, "body.user_id"),
    ):
        bad = await admin.post("/api/v1/users/bob/identities", json=body)
        assert bad.status_code == 422, (body, bad.text)
        assert [d["field"] for d in bad.json()["error"]["details"]] == [field]
    unknown = await admin.post(
        "/api/v1/users/nobody/identities", json={"provider": "codes", "subject": "x"}
    )
    assert unknown.status_code == 404


async def test_unlinking_ends_the_sessions_begun_with_the_identity(
    accounts: AccountFactory, admin: LoggedIn, database: Database
) -> None:
    alice = await sign_in_with_codes(accounts, "alice")
    [identity] = (await alice.get("/api/v1/users/me/identities")).json()["identities"]
    assert (await admin.delete(f"/api/v1/users/root/identities/{identity['id']}")).status_code == (
        404
    )
    assert (await alice.get("/api/v1/auth/session")).status_code == 200
    gone = await admin.delete(f"/api/v1/users/alice/identities/{identity['id']}")
    assert gone.status_code == 204
    assert (await alice.get("/api/v1/auth/session")).status_code == 401
    assert (await admin.get("/api/v1/users/alice/identities")).json() == {"identities": []}
    [event] = await events(database, "identity_unlinked")
    assert (event.actor, event.target, event.detail["subject"]) == ("root", "alice", "uid-alice")
    # Without its identity, the next sign-in there is refused: the name is taken.
    refused = await accounts.anonymous().post(
        "/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}
    )
    assert refused.status_code == 401
    assert "already exists and is not linked" in refused.json()["error"]["message"]
