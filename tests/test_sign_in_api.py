"""Signing in through the API as the login page does, with the tests' sign-in plug-in
(tests/support/sign_in_plugin.py), for what the login page relies on beyond the flow's
own tests (tests/test_sign_in_flow.py): the session remembering the identity it began
with, the rate limit counting wrong codes, a provider that cannot be reached, a redirect
provider's own refusal told once, and logging out at the provider (or only here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from labgate.app import create_app
from labgate.auth.cookies import SESSION_COOKIE
from labgate.db.engine import Database
from labgate.db.models import LoginSession, UserIdentity
from labgate.plugins.manager import Plugins
from labgate.settings import Settings
from labgate.state import AppState
from tests.support import sign_in_plugin
from tests.support.accounts import AccountFactory
from tests.support.sign_in_plugin import (
    CODE,
    PASSWORD,
    REDIRECTED,
    CodeProvider,
    ElsewhereProvider,
)

LOGIN = "/api/v1/auth/login"
STEP = "/api/v1/auth/login/step"
UNREACHABLE = "The university directory cannot be reached: try again in a few minutes."


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "auth_providers": ["local", "codes", "elsewhere"],
            "auth": {"elsewhere": {"label": "Helmholtz AAI"}},
        }
    )


@pytest.fixture
async def app(settings: Settings, database: Database) -> AsyncIterator[Any]:
    plugins = Plugins.load(settings, extra=[sign_in_plugin])
    application = create_app(settings, database=database, bootstrap=False, plugins=plugins)
    async with application.router.lifespan_context(application):
        yield application


def provider(state: AppState, name: str) -> Any:
    return next(p for p in state.providers if p.name == name)


@pytest.fixture
def codes(state: AppState) -> CodeProvider:
    found = provider(state, "codes")
    assert isinstance(found, CodeProvider)
    return found


@pytest.fixture
def elsewhere(state: AppState) -> ElsewhereProvider:
    found = provider(state, "elsewhere")
    assert isinstance(found, ElsewhereProvider)
    return found


@pytest.fixture
def browser(accounts: AccountFactory) -> httpx.AsyncClient:
    return accounts.anonymous()


async def first_step(browser: httpx.AsyncClient, username: str = "alice") -> dict[str, Any]:
    answer = await browser.post(LOGIN, json={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    step: dict[str, Any] = answer.json()
    return step


async def test_the_session_remembers_the_identity_it_began_with(
    browser: httpx.AsyncClient, database: Database
) -> None:
    step = await first_step(browser)
    # No session until the code is given.
    assert SESSION_COOKIE not in browser.cookies
    answered = await browser.post(STEP, json={"step": step["step"], "answers": [CODE]})
    assert answered.status_code == 200, answered.text
    async with database.read() as db:
        began_with = await db.scalar(select(LoginSession.identity_id))
        identity = await db.scalar(select(UserIdentity.id))
    assert began_with is not None
    assert began_with == identity


async def test_wrong_codes_count_as_failed_logins(
    browser: httpx.AsyncClient, settings: Settings
) -> None:
    for _ in range(settings.login_max_failures_per_account):
        step = await first_step(browser)
        wrong = await browser.post(STEP, json={"step": step["step"], "answers": ["000000"]})
        assert wrong.status_code == 401
    limited = await browser.post(LOGIN, json={"username": "alice", "password": PASSWORD})
    assert limited.status_code == 429
    assert limited.headers["Retry-After"]


async def test_a_provider_that_cannot_be_reached_is_said_when_nobody_else_knew(
    accounts: AccountFactory, browser: httpx.AsyncClient, codes: CodeProvider
) -> None:
    codes.down = UNREACHABLE
    unknown = await browser.post(LOGIN, json={"username": "alice", "password": PASSWORD})
    assert unknown.status_code == 503
    assert unknown.json()["error"] == {
        "code": "identity_provider_unavailable",
        "message": UNREACHABLE,
    }
    # labgate's own account is asked first and still signs in.
    await accounts.login("bob")
    wrong = await browser.post(LOGIN, json={"username": "bob", "password": "not his password"})
    assert wrong.status_code == 503


async def test_an_identity_provider_signs_in_and_out(
    browser: httpx.AsyncClient, database: Database
) -> None:
    began = await browser.get("/api/v1/auth/providers/elsewhere/login?next=/workspace")
    assert began.status_code == 303
    callback = began.headers["location"]
    assert callback.startswith("http://testserver/api/v1/auth/providers/elsewhere/callback?state=")
    came_back = await browser.get(callback)
    assert came_back.status_code == 303
    assert came_back.headers["location"] == "/workspace"
    session = await browser.get("/api/v1/auth/session")
    assert session.status_code == 200
    assert session.json()["user"]["username"] == REDIRECTED
    assert session.json()["user"]["auth_provider"] == "elsewhere"
    out = await browser.post(
        "/api/v1/auth/logout", headers={"X-CSRF-Token": session.json()["csrf_token"]}
    )
    assert out.status_code == 200
    assert out.json() == {"logout_url": "http://testserver/login?signed_out=elsewhere"}
    assert (await browser.get("/api/v1/auth/session")).status_code == 401


async def test_a_password_sign_in_logs_out_here_only(browser: httpx.AsyncClient) -> None:
    step = await first_step(browser)
    answered = await browser.post(STEP, json={"step": step["step"], "answers": [CODE]})
    out = await browser.post(
        "/api/v1/auth/logout", headers={"X-CSRF-Token": answered.json()["csrf_token"]}
    )
    assert out.status_code == 204


async def failed_sign_in(browser: httpx.AsyncClient, response: httpx.Response) -> str | None:
    """The login page's side of a failed sign-in: where it was sent, and the sentence."""
    assert response.status_code == 303
    assert response.headers["location"] == "/login?sign_in=failed"
    said = await browser.get("/api/v1/auth/sign-in-error")
    assert said.status_code == 200
    error: str | None = said.json()["error"]
    # Told once.
    assert (await browser.get("/api/v1/auth/sign-in-error")).json() == {"error": None}
    return error


async def test_an_identity_provider_s_refusal_is_told_to_the_login_page_once(
    browser: httpx.AsyncClient, elsewhere: ElsewhereProvider
) -> None:
    elsewhere.refusal = "Your account at Helmholtz AAI is locked."
    began = await browser.get("/api/v1/auth/providers/elsewhere/login")
    refused = await browser.get(began.headers["location"])
    assert await failed_sign_in(browser, refused) == "Your account at Helmholtz AAI is locked."
    assert (await browser.get("/api/v1/auth/session")).status_code == 401
