"""labgate's sample plug-in: one of each part a plug-in may add, written only against
labgate's plug-in API, as a third party would (docs/plugins.md).

- a launcher, ``sample-nice``: labgate's direct launcher, with the app run under ``nice``;
- an app template, ``sample-page``: a tiny web app (Python's http.server) whose page
  says it is the sample;
- a file viewer for ``*.lgsample`` files and a "Sample" pane, whose components are in the
  front-end bundle ``sample`` (``frontend/``: plain JavaScript, no build step).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from labgate.launchers.direct import DirectLauncher
from labgate.launching.launcher import LaunchRequest, ResourceAccess
from labgate.launching.template import AppTemplate
from labgate.plugins import hookimpl
from labgate.plugins.front_end import FileViewer, FrontendBundle, Pane

BUNDLE = "sample"
FRONTEND = Path(__file__).parent / "frontend"
#: What the sample app's page says (the browser test looks for it).
PAGE_HEADING = "Served by the labgate sample plug-in"


class NiceLauncher(DirectLauncher):
    """Starts the app on the resource like ``direct``, at a lower CPU priority."""

    name = "sample-nice"
    title = "On the resource, at a lower CPU priority"

    async def start(self, resource: ResourceAccess, request: LaunchRequest) -> dict[str, Any]:
        def niced(command: str | None) -> str | None:
            return None if command is None else f"nice -n 10 {command}"

        template = dataclasses.replace(
            request.template,
            command=niced(request.template.command) or "",
            tcp_command=niced(request.template.tcp_command),
        )
        return await super().start(resource, dataclasses.replace(request, template=template))


# The app: a page on the port labgate gives it ($PORT). No braces in the code: labgate
# fills {placeholders} in a template's command.
_PAGE_SERVER = f"""import http.server, os
page = b"<!doctype html><meta charset=utf-8><title>Sample</title><h1 id=sample>{PAGE_HEADING}</h1>"
class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Page).serve_forever()
"""

SAMPLE_PAGE = AppTemplate(
    id="sample-page",
    title="Sample page",
    description="A tiny web app from labgate's sample plug-in.",
    icon="globe",
    command=f"python3 -u -c '{_PAGE_SERVER}'",
    listen="port",
    ready_path="",
    keeps_base_path=False,
    env={"PORT": "{port}"},
    start_timeout_seconds=30,
)


@hookimpl
def register_launchers() -> list[Any]:
    return [NiceLauncher()]


@hookimpl
def register_app_templates() -> list[AppTemplate]:
    return [SAMPLE_PAGE]


@hookimpl
def register_file_viewers() -> list[FileViewer]:
    return [
        FileViewer(
            id="lgsample",
            title="Sample viewer",
            component="SampleViewer",
            extensions=("lgsample",),
            bundle=BUNDLE,
        )
    ]


@hookimpl
def register_panes() -> list[Pane]:
    return [Pane(kind="sample", title="Sample", bundle=BUNDLE)]


@hookimpl
def register_frontend_bundles() -> list[FrontendBundle]:
    return [FrontendBundle(BUNDLE, FRONTEND)]
