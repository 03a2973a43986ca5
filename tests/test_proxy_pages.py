"""A template's page rewrites (labgate.proxy.pages): the rewriter finds its texts however
the body is cut into pieces, only readable HTML and CSS are rewritten, and through the
proxy in-process TensorBoard's font URLs (tensorflow/tensorboard#1885) come out inside
the session's prefix, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from labgate.db.engine import Database
from labgate.db.models import Role
from labgate.proxy.pages import PageRewriter, rewritable
from labgate.settings import Settings
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.daemons import daemon_runtime_dir
from tests.support.proxied import running_session, small_app, state_of

REWRITES = {b"url(/font-roboto/": b"url(/s/abc/font-roboto/", b"/x": b"/s/abc/x"}
PAGE = (
    b"<style>@font-face{src:local('Roboto'),url(/font-roboto/a.woff2)}"
    b"b{src:url(/font-roboto/b.woff2)}</style><a href=/x>/x/x</a>url(/font-roboto"
)
EXPECTED = (
    b"<style>@font-face{src:local('Roboto'),url(/s/abc/font-roboto/a.woff2)}"
    b"b{src:url(/s/abc/font-roboto/b.woff2)}</style><a href=/s/abc/x>/s/abc/x/s/abc/x</a>"
    b"url(/font-roboto"
)


def rewrite(pieces: list[bytes]) -> bytes:
    rewriter = PageRewriter(REWRITES)
    return b"".join(rewriter.feed(piece) for piece in pieces) + rewriter.end()


def test_whole_and_in_every_two_pieces() -> None:
    assert rewrite([PAGE]) == EXPECTED
    for cut in range(len(PAGE) + 1):
        assert rewrite([PAGE[:cut], PAGE[cut:]]) == EXPECTED, cut


def test_byte_by_byte_and_empty_pieces() -> None:
    assert rewrite([PAGE[i : i + 1] for i in range(len(PAGE))]) == EXPECTED
    assert rewrite([b"", PAGE[:10], b"", PAGE[10:], b""]) == EXPECTED
    assert rewrite([]) == b""


def test_a_longer_text_wins_when_the_next_piece_completes_it() -> None:
    """Where two texts start at one place the longer is replaced, also when the piece
    that completes it comes later (a shorter match at a piece's end waits)."""
    overlapping = {b"ab": b"1", b"abc": b"2"}
    body = b"xabcyabzab"
    whole = re.sub(b"abc|ab", lambda m: overlapping[m.group()], body)
    assert whole == b"x2y1z1"
    for cut in range(len(body) + 1):
        rewriter = PageRewriter(overlapping)
        got = rewriter.feed(body[:cut]) + rewriter.feed(body[cut:]) + rewriter.end()
        assert got == whole, cut
    rewriter = PageRewriter(overlapping)
    assert (
        b"".join(rewriter.feed(body[i : i + 1]) for i in range(len(body))) + (rewriter.end())
        == whole
    )


def test_nothing_to_replace_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        PageRewriter({})
    with pytest.raises(ValueError, match="non-empty"):
        PageRewriter({b"": b"x"})


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"content-type", b"text/html; charset=utf-8")], True),
        ([(b"content-type", b"TEXT/CSS")], True),
        ([(b"content-type", b"text/html"), (b"content-encoding", b"identity")], True),
        ([(b"content-type", b"text/html"), (b"content-encoding", b"gzip")], False),
        ([(b"content-type", b"application/javascript")], False),
        ([(b"content-type", b"font/woff2")], False),
        ([], False),
    ],
)
def test_which_answers_are_rewritten(headers: list[tuple[bytes, bytes]], expected: bool) -> None:
    assert rewritable(headers) is expected


# -- TensorBoard's index page through the proxy ---------------------------------------

FONT_PAGE = b"<!doctype html><style>@font-face{src:url(/font-roboto/r.woff2)}</style>"


def _tensorboard_like(connection: ServerConnection, request: Request) -> Response | None:
    """Its index page with a root-absolute font URL; ``.../gzipped`` the same,
    compressed; ``.../script`` the text as JavaScript."""
    path = request.path.split("?")[0]
    body, extra, kind = FONT_PAGE, [], "text/html"
    if path.endswith("/gzipped"):
        body, extra = gzip.compress(FONT_PAGE), [("Content-Encoding", "gzip")]
    elif path.endswith("/script"):
        kind = "application/javascript"
    headers = Headers([("Content-Type", kind), ("Content-Length", str(len(body))), *extra])
    return Response(200, "OK", headers, body)


@pytest.fixture
def runtime_dir() -> Iterator[str]:
    with daemon_runtime_dir("labgate-pages-") as path:
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


async def test_tensorboards_fonts_are_asked_for_inside_the_prefix(
    app: Any, database: Database, alice: LoggedIn
) -> None:
    async with small_app(on_http=_tensorboard_like) as port:
        tokens = state_of(app).session_tokens
        session_id = await running_session(database, tokens, "alice", port, "tensorboard")
        base = f"/s/{session_id}/"
        page = await alice.get(base)
        assert page.status_code == 200, page.text
        fixed = f"url({base}font-roboto/r.woff2)".encode()
        assert page.content == FONT_PAGE.replace(b"url(/font-roboto/r.woff2)", fixed)
        # Compressed and non-page answers pass as the app sent them.
        zipped = await alice.get(f"{base}gzipped")
        assert zipped.content == FONT_PAGE  # httpx decompressed what passed unchanged
        assert (await alice.get(f"{base}script")).content == FONT_PAGE
        # A web app's template has no rewrites: its pages pass as they are.
        webapp = await running_session(database, tokens, "alice", port)
        assert (await alice.get(f"/s/{webapp}/")).content == FONT_PAGE
