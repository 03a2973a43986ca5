"""Facts about the server: version, login methods, health and metrics."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from labgate import __version__
from labgate.api.deps import State
from labgate.auth.authentication import authenticate
from labgate.auth.client import client_address
from labgate.auth.policy import Action, authorize
from labgate.auth.providers import kind_of
from labgate.auth.sessions import count_active_sessions
from labgate.launching.launcher import launchable

router = APIRouter(tags=["server"])
probes = APIRouter(tags=["server"])


class ProviderOut(BaseModel):
    """A sign-in provider: ``password`` ones check the login form (asked in order),
    ``redirect`` ones are buttons (``GET /auth/providers/<name>/login``)."""

    name: str
    label: str
    kind: Literal["password", "redirect"]


class LimitsOut(BaseModel):
    """Rules a form can tell the user about before the server refuses the input."""

    api_token_max_days: int
    min_password_length: int


class PluginOut(BaseModel):
    name: str
    version: str


class BundleOut(BaseModel):
    """A plug-in's front-end bundle: the browser imports ``entry`` at start."""

    name: str
    version: str
    entry: str


class LauncherOut(BaseModel):
    name: str
    #: How the launch form offers it ("On the resource itself").
    title: str
    #: It schedules batch jobs (the launch form then asks for CPUs, memory, time).
    batch: bool


class ViewerOut(BaseModel):
    """A file viewer (``labgate.plugins.front_end.FileViewer``)."""

    id: str
    title: str
    component: str
    extensions: list[str]
    names: list[str]
    priority: int
    bundle: str


class PaneOut(BaseModel):
    """A kind of pane (``labgate.plugins.front_end.Pane``)."""

    kind: str
    title: str
    in_menu: bool
    bundle: str
    #: Offered to administrators only (the Administration menu).
    admin_only: bool


class InfoOut(BaseModel):
    name: str
    version: str
    auth_providers: list[ProviderOut]
    limits: LimitsOut
    #: The active plug-ins (labgate's own built-ins among them).
    plugins: list[PluginOut]
    #: The plug-ins' front-end bundles (docs/plugins.md, "Front-end bundles").
    bundles: list[BundleOut]
    #: What they provide that the front end shows.
    launchers: list[LauncherOut]
    viewers: list[ViewerOut]
    panes: list[PaneOut]


def _is_loopback(address: str) -> bool:
    return address == "::1" or address.startswith("127.")


@router.get("/info", summary="Server name, version and login methods (public)")
async def info(state: State) -> InfoOut:
    return InfoOut(
        name="labgate",
        version=__version__,
        auth_providers=[
            ProviderOut(name=p.name, label=p.label, kind=kind_of(p)) for p in state.providers
        ],
        limits=LimitsOut(
            api_token_max_days=state.settings.api_token_max_days,
            min_password_length=state.settings.min_password_length,
        ),
        plugins=[PluginOut(name=p.name, version=p.version) for p in state.plugins.info()],
        bundles=[BundleOut(**b.describe()) for b in state.bundles.values()],
        launchers=[
            LauncherOut(name=launcher.name, title=launcher.title, batch=launcher.batch)
            for launcher in state.plugins.launchers().values()
            if launchable(launcher)
        ],
        viewers=[ViewerOut(**v.describe()) for v in state.plugins.file_viewers().values()],
        panes=[PaneOut(**pane.describe()) for pane in state.plugins.panes().values()],
    )


@probes.get("/healthz", summary="Liveness and database reachability")
async def healthz(state: State) -> JSONResponse:
    try:
        await state.database.ping()
    except Exception as exc:  # any database failure means "unhealthy", never a 500 page
        return JSONResponse(
            {"status": "unhealthy", "database": f"error: {type(exc).__name__}"}, status_code=503
        )
    return JSONResponse({"status": "ok", "database": "ok"})


@probes.get(
    "/metrics",
    summary="Prometheus metrics (loopback clients or administrators)",
    response_class=PlainTextResponse,
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
)
async def metrics(request: Request, state: State) -> Response:
    client = client_address(request, state.settings.trusted_proxies)
    if not (state.settings.metrics_public or _is_loopback(client)):
        authorize(await authenticate(request, state, method="GET"), Action.READ_METRICS)
    async with state.database.read() as db:
        state.metrics.active_sessions.set(await count_active_sessions(db, state.settings))
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
