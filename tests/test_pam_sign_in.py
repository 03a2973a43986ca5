"""Signing in with the machine's own accounts (labgate.auth.pam), through the real API
and real PAM: a PAM service of the test's (pam_unix, and pam_google_authenticator for a
second factor) and real OS accounts with passwords (tests/support/pam.py). As root."""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from labgate.app import create_app
from labgate.auth.pam import EXPIRED, WRONG_ANSWER, PamProvider
from labgate.auth.pam_conversation import THREAD_PREFIX
from labgate.auth.providers import Vouched
from labgate.db.engine import Database
from labgate.db.models import Group, Membership, User, UserIdentity
from labgate.errors import ConfigurationError
from labgate.settings import Settings
from labgate.state import AppState
from tests.support.eventually import eventually
from tests.support.local_accounts import local_resource_of, remove_account, unique_account_name
from tests.support.pam import (
    PAM_PASSWORD,
    TWO_FACTOR_NOTICE,
    PamService,
    expire_account,
    leave_group,
    lock_password,
    os_group,
    pam_account,
    pam_service,
)
from tests.support.processes import skip_unless_root

LOGIN = "/api/v1/auth/login"
STEP = "/api/v1/auth/login/step"
WRONG = "Wrong user name or password."
#: The shortest wait for a further prompt settings allow.
STEP_SECONDS = 10


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PamService]:
    skip_unless_root("PAM sign-in with other accounts' passwords")
    with pam_service(tmp_path_factory.mktemp("pam")) as made:
        yield made


@pytest.fixture(scope="module")
def two_factor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PamService]:
    skip_unless_root("PAM sign-in with other accounts' passwords")
    with pam_service(tmp_path_factory.mktemp("pam-2fa"), two_factor=True) as made:
        yield made


@contextlib.asynccontextmanager
async def signing_in(
    settings: Settings, database: Database, service: PamService, **pam: Any
) -> AsyncIterator[tuple[AppState, httpx.AsyncClient]]:
    """The app with ``local`` and ``pam`` (``pam`` its settings besides the service),
    running, and an anonymous client of it."""
    configured = settings.model_copy(
        update={
            "auth_providers": ["local", "pam"],
            "auth": {"pam": {"service": service.name, **pam}},
            "login_step_seconds": STEP_SECONDS,
        }
    )
    app = create_app(configured, database=database, bootstrap=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app.state.labgate, http


def reissue_uid(name: str) -> int:
    """Give the account ``name`` a free uid, as a newcomer given the name would have."""
    uid = pwd.getpwnam(name).pw_uid + 1000
    while _uid_taken(uid):
        uid += 1
    subprocess.run(["usermod", "--uid", str(uid), name], capture_output=True, check=True)
    return uid


def _uid_taken(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def pam_threads(username: str) -> list[threading.Thread]:
    """The threads running a PAM transaction for ``username``."""
    return [t for t in threading.enumerate() if t.name == THREAD_PREFIX + username]


def login(http: httpx.AsyncClient, username: str, password: str = PAM_PASSWORD) -> Any:
    return http.post(LOGIN, json={"username": username, "password": password})


def error_of(response: httpx.Response) -> str:
    message: str = response.json()["error"]["message"]
    return message


async def test_the_right_password_signs_in_as_the_mapping_says(
    settings: Settings, database: Database, service: PamService
) -> None:
    lab = "lab-" + secrets.token_hex(3)
    with (
        os_group() as staff,
        os_group() as users,
        os_group() as workshop,
        pam_account(full_name="Ada Lovelace", groups=(staff, users, workshop)) as account,
    ):
        async with signing_in(
            settings,
            database,
            service,
            roles={users: "user", staff: "staff"},
            groups={workshop: lab},
        ) as (_state, http):
            response = await login(http, account.name)
            assert response.status_code == 200, response.text
            user = response.json()["user"]
            assert user["username"] == account.name
            assert user["role"] == "staff"  # the highest of the mapped groups
            assert user["display_name"] == "Ada Lovelace"  # GECOS' first part
            assert (await http.get("/api/v1/auth/session")).status_code == 200
            async with database.read() as db:
                found = await db.scalar(select(User).where(User.username == account.name))
                assert found is not None
                assert found.auth_provider == "pam"
                identity = await db.scalar(
                    select(UserIdentity).where(UserIdentity.user_id == found.id)
                )
                assert identity is not None
                # The name with its uid: the name given again to another is another person.
                assert (identity.provider, identity.subject) == (
                    "pam",
                    f"{account.name}:{account.uid}",
                )
                member_of = set(
                    (
                        await db.scalars(
                            select(Group.name)
                            .join(Membership, Membership.group_id == Group.id)
                            .where(Membership.user_id == found.id)
                        )
                    ).all()
                )
                assert member_of == {lab}

            # Out of the OS group: out of the labgate group it maps to, at the next sign-in.
            leave_group(account.name, workshop)
            again = await login(http, account.name)
            assert again.status_code == 200, again.text
            async with database.read() as db:
                memberships = (
                    await db.scalars(
                        select(Membership.group_id).where(Membership.user_id == found.id)
                    )
                ).all()
                assert memberships == []


async def test_a_wrong_password_and_an_unknown_user_are_told_alike(
    settings: Settings, database: Database, service: PamService
) -> None:
    with pam_account() as account:
        async with signing_in(settings, database, service) as (_state, http):
            wrong = await login(http, account.name, "not-the-password")
            unknown = await login(http, unique_account_name())
            assert wrong.status_code == unknown.status_code == 401
            assert wrong.json() == unknown.json()
            assert error_of(wrong) == WRONG
            assert not pam_threads(account.name)


async def test_an_expired_account_is_told_so_and_a_locked_one_reads_as_a_wrong_password(
    settings: Settings, database: Database, service: PamService
) -> None:
    with pam_account() as expired, pam_account() as locked:
        expire_account(expired.name)
        lock_password(locked.name)
        async with signing_in(settings, database, service) as (_state, http):
            response = await login(http, expired.name)
            assert response.status_code == 401
            assert error_of(response) == EXPIRED
            # pam_unix fails a locked password as a wrong one: nothing else to tell.
            response = await login(http, locked.name)
            assert response.status_code == 401
            assert error_of(response) == WRONG


async def test_system_accounts_never_sign_in_unless_named(
    settings: Settings, database: Database, service: PamService
) -> None:
    with pam_account(system=True) as system:
        async with signing_in(settings, database, service) as (_state, http):
            for name in (system.name, "root"):
                response = await login(http, name)
                assert response.status_code == 401
                assert error_of(response) == WRONG
        async with signing_in(settings, database, service, allow_users=[system.name]) as (
            _state,
            http,
        ):
            response = await login(http, system.name)
            assert response.status_code == 200, response.text


async def test_only_the_allowed_groups_sign_in(
    settings: Settings, database: Database, service: PamService
) -> None:
    with os_group() as allowed, pam_account(groups=(allowed,)) as member, pam_account() as other:
        async with signing_in(settings, database, service, allowed_groups=[allowed]) as (
            _state,
            http,
        ):
            assert (await login(http, member.name)).status_code == 200
            refused = await login(http, other.name)
            assert refused.status_code == 401
            assert error_of(refused).startswith(
                "Your account on this machine is in none of the groups allowed"
            )
            assert allowed in error_of(refused)
            # Only after the right password: a wrong one is a wrong one.
            wrong = await login(http, other.name, "not-the-password")
            assert error_of(wrong) == WRONG


async def test_a_second_factor_is_asked_on_the_login_page(
    settings: Settings, database: Database, two_factor: PamService
) -> None:
    with pam_account() as account:
        async with signing_in(settings, database, two_factor) as (_state, http):
            asked = await login(http, account.name)
            assert asked.status_code == 200, asked.text
            step = asked.json()
            assert step["provider"] == "pam"
            assert step["prompts"] == [{"text": "Verification code:", "echo": False}]
            assert step["messages"] == [TWO_FACTOR_NOTICE]
            assert len(pam_threads(account.name)) == 1  # waiting for the answer
            done = await http.post(
                STEP, json={"step": step["step"], "answers": [two_factor.code()]}
            )
            assert done.status_code == 200, done.text
            assert done.json()["user"]["username"] == account.name
            assert (await http.get("/api/v1/auth/session")).status_code == 200
            await eventually(lambda: not pam_threads(account.name), what="the PAM thread ends")
            # The step is used up.
            again = await http.post(
                STEP, json={"step": step["step"], "answers": [two_factor.code()]}
            )
            assert again.status_code == 409


async def test_a_wrong_code_is_refused_and_a_wrong_password_asks_none(
    settings: Settings, database: Database, two_factor: PamService
) -> None:
    with pam_account() as account:
        async with signing_in(settings, database, two_factor) as (_state, http):
            asked = (await login(http, account.name)).json()
            refused = await http.post(
                STEP, json={"step": asked["step"], "answers": [two_factor.wrong_code()]}
            )
            assert refused.status_code == 401
            assert error_of(refused) == WRONG_ANSWER
            # pam_unix is requisite: a wrong password ends it before any code is asked.
            wrong = await login(http, account.name, "not-the-password")
            assert wrong.status_code == 401
            assert error_of(wrong) == WRONG
            await eventually(lambda: not pam_threads(account.name), what="the PAM threads end")


async def test_a_step_left_unanswered_is_cancelled_and_its_thread_ends(
    settings: Settings, database: Database, two_factor: PamService
) -> None:
    with pam_account() as account:
        async with signing_in(settings, database, two_factor) as (state, http):
            asked = (await login(http, account.name)).json()
            assert len(pam_threads(account.name)) == 1
            # Nobody answers: after login_step_seconds the step is cancelled, and the
            # conversation's failure ends PAM's transaction and its thread.
            await eventually(
                lambda: not pam_threads(account.name), what="the unanswered PAM thread ends"
            )
            assert len(state.login_steps) == 0
            late = await http.post(
                STEP, json={"step": asked["step"], "answers": [two_factor.code()]}
            )
            assert late.status_code == 409


async def test_the_server_stopping_ends_the_waiting_threads(
    settings: Settings, database: Database, two_factor: PamService
) -> None:
    with pam_account() as account:
        async with signing_in(settings, database, two_factor) as (_state, http):
            asked = await login(http, account.name)
            assert asked.status_code == 200
            assert len(pam_threads(account.name)) == 1
        await eventually(lambda: not pam_threads(account.name), what="the PAM thread ends")


async def test_recheck_sees_an_account_expired_locked_or_gone(
    settings: Settings, database: Database, service: PamService
) -> None:
    with pam_account() as expiring, pam_account() as locking, pam_account() as leaving:
        async with signing_in(settings, database, service) as (state, _http):
            provider = state.providers[1]
            assert isinstance(provider, PamProvider)
            subjects = [f"{a.name}:{a.uid}" for a in (expiring, locking, leaving)]
            for subject in subjects:
                assert (await provider.recheck(subject, None)).holds is True
            expire_account(expiring.name)
            lock_password(locking.name)
            remove_account(leaving.name)
            for subject in subjects:
                assert (await provider.recheck(subject, None)).holds is False


async def test_pam_vouches_for_the_name_as_the_machine_s_account_with_its_uid(
    settings: Settings, database: Database, service: PamService
) -> None:
    with pam_account() as account:
        async with signing_in(settings, database, service) as (state, _http):
            provider = state.providers[1]
            assert isinstance(provider, PamProvider)
            vouched = await provider.authenticate(database, account.name, PAM_PASSWORD)
    assert isinstance(vouched, Vouched)
    assert vouched.subject == f"{account.name}:{account.uid}"
    assert vouched.username == account.name
    assert vouched.name_is_os_account is True


async def test_a_name_given_again_to_another_uid_is_another_person(
    settings: Settings, database: Database, service: PamService
) -> None:
    with pam_account() as account:
        async with signing_in(settings, database, service) as (state, http):
            provider = state.providers[1]
            assert isinstance(provider, PamProvider)
            assert (await login(http, account.name)).status_code == 200
            first = f"{account.name}:{account.uid}"
            # The account removed, its name given to a newcomer: another uid.
            newcomer = reissue_uid(account.name)
            assert (await provider.recheck(first, None)).holds is False
            assert (await provider.recheck(f"{account.name}:{newcomer}", None)).holds is True
            refused = await login(http, account.name)
            assert refused.status_code == 401
            assert error_of(refused) == (
                f"A labgate account named '{account.name}' already exists and is not linked "
                "to your sign-in with Account on this machine. Ask an administrator to link "
                "them."
            )
            # A subject with no uid (made by hand) holds for nobody.
            assert (await provider.recheck(account.name, None)).holds is False


async def test_failed_pam_logins_count_for_the_rate_limit(
    settings: Settings, database: Database, service: PamService
) -> None:
    with pam_account() as account:
        async with signing_in(settings, database, service) as (_state, http):
            for _ in range(settings.login_max_failures_per_account):
                assert (await login(http, account.name, "not-the-password")).status_code == 401
            limited = await login(http, account.name)
            assert limited.status_code == 429
            assert "Too many failed logins" in error_of(limited)


def test_a_service_without_a_stack_stops_the_server(settings: Settings, tmp_path: Path) -> None:
    skip_unless_root("PAM sign-in")
    configured = settings.model_copy(
        update={
            "auth_providers": ["local", "pam"],
            "auth": {"pam": {"service": "labgate-test-none-" + secrets.token_hex(4)}},
        }
    )
    with pytest.raises(ConfigurationError, match=r"auth\.pam\.service: there is no PAM service"):
        create_app(configured, database=Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"))


async def test_a_pam_user_works_on_local_as_their_own_account(
    settings: Settings, database: Database, service: PamService
) -> None:
    with pam_account() as account:
        note = account.home / "note.txt"
        note.write_text("only mine")
        os.chown(note, account.uid, account.uid)
        note.chmod(0o600)
        # local as a server running as root has it: each user the account named like them.
        as_root = settings.model_copy(update={"local_resource": "auto"})
        async with signing_in(as_root, database, service) as (_state, http):
            assert (await login(http, account.name)).status_code == 200
            listing = (await http.get("/api/v1/resources")).json()["resources"]
            local = local_resource_of(listing)
            assert (local["remote_username"], local["runs_as_root"]) == (account.name, False)
            read = await http.get(
                f"/api/v1/resources/{local['id']}/files/content", params={"path": str(note)}
            )
            assert read.status_code == 200, read.text
            assert read.text == "only mine"
