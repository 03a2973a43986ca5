"""The authorisation matrix: every door of labgate, called by every identity, answered as
``tests/authz_table.py`` says; and no door without its row there.

One world per backend (users in every condition, each with their things), two apps on
it: one as installed by default, one with per-session app origins. Calls go in-process;
nothing is connected (a resource is a closed port), so a refusal is decided before any
connection is tried and the owner gets what an unreachable resource answers.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from labgate.app import create_app
from labgate.db import migrate
from labgate.db.engine import Database
from labgate.plugins import hookimpl
from labgate.plugins.front_end import FrontendBundle
from labgate.plugins.manager import Plugins
from labgate.proxy.origins import CONFIRM_PATH, ENTER_PATH, SIGN_IN_PATH, binding_of
from labgate.settings import Settings
from tests.authz_table import TABLE, Row
from tests.conftest import BACKENDS, async_url
from tests.support import postgres
from tests.support.authz import (
    APP_DOMAIN,
    LABGATE_HOST,
    ORIGIN,
    PARAMETER_THINGS,
    PSEUDO_ROUTES,
    SUPPORT_GROUP,
    Call,
    Door,
    Identity,
    World,
    answer,
    client,
    fill,
    parameters,
    route_keys,
    subject_of,
)
from tests.support.labgate_api import TEST_CONNECT_ATTEMPTS, TEST_HOSTS_DENIED
from tests.support.rfb import DesktopTemplates


@dataclass
class Matrix:
    world: World
    app: Any  # as installed by default
    origins_app: Any  # with app_domain
    clients: dict[int, httpx.AsyncClient]


def _settings(data_dir: Path, **extra: Any) -> Settings:
    return Settings(
        data_dir=data_dir,
        min_password_length=10,
        password_hash_time_cost=1,
        password_hash_memory_kib=64,
        # The matrix's running sessions are rows, not apps: nobody should check them.
        app_reconcile_seconds=3600,
        # Its resources are a closed port of this machine, connected as often as it likes.
        resource_hosts_denied=TEST_HOSTS_DENIED,
        resource_connect_attempts_per_minute=TEST_CONNECT_ATTEMPTS,
        # The support staff's group, whose member is an identity of the matrix.
        support_group=SUPPORT_GROUP,
        **extra,
    )


def _static_dir(root: Path) -> Path:
    """A built front end of two files (the matrix needs the /assets mount to exist)."""
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>labgate</title>")
    (root / "assets" / "app.js").write_text("console.log('matrix')")
    return root


class _MatrixBundle:
    """A plug-in with a front-end bundle, so that /plugins/matrix/matrix.js exists."""

    def __init__(self, root: Path) -> None:
        self.directory = root
        root.mkdir(parents=True)
        (root / "matrix.js").write_text("export function register() {}")
        manifest = {"name": "matrix", "version": "1", "entry": "matrix.js", "frontend_api": 1}
        (root / "manifest.json").write_text(json.dumps(manifest))

    @hookimpl
    def register_frontend_bundles(self) -> list[FrontendBundle]:
        return [FrontendBundle("matrix", self.directory)]


@pytest.fixture(scope="module", params=BACKENDS)
async def matrix(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Matrix]:
    root = tmp_path_factory.mktemp("matrix")
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            dsn = f"sqlite+aiosqlite:///{root / 'labgate.sqlite3'}"
        else:
            admin = request.getfixturevalue("postgres_dsn")
            dsn = async_url(stack.enter_context(postgres.fresh_database(admin)))
        async for built in _matrix(dsn, root):
            yield built


async def _matrix(dsn: str, root: Path) -> AsyncIterator[Matrix]:
    static = _static_dir(root / "static")
    database = Database(dsn, pool_size=5)
    await migrate.upgrade(database)
    settings = _settings(root / "data")
    bundle = _MatrixBundle(root / "bundle")
    plain = create_app(
        settings,
        database=database,
        bootstrap=False,
        static_dir=static,
        plugins=Plugins.load(settings, extra=[bundle, DesktopTemplates()]),
    )
    origins = create_app(
        _settings(root / "data", app_domain=APP_DOMAIN, public_url=f"http://{LABGATE_HOST}"),
        database=Database(dsn, pool_size=5),
        bootstrap=False,
        static_dir=static,
    )
    async with (
        plain.router.lifespan_context(plain),
        origins.router.lifespan_context(origins),
    ):
        world = World(plain.state.labgate, database, plain.state.labgate.settings)
        await world.build()
        async with client(plain) as to_plain, client(origins) as to_origins:
            yield Matrix(world, plain, origins, {id(plain): to_plain, id(origins): to_origins})


def _cells() -> Iterator[Any]:
    for (method, path), row in TABLE.items():
        for identity in Identity:
            expect = row.expect[identity]
            marks = (
                [pytest.mark.xfail(strict=True, reason=f"pending: {expect.pending}")]
                if expect.pending
                else []
            )
            yield pytest.param(
                method, path, identity, marks=marks, id=f"{method} {path} {identity}"
            )


async def _call(matrix: Matrix, method: str, template: str, identity: Identity) -> Call:
    """The call ``identity`` makes at the door (method, template), with its things."""
    world = matrix.world
    row: Row = TABLE[(method, template)]
    subject = subject_of(identity)
    values: dict[str, str] = {}
    for name in parameters(template):
        if name in ("app_origin", "with_app_domain"):
            continue
        if name in row.values:
            values[name] = row.values[name]
            continue
        thing = row.things.get(name) or PARAMETER_THINGS[name]
        values[name] = (
            await world.make(thing, subject)
            if name in row.fresh
            else world.things[subject].values[thing]
        )
    credential = (
        await world.fresh_credential(identity)
        if "credential" in row.fresh
        else world.credentials[identity]
    )
    request = row.request
    if request.json is not None:
        request = replace(request, json=_with_values(request.json, world.things[subject].values))
    app, host, path = matrix.app, LABGATE_HOST, template
    app_cookie = ""
    if template.startswith(ORIGIN):
        session_id = world.things[subject].values[PARAMETER_THINGS["session_id"]]
        app, host, path = (
            matrix.origins_app,
            f"{session_id}.apps.{LABGATE_HOST}",
            template[len(ORIGIN) :],
        )
        origins = matrix.origins_app.state.labgate.origins
        if credential.login_id is not None and not credential.token:
            if path == ENTER_PATH:
                grant = origins.grant(session_id, credential.login_id)
                request = replace(request, query={"grant": grant, "next": f"/s/{session_id}/lab"})
            elif path == SIGN_IN_PATH:  # a pass, in the browser it is bound to
                binding, _ = origins.new_binding()
                bound = origins.pass_for(session_id, credential.login_id, binding_of(binding))
                request = replace(request, query={"grant": bound})
                app_cookie = f"{origins.binding_cookie}={binding}"
            else:
                value = origins.cookie_value(session_id, credential.login_id)
                app_cookie = f"{origins.app_cookie}={value}"
    elif template.startswith("{with_app_domain}"):
        app, path = matrix.origins_app, template[len("{with_app_domain}") :]
        if path == CONFIRM_PATH:  # the grant of the caller's own login, if it has one
            session_id = world.things[subject].values[PARAMETER_THINGS["session_id"]]
            origins = matrix.origins_app.state.labgate.origins
            grant = (
                origins.grant(session_id, credential.login_id)
                if credential.login_id is not None and not credential.token
                else ""
            )
            query = {"session": session_id, "grant": grant, "bind": binding_of("a browser")}
            request = replace(request, query=query)
    return Call(method, Door(app, host, fill(path, values)), credential, request, app_cookie)


def _with_values(body: Any, things: dict[Any, str]) -> Any:
    """``body`` with "{resource_id}" standing for the subject's resource (an integer)."""
    if body == "{resource_id}":
        return int(things[PARAMETER_THINGS["resource_id"]])
    if isinstance(body, dict):
        return {k: _with_values(v, things) for k, v in body.items()}
    if isinstance(body, list):
        return [_with_values(v, things) for v in body]
    return body


@pytest.mark.parametrize(("method", "path", "identity"), list(_cells()))
async def test_door(matrix: Matrix, method: str, path: str, identity: Identity) -> None:
    expect = TABLE[(method, path)].expect[identity]
    call = await _call(matrix, method, path, identity)
    status = await answer(call, matrix.clients[id(call.door.app)])
    assert expect.accepts(status), (
        f"{identity} at {method} {call.door.path} got {status}, expected {expect.name} "
        f"({sorted(expect.statuses)})"
    )


def test_every_door_has_its_row_and_every_row_its_door(tmp_path: Path) -> None:
    """A new route cannot ship without its row in tests/authz_table.py."""
    app = create_app(_settings(tmp_path), bootstrap=False, static_dir=_static_dir(tmp_path / "s"))
    doors = route_keys(app) | PSEUDO_ROUTES
    missing = sorted(doors - set(TABLE))
    gone = sorted(set(TABLE) - doors)
    assert not missing, f"doors without a row in tests/authz_table.py: {missing}"
    assert not gone, f"rows in tests/authz_table.py for doors that no longer exist: {gone}"
