"""Mending an app's own pages on their way to the browser, where the app cannot be told
better: a template's ``page_rewrites`` replace fixed pieces of text in the app's HTML and
CSS answers.

TensorBoard is the case in point: its ``index.html`` carries the Roboto ``@font-face``
rules inline with absolute URLs, ``url(/font-roboto/...)``, which its ``--path_prefix``
does not change (tensorflow/tensorboard#1885), so behind any prefix the browser asks
labgate's root for the fonts. Its template replaces ``url(/font-roboto/`` with
``url(/s/<id>/font-roboto/``.

Only answers the browser can read as they come are rewritten: ``text/html`` and
``text/css`` without a ``Content-Encoding`` (or ``identity``); a compressed answer passes
unchanged. The body is still streamed: a piece is held back only as long as the longest
text searched for, so a match split between two pieces is found.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

_REWRITTEN_TYPES = (b"text/html", b"text/css")


def rewritable(headers: Sequence[tuple[bytes, bytes]]) -> bool:
    """Whether an answer with these (lower-case) headers is a page to rewrite."""
    kind = b""
    for name, value in headers:
        if name == b"content-encoding" and value.strip().lower() not in (b"", b"identity"):
            return False
        if name == b"content-type":
            kind = value.split(b";", 1)[0].strip().lower()
    return kind in _REWRITTEN_TYPES


class PageRewriter:
    """Replaces each of ``replacements``' keys with its value in a body fed piece by piece
    (leftmost first, the longest where two start at one place, as ``str.replace`` would
    one after the other if none contained another)."""

    def __init__(self, replacements: Mapping[bytes, bytes]) -> None:
        if not replacements or not all(replacements):
            raise ValueError("page rewrites need at least one non-empty text to replace")
        self._replacements = dict(replacements)
        ordered = sorted(self._replacements, key=len, reverse=True)
        self._pattern = re.compile(b"|".join(re.escape(text) for text in ordered))
        self._longest = len(ordered[0])
        self._pending = b""

    def feed(self, piece: bytes) -> bytes:
        """The rewritten body so far (it may hold back the last few bytes)."""
        return self._rewrite(self._pending + piece, more=True)

    def end(self) -> bytes:
        """The rest of the body, once the app has sent all of it."""
        rest, self._pending = self._pending, b""
        return self._rewrite(rest, more=False)

    def _rewrite(self, data: bytes, *, more: bool) -> bytes:
        # From ``limit`` on, a match may be the start of a longer one, or a text may begin
        # that the next piece completes: that part waits for the next piece.
        limit = len(data) - self._longest + 1 if more else len(data)
        out: list[bytes] = []
        done = 0
        held = len(data)
        for match in self._pattern.finditer(data):
            if match.start() >= limit and len(match.group()) < self._longest:
                held = match.start()
                break
            out.append(data[done : match.start()])
            out.append(self._replacements[match.group()])
            done = match.end()
        cut = min(max(done, limit), held)
        out.append(data[done:cut])
        self._pending = data[cut:]
        return b"".join(out)
