"""Signing in with OpenID Connect in Chromium, against a real OpenID provider
(oidc-provider under Node.js, tests/support/oidc.py): the provider's sign-in form, then
labgate's workspace as the new account; and each failure (a tampered state, an expired
code, a token for another audience) back on labgate's login page, which shows its
sentence (read from ``GET /api/v1/auth/sign-in-error``).

The sign-in starts at ``/api/v1/auth/providers/oidc/login``, where the login page's
button for the provider leads. Screenshots go to test-results/oidc-*.png.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from urllib.parse import urljoin

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, expect

from tests.support.browser import chromium, results_dir
from tests.support.labgate_api import labgate_server
from tests.support.oidc import TestProvider, labgate_client, running_oidc_provider
from tests.support.server import RunningServer, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "admin password for the oidc browser test"
CLIENT_SECRET = "the browser test's client secret"
SIGN_IN = "/api/v1/auth/providers/oidc/login"
CALLBACK = "/api/v1/auth/providers/oidc/callback?"


def is_form_sent(url: str) -> bool:
    """Whether ``url`` is where the provider's sign-in form is sent."""
    return "/interaction/" in url and url.endswith("/login")


async def held_back(route: Route, page: Page) -> str:
    """Send the provider's form (``route``) and follow the provider's redirects for the
    browser, with its cookies, up to labgate's callback, which is returned instead of
    followed. (The browser follows redirects itself, out of reach of routes: the test
    plays the browser for the provider's last steps.)"""
    answer = await route.fetch(max_redirects=0)
    location = urljoin(route.request.url, answer.headers["location"])
    while CALLBACK not in location:
        answer = await page.context.request.get(location, max_redirects=0)
        location = urljoin(location, answer.headers["location"])
    return location


ACCOUNTS = [
    {
        "sub": f"sub-{login}",
        "login": login,
        "password": f"{login} password",
        "preferred_username": login,
        "name": name,
        "email": f"{login}@example.org",
        "email_verified": True,
        "groups": ["hzb-physics"],
    }
    for login, name in [("grace", "Grace Hopper"), ("heidi", "Heidi Lamarr")]
]


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestProvider, RunningServer]]:
    port = free_port()
    with running_oidc_provider(
        tmp_path_factory.mktemp("op"), [labgate_client(port, CLIENT_SECRET)]
    ) as provider:
        provider.set_accounts(ACCOUNTS)
        section = {
            "label": "Test AAI",
            "issuer": provider.issuer,
            "client_id": "labgate",
            "client_secret": CLIENT_SECRET,
            "scopes": ["openid", "profile", "email", "groups"],
            "groups": {"hzb-physics": "physics"},
        }
        env = {
            "LABGATE_AUTH_PROVIDERS": json.dumps(["local", "oidc"]),
            "LABGATE_AUTH": json.dumps({"oidc": section}),
        }
        with labgate_server(
            tmp_path_factory.mktemp("labgate"), ADMIN_PASSWORD, env=env, port=port
        ) as server:
            yield provider, server


@pytest.fixture
def provider(setup: tuple[TestProvider, RunningServer]) -> Iterator[TestProvider]:
    yield setup[0]
    setup[0].control()


@pytest.fixture
def server(setup: tuple[TestProvider, RunningServer]) -> RunningServer:
    return setup[1]


def shot(name: str) -> str:
    return str(results_dir() / f"oidc-{name}.png")


async def new_context(browser: Browser, server: RunningServer) -> BrowserContext:
    return await browser.new_context(viewport={"width": 1280, "height": 800}, base_url=server.url)


async def at_provider_form(context: BrowserContext, login: str) -> Page:
    """A page gone from labgate to the provider's sign-in form, filled in as ``login``."""
    page = await context.new_page()
    await page.goto(SIGN_IN)
    await expect(page.locator("h1")).to_have_text("Test identity provider")
    await page.locator("#login").fill(login)
    await page.locator("#password").fill(f"{login} password")
    return page


async def back_at_login_page(page: Page, server: RunningServer) -> str:
    """The sentence the login page shows for the failed sign-in (it reads it from
    ``GET /api/v1/auth/sign-in-error`` and tidies its address), with nobody signed in."""
    error = page.get_by_test_id("login-error")
    await expect(error).to_be_visible()
    await expect(page).to_have_url(f"{server.url}/login")
    message = (await error.inner_text()).strip()
    assert message
    session = await page.evaluate("fetch('/api/v1/auth/session').then((a) => a.status)")
    assert session == 401
    return message


async def test_sign_in_at_the_provider_reaches_the_workspace(server: RunningServer) -> None:
    async with chromium() as browser:
        context = await new_context(browser, server)
        page = await at_provider_form(context, "grace")
        await page.screenshot(path=shot("01-provider-form"))
        await page.locator("#submit").click()
        await expect(page.get_by_test_id("workspace")).to_be_visible()
        await page.screenshot(path=shot("02-workspace"))
        user = (await page.evaluate("fetch('/api/v1/auth/session').then((a) => a.json())"))["user"]
        assert (user["username"], user["display_name"]) == ("grace", "Grace Hopper")
        assert user["groups"] == ["physics"]


async def test_a_tampered_state_lands_on_the_login_page(server: RunningServer) -> None:
    async def tamper(route: Route) -> None:
        url = await held_back(route, page)
        state = url.split("state=")[1].split("&")[0]
        tampered = url.replace(f"state={state}", f"state={state[::-1]}x")
        await route.fulfill(status=303, headers={"location": tampered})

    async with chromium() as browser:
        context = await new_context(browser, server)
        page = await at_provider_form(context, "heidi")
        await page.route(is_form_sent, tamper)
        await page.locator("#submit").click()
        message = await back_at_login_page(page, server)
        await page.screenshot(path=shot("03-tampered-state"))
    assert message == "The sign-in could not be verified (its state does not match). Start again."


async def test_an_expired_code_lands_on_the_login_page(
    server: RunningServer, provider: TestProvider
) -> None:
    provider.control(code_ttl_seconds=1)

    async def late(route: Route) -> None:
        url = await held_back(route, page)
        await asyncio.sleep(2.5)  # what is tested: the code's second at the provider passes
        await route.fulfill(status=303, headers={"location": url})

    async with chromium() as browser:
        context = await new_context(browser, server)
        page = await at_provider_form(context, "heidi")
        await page.route(is_form_sent, late)
        await page.locator("#submit").click()
        message = await back_at_login_page(page, server)
        await page.screenshot(path=shot("04-expired-code"))
    assert message == "The sign-in took too long or was used already. Start again."


async def test_a_token_for_another_audience_lands_on_the_login_page(
    server: RunningServer, provider: TestProvider
) -> None:
    provider.control(id_token_audience="another-application")
    async with chromium() as browser:
        context = await new_context(browser, server)
        page = await at_provider_form(context, "heidi")
        await page.locator("#submit").click()
        message = await back_at_login_page(page, server)
        await page.screenshot(path=shot("05-another-audience"))
    assert message == (
        "The sign-in at Test AAI was issued for another application, not for this labgate. "
        "Start again; tell an administrator if it happens again."
    )
