"""HTTP for serving and receiving files: byte ranges, entity tags and their
preconditions, Content-Disposition names, and which types may be shown inline.

Kept apart from the routes (``api/files.py``) because none of it knows about resources:
these are the rules of RFC 9110 (ranges, conditional requests) and RFC 6266 as labgate
applies them.
"""

from __future__ import annotations

import mimetypes
import re
from urllib.parse import quote

from labgate.errors import BadRequest

# Types the file browser may show in an <img>, <audio> or <video>. Anything else is sent
# as application/octet-stream: a file from a resource must never become a page or a
# script of labgate's origin (HTML, SVG, JavaScript). CONTENT_POLICY backs that up for a
# file opened on its own: no script runs in it, and it shares no origin.
SHOWN_TYPES = frozenset(
    {
        *("image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp"),
        *("audio/mpeg", "audio/ogg", "audio/wav", "audio/x-wav", "audio/flac"),
        *("video/mp4", "video/webm", "video/ogg", "text/plain"),
    }
)
OPAQUE_TYPE = "application/octet-stream"
CONTENT_POLICY = "sandbox; default-src 'none'; img-src 'self'; media-src 'self'"

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")

ByteRange = tuple[int | None, int | None]


def media_type(name: str) -> str:
    """What a file called ``name`` is served as."""
    guessed = mimetypes.guess_type(name, strict=False)[0]
    return guessed if guessed in SHOWN_TYPES else OPAQUE_TYPE


def requested_range(header: str | None) -> ByteRange | None:
    """``(first, last)`` of a single ``Range: bytes=first-last`` (``last`` None for
    ``first-``), ``(None, n)`` for the last n bytes. None when there is no range this
    server serves: the whole file is sent then, as HTTP allows (several ranges, other
    units, a malformed one)."""
    found = _RANGE.fullmatch(header.strip()) if header else None
    if found is None or found.groups() == ("", ""):
        return None
    first, last = (int(group) if group else None for group in found.groups())
    if first is not None and last is not None and last < first:
        return None
    return first, last


def etag(version: str) -> str:
    """The strong entity tag of a file's version."""
    return f'"{version}"'


def none_match(header: str | None, version: str) -> bool:
    """Whether an If-None-Match header names this version (weak comparison) or is ``*``."""
    tags = {tag.strip().removeprefix("W/") for tag in (header or "").split(",")}
    return "*" in tags or etag(version) in tags


def if_match_version(header: str | None) -> str | None:
    """The one version an If-Match header names (as an entity tag, or bare)."""
    if header is None:
        return None
    tag = header.strip()
    if not tag or tag == "*" or "," in tag or tag.startswith("W/"):
        raise BadRequest("If-Match takes the one version (ETag) the file had when it was read.")
    return tag.removeprefix('"').removesuffix('"')


def disposition(kind: str, name: str) -> str:
    """A Content-Disposition (RFC 6266): a plain ASCII ``filename`` for old clients, the
    exact name as ``filename*`` (UTF-8, percent-encoded) for the others."""
    plain = "".join(c if " " <= c <= "~" and c not in '"\\%;' else "_" for c in name)
    return f"{kind}; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"
