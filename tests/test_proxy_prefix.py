"""An app's redirects and cookies stay inside ``/s/<id>/`` (labgate.proxy.prefix): the
rules on many header shapes, and a real small app that sees paths without the prefix,
redirects to ``/login`` and sets cookies for ``/``, reached through the proxy in-process
(tests/support/proxied.py), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from labgate.db.engine import Database
from labgate.db.models import Role
from labgate.proxy.headers import to_browser
from labgate.proxy.prefix import Prefix
from labgate.settings import Settings
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.daemons import daemon_runtime_dir
from tests.support.proxied import APP_PAGE, plain_http, running_session, small_app, state_of

PREFIX = Prefix("/s/abc123", "labgate.example.org")


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/login", "/s/abc123/login"),
        ("/", "/s/abc123/"),
        ("/login?next=%2Fhome#top", "/s/abc123/login?next=%2Fhome#top"),
        # Already inside: an app that knows its prefix (JupyterLab) is left alone.
        ("/s/abc123/lab", "/s/abc123/lab"),
        ("/s/abc123", "/s/abc123"),
        # Another session's path is outside this one's.
        ("/s/abc1234/x", "/s/abc123/s/abc1234/x"),
        # The host the browser asked, in every spelling of it.
        ("http://labgate.example.org/login", "http://labgate.example.org/s/abc123/login"),
        ("https://LABGATE.example.org:443/a?b=1", "https://LABGATE.example.org:443/s/abc123/a?b=1"),
        ("http://labgate.example.org", "http://labgate.example.org/s/abc123/"),
        ("//labgate.example.org/login", "//labgate.example.org/s/abc123/login"),
        ("http://labgate.example.org/s/abc123/x", "http://labgate.example.org/s/abc123/x"),
        # Relative references resolve against a URL in the prefix already.
        ("login", "login"),
        ("../up", "../up"),
        ("?page=2", "?page=2"),
        ("#part", "#part"),
        ("", ""),
        # Other hosts and other schemes are the app's business.
        ("https://accounts.example.com/o/auth", "https://accounts.example.com/o/auth"),
        ("http://labgate.example.org:8080/x", "http://labgate.example.org:8080/x"),
        ("//elsewhere.example.com/x", "//elsewhere.example.com/x"),
        ("mailto:someone@example.org", "mailto:someone@example.org"),
    ],
)
def test_locations_are_kept_in_the_prefix(location: str, expected: str) -> None:
    assert PREFIX.location(location.encode()) == expected.encode()


def test_a_port_in_the_host_counts() -> None:
    local = Prefix("/s/abc123", "127.0.0.1:8000")
    assert local.location(b"http://127.0.0.1:8000/x") == b"http://127.0.0.1:8000/s/abc123/x"
    assert local.location(b"http://127.0.0.1/x") == b"http://127.0.0.1/x"
    # Without a Host header, no absolute URL is taken as labgate's.
    assert Prefix("/s/abc123", "").location(b"http://x.org/y") == b"http://x.org/y"


@pytest.mark.parametrize(
    ("cookie", "expected"),
    [
        (b"sid=1; Path=/", b"sid=1; Path=/s/abc123/"),
        (b"sid=1; path=/app; HttpOnly", b"sid=1; Path=/s/abc123/app; HttpOnly"),
        (b"sid=1;Path=/;Secure", b"sid=1; Path=/s/abc123/;Secure"),
        (b"sid=1; Path=/s/abc123/lab", b"sid=1; Path=/s/abc123/lab"),
        (b"sid=1; Path=/s/abc123", b"sid=1; Path=/s/abc123"),
        # No Path: the browser's default, the directory of the URL it asked, is inside.
        (b"sid=1", b"sid=1"),
        (b"sid=1; HttpOnly; SameSite=Lax", b"sid=1; HttpOnly; SameSite=Lax"),
        # A Path that is not a path is ignored by browsers (the default again).
        (b"sid=1; Path=relative", b"sid=1; Path=relative"),
        (b"sid=1; Path=", b"sid=1; Path="),
        # Domain would reach other hosts (other sessions' origins): removed.
        (b"sid=1; Domain=example.org; Path=/", b"sid=1; Path=/s/abc123/"),
        (b"sid=1; domain=.example.org", b"sid=1"),
        # An attribute value that only looks like a path is left alone.
        (
            b"sid=1; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Path=/x",
            b"sid=1; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Path=/s/abc123/x",
        ),
        (b"path=/; Max-Age=60", b"path=/; Max-Age=60"),
    ],
)
def test_cookie_paths_are_kept_in_the_prefix(cookie: bytes, expected: bytes) -> None:
    assert PREFIX.set_cookie(cookie) == expected


def test_the_browser_gets_every_cookie_and_the_redirect_rewritten() -> None:
    answer = [
        (b"Location", b"/login"),
        (b"Set-Cookie", b"a=1; Path=/"),
        (b"Set-Cookie", b"b=2"),
        (b"Set-Cookie", b"labgate_session=planted; Path=/"),
        (b"Set-Cookie", b"c=3; Path=/deep; Domain=labgate.example.org"),
        (b"Content-Location", b"/elsewhere"),
    ]
    assert to_browser(answer, prefix=PREFIX) == [
        (b"location", b"/s/abc123/login"),
        (b"set-cookie", b"a=1; Path=/s/abc123/"),
        (b"set-cookie", b"b=2"),
        (b"set-cookie", b"c=3; Path=/s/abc123/deep"),
        (b"content-location", b"/elsewhere"),
    ]


# -- a real app behind the proxy --------------------------------------------------------


def _escaping_app(connection: ServerConnection, request: Request) -> Response | None:
    """An app that believes it is at ``/``: its front page sends the browser to
    ``/login`` with cookies for ``/``; ``/login`` answers as the small app does."""
    if request.path.split("?")[0] != "/":
        return plain_http(connection, request)
    headers = Headers(
        [
            ("Location", f"http://{request.headers['Host']}/login?next=/"),
            ("Set-Cookie", "app_session=s1; Path=/; HttpOnly"),
            ("Set-Cookie", "app_theme=dark"),
            ("Content-Length", "0"),
        ]
    )
    return Response(302, "Found", headers, b"")


@pytest.fixture
def runtime_dir() -> Iterator[str]:
    with daemon_runtime_dir("labgate-prefix-") as path:
        yield path


@pytest.fixture
def settings(settings: Settings, runtime_dir: str) -> Settings:
    # The session's owner is an ordinary user, on the server's own machine.
    return settings.model_copy(
        update={"agent_runtime_dir": runtime_dir, "local_resource": "everyone"}
    )


@pytest.fixture
async def escaping_port() -> AsyncIterator[int]:
    async with small_app(on_http=_escaping_app) as port:
        yield port


@pytest.fixture
async def alice(accounts: AccountFactory) -> AsyncIterator[LoggedIn]:
    await accounts.login("root", role=Role.ADMIN)
    yield await accounts.login("alice")
    await accounts.close()


async def test_an_app_that_escapes_its_prefix_is_kept_in_it(
    app: Any, database: Database, alice: LoggedIn, escaping_port: int
) -> None:
    tokens = state_of(app).session_tokens
    session_id = await running_session(database, tokens, "alice", escaping_port)
    other_id = await running_session(database, tokens, "alice", escaping_port)
    first = await alice.get(f"/s/{session_id}/")
    assert first.status_code == 302, first.text
    assert first.headers["location"] == f"http://testserver/s/{session_id}/login?next=/"
    assert first.headers.get_list("set-cookie") == [
        f"app_session=s1; Path=/s/{session_id}/; HttpOnly",
        "app_theme=dark",
    ]
    # Followed, the redirect stays with the app.
    login = await alice.get(first.headers["location"])
    assert login.status_code == 200, login.text
    assert login.content == APP_PAGE

    # The browser (httpx's cookie jar keeps to Path as browsers do) sends the app's
    # cookie back to this session only, never to another app.
    def cookies_seen(answer: httpx.Response) -> str:
        assert answer.status_code == 200, answer.text
        return str({k.lower(): v for k, v in answer.json().items()}.get("cookie", ""))

    assert "app_session=s1" in cookies_seen(await alice.get(f"/s/{session_id}/headers"))
    assert "app_session" not in cookies_seen(await alice.get(f"/s/{other_id}/headers"))
