"""An app's own ``Authorization`` reaches it; labgate's never does (labgate.proxy.headers,
docs/api-contract.md, "Towards the app"). The rule on header lists, and through the
proxy in-process to a real small app that answers with the headers it got
(tests/support/proxied.py), on SQLite and PostgreSQL: a labgate API token opens the
app and is stripped; ``Basic`` and a bearer token that is not labgate's pass, beside
the login cookie that the proxy then knows the caller by.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from labgate.auth.tokens import is_labgate_authorization
from labgate.db.engine import Database
from labgate.db.models import Role
from labgate.proxy.headers import to_app
from labgate.settings import Settings
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.daemons import daemon_runtime_dir
from tests.support.proxied import running_session, small_app, state_of

BASIC = "Basic dXNlcjpwYXNzd29yZA=="
APP_TOKEN = (b"authorization", b"token the-apps-own")


def sent(headers: list[tuple[bytes, bytes]], auth: tuple[bytes, bytes] | None = None) -> list:
    return to_app(headers, auth=auth, forwarded_for="10.0.0.1", forwarded_proto="https")


@pytest.mark.parametrize(
    ("value", "labgates"),
    [
        ("Bearer lgt_abc", True),
        ("bearer lgt_abc", True),
        ("BEARER   lgt_abc ", True),
        (" Bearer lgt_", True),
        ("Bearer abc", False),
        ("Bearer", False),
        ("token lgt_abc", False),
        (BASIC, False),
        ("", False),
    ],
)
def test_which_authorization_is_labgates(value: str, labgates: bool) -> None:
    assert is_labgate_authorization(value) is labgates


def test_the_apps_authorization_passes_labgates_does_not() -> None:
    basic = (b"authorization", BASIC.encode())
    assert basic in sent([basic])
    other_bearer = (b"authorization", b"Bearer eyJhbGciOi.app.jwt")
    assert other_bearer in sent([other_bearer])
    for labgates in (b"Bearer lgt_secret", b"bearer  lgt_secret"):
        assert not [n for n, _ in sent([(b"authorization", labgates)]) if n == b"authorization"]
    # Of two, only the app's goes on.
    both = sent([(b"authorization", b"Bearer lgt_secret"), basic])
    assert [v for n, v in both if n == b"authorization"] == [BASIC.encode()]


def test_the_templates_credential_replaces_the_browsers() -> None:
    out = sent([(b"authorization", BASIC.encode()), (b"accept", b"*/*")], auth=APP_TOKEN)
    assert [v for n, v in out if n == b"authorization"] == [APP_TOKEN[1]]
    assert (b"accept", b"*/*") in out


# -- through the proxy ------------------------------------------------------------------


@pytest.fixture
def runtime_dir() -> Iterator[str]:
    with daemon_runtime_dir("labgate-headers-") as path:
        yield path


@pytest.fixture
def settings(settings: Settings, runtime_dir: str) -> Settings:
    # The session's owner is an ordinary user, on the server's own machine.
    return settings.model_copy(
        update={"agent_runtime_dir": runtime_dir, "local_resource": "everyone"}
    )


@pytest.fixture
async def alice(accounts: AccountFactory) -> AsyncIterator[LoggedIn]:
    await accounts.login("root", role=Role.ADMIN)
    yield await accounts.login("alice")
    await accounts.close()


@pytest.fixture
async def headers_page(app: Any, database: Database, alice: LoggedIn) -> AsyncIterator[str]:
    """The path of a session's page that answers with the headers the app got."""
    async with small_app() as port:
        session_id = await running_session(database, state_of(app).session_tokens, "alice", port)
        yield f"/s/{session_id}/headers"


def seen_by_app(answer: httpx.Response) -> dict[str, str]:
    assert answer.status_code == 200, answer.text
    return {k.lower(): v for k, v in answer.json().items()}


async def test_a_labgate_token_opens_the_app_and_never_reaches_it(
    alice: LoggedIn, client: httpx.AsyncClient, headers_page: str
) -> None:
    made = await alice.post("/api/v1/tokens", json={"name": "p", "scopes": ["read", "write"]})
    assert made.status_code == 201, made.text
    secret = made.json()["secret"]
    seen = seen_by_app(
        await client.get(headers_page, headers={"Authorization": f"Bearer {secret}"})
    )
    assert "authorization" not in seen
    assert secret not in str(seen)


@pytest.mark.parametrize("authorization", [BASIC, "Bearer not-a-labgate-token"])
async def test_the_apps_own_authorization_reaches_it(
    alice: LoggedIn, client: httpx.AsyncClient, headers_page: str, authorization: str
) -> None:
    # With the login cookie, the caller is known by it; the header is the app's.
    seen = seen_by_app(await alice.get(headers_page, headers={"Authorization": authorization}))
    assert seen["authorization"] == authorization
    # Without a login, the app's header does not let anyone in.
    anonymous = await client.get(headers_page, headers={"Authorization": authorization})
    assert anonymous.status_code == 401, anonymous.text
