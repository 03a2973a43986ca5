"""Each hook with a plug-in of a test's own, passed through ``Plugins.load(extra=...)``:
what it provides takes part exactly where labgate's own built-ins do (a launcher in the
launch API, a template in the launcher's list, a probe and a check asked of a running
app, a transport for a resource of its kind, a router below /api/v1, viewers and panes
in /api/v1/info). Sessions run on the ``local`` resource in the test's own daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import update

from labgate.agent.client import AgentError
from labgate.api.deps import CurrentPrincipal
from labgate.app import create_app
from labgate.auth.policy import Action, authorize
from labgate.db.engine import Database
from labgate.db.models import Resource, Role
from labgate.errors import ConfigurationError
from labgate.experiments.records import BadRecord, ExperimentRecord, member_of
from labgate.launchers.direct import DirectLauncher
from labgate.launching.launcher import LaunchRequest, Poll, ResourceAccess
from labgate.launching.probes import Activity, ActivityProbe, AppHttp, ReadinessCheck
from labgate.plugins import hookimpl
from labgate.plugins.front_end import FileViewer, FrontendBundle, Pane
from labgate.plugins.manager import Plugins
from labgate.resources.login import Login
from labgate.resources.plan import ConnectionPlan
from labgate.resources.transports import TransportKind
from labgate.sessions.templates import WEBAPP
from labgate.settings import Settings
from labgate.transport.base import Transport
from labgate.transport.local import LocalTransport, minimal_environment
from labgate.web.panes import PANES
from labgate.web.viewers import VIEWERS
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.eventually import PATIENCE_SECONDS
from tests.support.local_accounts import map_local_to_root
from tests.support.local_sessions import local_id, private_daemon, wait_for

ROOT = Path(__file__).resolve().parents[1]
SERVE = "python3 -m http.server {port} --bind 127.0.0.1"


@pytest.fixture
def settings(settings: Settings) -> Iterator[Settings]:
    """Everyone may use ``local``, in a daemon of the test's own; a round every second."""
    with private_daemon() as runtime_dir:
        yield settings.model_copy(
            update={
                "local_resource": "everyone",
                "agent_runtime_dir": str(runtime_dir),
                "daemon_idle_minutes": 1,
                "app_reconcile_seconds": 1,
            }
        )


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, database: Database, *plugins: object
) -> AsyncIterator[AccountFactory]:
    """labgate with ``plugins`` loaded after its own, started; its accounts."""
    loaded = Plugins.load(settings, extra=plugins, entry_points=False)
    app = create_app(settings, database=database, bootstrap=False, plugins=loaded)
    async with app.router.lifespan_context(app):
        await map_local_to_root(database)
        accounts = AccountFactory(app, database, settings)
        try:
            yield accounts
        finally:
            await accounts.close()


async def launched(
    user: LoggedIn, template: str, *, launcher: str = "direct", command: str = SERVE
) -> str:
    """A session of ``template`` on local (running ``command``), once it runs: its id."""
    answer = await user.post(
        "/api/v1/sessions",
        json={
            "template": template,
            "launcher": launcher,
            "resource_id": await local_id(user),
            "form": {"app_command": command},
        },
    )
    assert answer.status_code == 201, answer.text
    session_id: str = answer.json()["id"]
    await wait_for(user, session_id, "running")
    return session_id


def test_the_builtins_are_plugins(settings: Settings) -> None:
    plugins = Plugins.load(settings, entry_points=False)
    assert {n: (lr.name, lr.batch) for n, lr in plugins.launchers().items()} == {
        "direct": ("direct", False),
        "slurm": ("slurm", True),
        "terminal": ("terminal", False),
    }
    templates = ["jupyterlab", "tensorboard", "webapp", "desktop", "terminal"]
    assert list(plugins.app_templates()) == templates
    assert plugins.app_templates()["jupyterlab"].activity == "jupyter"
    assert list(plugins.activity_probes()) == ["jupyter"]
    assert list(plugins.readiness_checks()) == ["http", "rfb"]
    assert list(plugins.transports()) == ["local", "ssh"]
    assert plugins.launchers()["direct"] is plugins.launchers()["direct"]  # asked once


# -- experiment sources ------------------------------------------------------------------


class ProposalSource:
    """A proposal system of a test's own: ``data`` names a cycle, each gives one record
    (and a bad one, to show it is reported while the others are applied)."""

    name = "proposals"

    def read(self, data: str) -> Iterator[ExperimentRecord | BadRecord]:
        yield ExperimentRecord(
            code=f"{data}-01",
            title="From the proposal system",
            members=(member_of("olga:pi"),),
            where="proposal 0",
        )
        yield BadRecord("proposal 1", "no principal investigator", f"{data}-02")


class ProposalPlugin:
    @hookimpl
    def register_experiment_sources(self) -> list[ProposalSource]:
        return [ProposalSource()]


async def test_hook_register_experiment_sources_a_plugins_source_imports(
    settings: Settings, database: Database
) -> None:
    plugins = Plugins.load(settings, extra=[ProposalPlugin()], entry_points=False)
    assert list(plugins.experiment_sources()) == ["csv", "json", "proposals"]
    async with serving(settings, database, ProposalPlugin()) as accounts:
        admin = await accounts.login("root", role=Role.ADMIN)
        olga = await accounts.login("olga")
        answer = await admin.post(
            "/api/v1/experiments/import", json={"format": "proposals", "data": "2026A"}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["created"] == ["2026A-01"]
        assert answer.json()["refused"] == [
            {"where": "proposal 1", "problem": "no principal investigator", "code": "2026A-02"}
        ]
        mine = (await olga.get("/api/v1/experiments")).json()["experiments"]
        assert [(e["code"], e["my_role"], e["source"]) for e in mine] == [
            ("2026A-01", "pi", "proposals")
        ]


# -- launchers ----------------------------------------------------------------------------


class RecordedLauncher(DirectLauncher):
    """The direct launcher under another name, noting what it starts."""

    name = "recorded"

    def __init__(self) -> None:
        self.started: list[str] = []

    async def start(self, resource: ResourceAccess, request: LaunchRequest) -> dict[str, Any]:
        self.started.append(request.session_id)
        return await super().start(resource, request)


async def test_hook_register_launchers_a_plugins_launcher_launches_through_the_api(
    settings: Settings, database: Database
) -> None:
    launcher = RecordedLauncher()

    class Plugin:
        @hookimpl
        def register_launchers(self) -> list[RecordedLauncher]:
            return [launcher]

    async with serving(settings, database, Plugin()) as accounts:
        alice = await accounts.login("alice")
        listed = (await alice.get("/api/v1/app-templates")).json()["templates"]
        assert all(t["launchers"] == ["direct", "recorded", "slurm"] for t in listed)
        info = (await alice.get("/api/v1/info")).json()
        recorded = {"name": "recorded", "title": "On the resource itself", "batch": False}
        assert recorded in info["launchers"]

        session_id = await launched(alice, "webapp", launcher="recorded")
        assert launcher.started == [session_id]

        refused = await alice.post(
            "/api/v1/sessions",
            json={"template": "webapp", "launcher": "elsewhere", "resource_id": 1, "form": {}},
        )
        assert refused.status_code == 422
        assert "one of direct, recorded, slurm" in refused.text


class StumblingLauncher(DirectLauncher):
    """The direct launcher, whose first polls fail as when the resource's connection
    drops while the app starts."""

    name = "stumbling"

    def __init__(self, failures: int) -> None:
        self.failures = failures

    async def poll(self, resource: ResourceAccess, state: Mapping[str, Any]) -> Poll:
        if self.failures:
            self.failures -= 1
            raise AgentError("The connection to the resource ended.")
        return await super().poll(resource, state)


async def test_hook_register_launchers_a_launch_the_launcher_cannot_follow_for_a_while_runs(
    settings: Settings, database: Database
) -> None:
    """The conformance suite lets poll raise a LabgateError for "cannot find out now";
    the lifecycle takes that as "unknown" while launching, as the reconciler does,
    rather than failing the session and leaving its app running unwatched."""
    launcher = StumblingLauncher(failures=3)

    class Plugin:
        @hookimpl
        def register_launchers(self) -> list[StumblingLauncher]:
            return [launcher]

    async with serving(settings, database, Plugin()) as accounts:
        alice = await accounts.login("alice")
        session_id = await launched(alice, "webapp", launcher="stumbling")
        session = (await alice.get(f"/api/v1/sessions/{session_id}")).json()
    assert launcher.failures == 0
    assert "The scheduler does not answer; asking again." in session["progress"]


# -- app templates ------------------------------------------------------------------------

HELLO = dataclasses.replace(WEBAPP, id="hello", title="Hello")


async def test_hook_register_app_templates_a_plugins_template_is_listed(
    settings: Settings, database: Database
) -> None:
    class Plugin:
        @hookimpl
        def register_app_templates(self) -> list[Any]:
            return [HELLO]

    async with serving(settings, database, Plugin()) as accounts:
        alice = await accounts.login("alice")
        listed = (await alice.get("/api/v1/app-templates")).json()["templates"]
        assert [t["id"] for t in listed] == [
            "jupyterlab",
            "tensorboard",
            "webapp",
            "desktop",
            "hello",
        ]
        assert listed[-1]["title"] == "Hello"


def test_hook_register_app_templates_naming_an_unknown_probe_stops_the_start(
    settings: Settings, database: Database
) -> None:
    class Plugin:
        @hookimpl
        def register_app_templates(self) -> list[Any]:
            return [dataclasses.replace(HELLO, activity="kernels")]

    plugins = Plugins.load(settings, extra=[Plugin()], entry_points=False)
    with pytest.raises(ConfigurationError, match=r"'hello'.*'kernels'.*known: jupyter"):
        create_app(settings, database=database, bootstrap=False, plugins=plugins)


# -- activity probes and readiness checks -------------------------------------------------


async def test_hook_register_activity_probes_the_templates_probe_is_asked(
    settings: Settings, database: Database
) -> None:
    asked: list[tuple[str, int]] = []
    first = asyncio.Event()

    async def ask(app: AppHttp) -> Activity:
        status, _ = await app.get("")  # http.server's listing of its directory
        asked.append((app.template.id, status))
        first.set()
        return Activity(busy=True)

    class Plugin:
        @hookimpl
        def register_activity_probes(self) -> list[ActivityProbe]:
            return [ActivityProbe("asked", ask)]

        @hookimpl
        def register_app_templates(self) -> list[Any]:
            return [dataclasses.replace(HELLO, activity="asked")]

    async with serving(settings, database, Plugin()) as accounts:
        alice = await accounts.login("alice")
        await launched(alice, "hello")
        async with asyncio.timeout(PATIENCE_SECONDS):  # the reconciler asks once a second
            await first.wait()
        assert asked[0] == ("hello", 200)


async def test_hook_register_readiness_checks_the_templates_check_decides(
    settings: Settings, database: Database
) -> None:
    answers: list[int] = []

    async def third_time(app: AppHttp) -> bool:
        status, _ = await app.get("")
        answers.append(status)
        return len(answers) == 3  # the http check would have said yes at the first

    class Plugin:
        @hookimpl
        def register_readiness_checks(self) -> list[ReadinessCheck]:
            return [ReadinessCheck("third-time", third_time)]

        @hookimpl
        def register_app_templates(self) -> list[Any]:
            return [dataclasses.replace(HELLO, readiness="third-time")]

    async with serving(settings, database, Plugin()) as accounts:
        alice = await accounts.login("alice")
        await launched(alice, "hello")
        assert answers == [200, 200, 200]


# -- transports ---------------------------------------------------------------------------


async def test_hook_register_transports_a_resource_of_its_kind_is_reached_through_it(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    made: list[str] = []

    def make(plan: ConnectionPlan, login: Login, settings: Settings) -> Transport:
        made.append(plan.resource_name)
        return LocalTransport(env=minimal_environment())

    async def open_(transport: Transport) -> None:
        made.append("opened")

    class Plugin:
        @hookimpl
        def register_transports(self) -> list[TransportKind]:
            return [TransportKind("sandbox", make, open_)]

    async with serving(settings, database, Plugin()) as accounts:
        alice = await accounts.login("alice")
        created = await alice.post(
            "/api/v1/resources",
            json={"name": "box", "host": "box.example.org", "username": "alice"},
        )
        assert created.status_code == 201, created.text
        box = created.json()["id"]
        async with database.session() as db:
            await db.execute(update(Resource).where(Resource.id == box).values(kind="sandbox"))
        (tmp_path / "seen-through-the-sandbox").touch()
        listing = await alice.get(f"/api/v1/resources/{box}/files", params={"path": str(tmp_path)})
        assert listing.status_code == 200, listing.text
        assert "seen-through-the-sandbox" in [e["name"] for e in listing.json()["entries"]]
        assert made == ["box", "opened"]


# -- routers ------------------------------------------------------------------------------


async def test_hook_register_routers_a_plugins_route_answers_and_asks_for_a_login(
    settings: Settings, database: Database
) -> None:
    router = APIRouter()

    @router.get("/hello")
    async def hello(principal: CurrentPrincipal) -> dict[str, str]:
        authorize(principal, Action.LIST_SESSIONS)
        return {"hello": principal.username}

    class Plugin:
        @hookimpl
        def register_routers(self) -> list[APIRouter]:
            return [router]

    async with serving(settings, database, Plugin()) as accounts:
        assert (await accounts.anonymous().get("/api/v1/hello")).status_code == 401
        alice = await accounts.login("alice")
        answer = await alice.get("/api/v1/hello")
        assert (answer.status_code, answer.json()) == (200, {"hello": "alice"})


# -- file viewers and panes ---------------------------------------------------------------

FITS = FileViewer("fits", "FITS image", "FitsViewer", extensions=("fits",), bundle="astro")
SKY = Pane("sky-map", "Sky map", bundle="astro")


class AstroPlugin:
    """A viewer and a pane, whose components are in the plug-in's front-end bundle."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir()
        (directory / "astro.js").write_text("export function register(api) {}\n")
        manifest = {
            "name": "astro",
            "version": "1.0.0",
            "entry": "astro.js",
            "frontend_api": 1,
            "panes": ["sky-map"],
            "viewers": ["FitsViewer"],
        }
        (directory / "manifest.json").write_text(json.dumps(manifest))
        self.directory = directory

    @hookimpl
    def register_file_viewers(self) -> list[FileViewer]:
        return [FITS]

    @hookimpl
    def register_panes(self) -> list[Pane]:
        return [SKY]

    @hookimpl
    def register_frontend_bundles(self) -> list[FrontendBundle]:
        return [FrontendBundle("astro", self.directory)]


async def info_with_astro(
    settings: Settings, database: Database, tmp_path: Path
) -> Mapping[str, Any]:
    astro = AstroPlugin(tmp_path / "astro")
    async with serving(settings, database, astro) as accounts:
        answer: Mapping[str, Any] = (await accounts.anonymous().get("/api/v1/info")).json()
    return answer


async def test_hook_register_file_viewers_a_viewer_is_in_the_info(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    viewers = (await info_with_astro(settings, database, tmp_path))["viewers"]
    assert viewers == [v.describe() for v in (*VIEWERS, FITS)]


async def test_hook_register_panes_a_pane_is_in_the_info(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    panes = (await info_with_astro(settings, database, tmp_path))["panes"]
    assert panes == [p.describe() for p in (*PANES, SKY)]


def test_the_builtin_viewers_are_the_front_ends() -> None:
    """web/viewers.py says what the front end's tests take for the server's list
    (frontend/src/testing/viewers.ts, SERVER_VIEWERS), in the same order."""
    source = (ROOT / "frontend/src/testing/viewers.ts").read_text()
    block = re.search(r"export const SERVER_VIEWERS[^=]*= \[(.*?)\n\]", source, re.S)
    assert block is not None

    def words(text: str) -> tuple[str, ...]:
        return tuple(re.findall(r"'([^']*)'", text))

    front_end = [
        (id_, component, words(extensions), words(names), int(priority))
        for id_, component, extensions, names, priority in re.findall(
            r"\{ id: '([\w-]+)', component: '(\w+)', extensions: \[([^\]]*)\], "
            r"names: \[([^\]]*)\], priority: (\d+) \}",
            block.group(1),
        )
    ]
    assert front_end == [(v.id, v.component, v.extensions, v.names, v.priority) for v in VIEWERS]


def test_the_builtin_panes_are_the_front_ends() -> None:
    """web/panes.py lists every pane frontend/src/panes/*/index.ts registers."""
    panes = ROOT / "frontend/src/panes"
    names = dict(
        re.findall(r"export const (\w+_PANE) = '([\w-]+)'", (panes / "opening.ts").read_text())
    )
    found: dict[str, tuple[str, bool, bool]] = {}
    for index in panes.glob("*/index.ts"):
        for call in re.findall(r"registerPane\(\{(.*?)\}\)", index.read_text(), re.S):
            kind = re.search(r"kind: (?:'([\w-]+)'|(\w+))", call)
            title = re.search(r"title: '([^']*)'", call)
            assert kind is not None, call
            assert title is not None, call
            in_menu = "inMenu: false" not in call
            admin_only = "adminOnly: true" in call
            found[kind.group(1) or names[kind.group(2)]] = (title.group(1), in_menu, admin_only)
    assert found == {p.kind: (p.title, p.in_menu, p.admin_only) for p in PANES}


async def test_info_without_a_login_says_what_labgates_own_give(client: httpx.AsyncClient) -> None:
    info = (await client.get("/api/v1/info")).json()
    assert info["launchers"] == [
        {"name": "direct", "title": "On the resource itself", "batch": False},
        {"name": "slurm", "title": "As a SLURM batch job", "batch": True},
    ]
    assert [v["id"] for v in info["viewers"]] == [v.id for v in VIEWERS]
    assert [p["kind"] for p in info["panes"]] == [p.kind for p in PANES]
