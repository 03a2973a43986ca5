"""Serving plug-ins' front-end bundles below ``/plugins/<name>/``.

Static files only, from the bundle's directory and nothing outside it (Starlette's
StaticFiles resolves the path and refuses one that leaves the directory, symlinks
included). Bundles have no content hash in their file names, so every answer carries a
validator (ETag, Last-Modified) and ``Cache-Control: no-cache``: a browser asks again on
each load and gets 304 while the plug-in is unchanged, and the new files after an
upgrade. Like labgate's own ``/assets`` they are public: code, not data; which plug-ins
are installed is public in ``/api/v1/info`` already.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterable

from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Receive, Scope, Send

from labgate.plugins.bundles import LoadedBundle

# The types a browser insists on (modules must be JavaScript, and every answer is sent
# with nosniff), fixed here rather than left to the machine's mime.types.
_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".html": "text/html; charset=utf-8",
}


def content_type(path: str) -> str:
    extension = os.path.splitext(path)[1].lower()
    known = _CONTENT_TYPES.get(extension)
    if known:
        return known
    guessed, _ = mimetypes.guess_type(path)
    return guessed or "application/octet-stream"


class BundleFiles(StaticFiles):
    """One bundle's directory: right content types, revalidated on every load."""

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if isinstance(response, FileResponse):
            response.media_type = content_type(str(full_path))
            response.headers["content-type"] = response.media_type
        response.headers["cache-control"] = "no-cache"
        return response


class PluginAssets:
    """The ASGI app mounted at ``/plugins``: ``/<bundle>/<file>`` from that bundle."""

    def __init__(self, bundles: Iterable[LoadedBundle]) -> None:
        self.files = {b.name: BundleFiles(directory=b.directory) for b in bundles}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        root_path = scope.get("root_path", "")
        below = scope["path"][len(root_path) :] if scope["path"].startswith(root_path) else ""
        name, _, rest = below.lstrip("/").partition("/")
        files = self.files.get(name)
        if files is None or not rest:
            raise HTTPException(status_code=404, detail="No such plug-in file.")
        await files({**scope, "root_path": f"{root_path}/{name}"}, receive, send)
