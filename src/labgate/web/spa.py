"""Serving the built front end: hashed assets cached for ever, index.html never."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
# Paths that belong to the server; anything else is a front-end route.
_SERVER_PREFIXES = ("/api/", "/assets/", "/plugins/", "/healthz", "/metrics")

_NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>labgate</title>
<h1>The labgate front end is not built</h1>
<p>Run <code>make run</code> (or <code>npm ci && npm run build</code> in
<code>frontend/</code>) to build it. The API is available under <code>/api/v1</code>.</p>
"""


class ImmutableStaticFiles(StaticFiles):
    """Vite puts a content hash in every asset name, so they can be cached for a year."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def install_spa(app: FastAPI, static_dir: Path = STATIC_DIR) -> None:
    index = static_dir / "index.html"
    assets = static_dir / "assets"
    if assets.is_dir():
        app.mount("/assets", ImmutableStaticFiles(directory=assets), name="assets")

    # Files beside index.html (favicon, robots.txt), listed once so requests never touch
    # the file system to find out what exists.
    top_level = (
        {p.name: p for p in static_dir.iterdir() if p.is_file()} if static_dir.is_dir() else {}
    )
    index_exists = index.is_file()

    @app.get("/{path:path}", include_in_schema=False)
    async def spa(path: str, request: Request) -> Response:
        if request.url.path.startswith(_SERVER_PREFIXES):
            return Response(
                '{"error": {"code": "not_found", "message": "No such API endpoint."}}',
                status_code=404,
                media_type="application/json",
            )
        if path in top_level:
            return FileResponse(top_level[path], headers={"Cache-Control": "no-cache"})
        if not index_exists:
            return HTMLResponse(_NOT_BUILT, status_code=503)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
