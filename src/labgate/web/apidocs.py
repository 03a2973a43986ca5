"""Rendered API documentation (Swagger UI), served from the Python package: no CDN, and no
inline script, so the page works under labgate's Content-Security-Policy."""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

DOCS_PATH = "/api/v1/docs"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>labgate API</title>
<link rel="stylesheet" href="{docs}/static/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{docs}/static/swagger-ui-bundle.js"></script>
<script src="{docs}/init.js"></script>
</body>
</html>
"""

_INIT = """window.addEventListener("load", function () {{
  window.ui = SwaggerUIBundle({{
    url: "{openapi}",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: false,
  }});
}});
"""


def install_api_docs(app: FastAPI, openapi_url: str) -> None:
    app.mount(
        f"{DOCS_PATH}/static",
        StaticFiles(directory=Path(swagger_ui_bundle.swagger_ui_path)),
        name="apidocs-static",
    )

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs_page() -> HTMLResponse:
        return HTMLResponse(_PAGE.format(docs=DOCS_PATH))

    @app.get(f"{DOCS_PATH}/init.js", include_in_schema=False)
    async def docs_init() -> Response:
        return Response(_INIT.format(openapi=openapi_url), media_type="text/javascript")
