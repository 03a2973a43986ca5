"""Signing in through the API with providers of a plug-in (tests/support/sign_in_plugin.py),
as the login page does: a password provider's further prompt (a second factor) and
every way its step ends; a provider that cannot be reached; the rate limit counting
wrong codes; a redirect provider's round trip, its refusals told once to the login
page, the way back kept to labgate's own paths; logging out at the provider; and the
steps nobody answered let go when the server stops."""

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
    WRONG_CODE,
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


async def test_a_second_factor_is_asked_then_the_session_begins(
    browser: httpx.AsyncClient, database: Database
) -> None:
    step = await first_step(browser)
    assert step["provider"] == "codes"
    assert step["prompts"] == [{"text": "Verification code:", "echo": False}]
    assert step["messages"] == [
        "Open your authenticator app for the code of your university account."
    ]
    # No session until the code is given.
    assert SESSION_COOKIE not in browser.cookies
    assert (await browser.get("/api/v1/auth/session")).status_code == 401
    answered = await browser.post(STEP, json={"step": step["step"], "answers": [CODE]})
    assert answered.status_code == 200, answered.text
    assert answered.json()["user"]["username"] == "alice"
    assert answered.json()["csrf_token"]
    assert (await browser.get("/api/v1/auth/session")).status_code == 200
    # The session remembers the identity it began with.
    async with database.read() as db:
        began_with = await db.scalar(select(LoginSession.identity_id))
        identity = await db.scalar(select(UserIdentity.id))
    assert began_with == identity


async def test_a_wrong_code_ends_the_step_with_what_to_do(
    browser: httpx.AsyncClient, codes: CodeProvider
) -> None:
    step = await first_step(browser)
    wrong = await browser.post(STEP, json={"step": step["step"], "answers": ["000000"]})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == {"code": "sign_in_refused", "message": WRONG_CODE}
    # The step is gone: answering it again is starting again.
    again = await browser.post(STEP, json={"step": step["step"], "answers": [CODE]})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "login_step_expired"
    assert "start again" in again.json()["error"]["message"]


async def test_a_step_ends_when_answered_wrongly_or_let_go(
    browser: httpx.AsyncClient, state: AppState, codes: CodeProvider
) -> None:
    step = await first_step(browser)
    two = await browser.post(STEP, json={"step": step["step"], "answers": [CODE, CODE]})
    assert two.status_code == 422
    assert two.json()["error"]["message"] == "1 answers were asked for, 2 came: start again."
    assert codes.cancelled == 1
    unknown = await browser.post(STEP, json={"step": "made up", "answers": [CODE]})
    assert unknown.status_code == 409
    # A replica that stops lets every waiting sign-in go.
    step = await first_step(browser)
    await state.login_steps.close()
    assert codes.cancelled == 2
    late = await browser.post(STEP, json={"step": step["step"], "answers": [CODE]})
    assert late.status_code == 409


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


async def test_an_identity_provider_s_refusals_are_told_to_the_login_page(
    browser: httpx.AsyncClient, elsewhere: ElsewhereProvider
) -> None:
    elsewhere.refusal = "Your account at Helmholtz AAI is locked."
    began = await browser.get("/api/v1/auth/providers/elsewhere/login")
    refused = await browser.get(began.headers["location"])
    assert await failed_sign_in(browser, refused) == "Your account at Helmholtz AAI is locked."
    assert (await browser.get("/api/v1/auth/session")).status_code == 401
    # A state that does not match.
    elsewhere.refusal = None
    await browser.get("/api/v1/auth/providers/elsewhere/login")
    tampered = await browser.get(
        "/api/v1/auth/providers/elsewhere/callback", params={"state": "not the one"}
    )
    assert await failed_sign_in(browser, tampered) == (
        "The sign-in could not be verified (its state does not match)."
    )
    # Coming back to a browser that never went there.
    stranger = await browser.get("/api/v1/auth/providers/elsewhere/callback", params={"state": "x"})
    assert await failed_sign_in(browser, stranger) == (
        "This sign-in did not begin in this browser, or began too long ago: start again."
    )


async def test_the_way_back_is_always_labgate_s_own(browser: httpx.AsyncClient) -> None:
    for asked in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "workspace"):
        began = await browser.get("/api/v1/auth/providers/elsewhere/login", params={"next": asked})
        came_back = await browser.get(began.headers["location"])
        assert came_back.headers["location"] == "/", asked
    assert (await browser.get("/api/v1/auth/providers/local/login")).status_code == 404


async def test_a_server_that_stops_lets_its_waiting_sign_ins_go(
    settings: Settings, database: Database
) -> None:
    plugins = Plugins.load(settings, extra=[sign_in_plugin])
    application = create_app(settings, database=database, bootstrap=False, plugins=plugins)
    async with application.router.lifespan_context(application):
        codes = provider(application.state.labgate, "codes")
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            await first_step(http)
        assert codes.cancelled == 0
    assert codes.cancelled == 1
