"""Favourites and presets through the API, on SQLite and PostgreSQL: each kind starred
and listed in the user's order, renamed, moved and removed; what may not be starred
refused with its field and nothing kept; duplicates; another user's favourite not
found; the per-user cap, under concurrent requests too; and a preset relaunched,
starting a real session on the ``local`` resource, or refused once what it names is
gone (a deleted resource's stars going with it)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from labgate.db.engine import Database
from labgate.db.models import (
    AppSession,
    Experiment,
    ExperimentMember,
    Favourite,
    Role,
    TemplateSwitch,
)
from labgate.settings import Settings
from tests.support.accounts import AccountFactory, LoggedIn
from tests.support.local_sessions import local_id, private_daemon, wait_for

URL = "/api/v1/favourites"
CAP = 8
SERVE = "python3 -m http.server {port} --bind 127.0.0.1"
BOX: dict[str, Any] = {
    "name": "box",
    "host": "box.example.org",
    "username": "alice",
    "auth_method": "key",
}


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    with private_daemon() as path:
        yield path


@pytest.fixture
def settings(settings: Settings, runtime_dir: Path) -> Settings:
    return settings.model_copy(
        update={
            "local_resource": "everyone",
            "agent_runtime_dir": str(runtime_dir),
            "daemon_idle_minutes": 1,
            "max_favourites": CAP,
            "app_reconcile_seconds": 3600,
        }
    )


@pytest.fixture
async def alice(accounts: AccountFactory) -> LoggedIn:
    return await accounts.login("alice")


@pytest.fixture
async def bob(accounts: AccountFactory) -> LoggedIn:
    return await accounts.login("bob")


async def experiment(database: Database, code: str, *members: int) -> int:
    """A new experiment with ``members`` (users' ids) as its members."""
    async with database.session() as db:
        row = Experiment(code=code, title=f"Experiment {code}", instrument="D22")
        db.add(row)
        await db.flush()
        for user_id in members:
            db.add(ExperimentMember(experiment_id=row.id, user_id=user_id, username=str(user_id)))
        return row.id


async def star(user: LoggedIn, kind: str, target: str, **body: Any) -> Any:
    return await user.post(URL, json={"kind": kind, "target": target, **body})


async def listed(user: LoggedIn) -> list[dict[str, Any]]:
    answer = await user.get(URL)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["favourites"]
    return found


def preset_body(rid: int, name: str = "My server", **launch: Any) -> dict[str, Any]:
    return {
        "kind": "preset",
        "title": name,
        "preset": {
            "template": "webapp",
            "resource_id": rid,
            "form": {"app_command": SERVE},
            **launch,
        },
    }


def field_of(answer: Any) -> str:
    assert answer.status_code == 422, answer.text
    field: str = answer.json()["error"]["details"][0]["field"]
    return field


async def test_each_kind_is_starred_and_listed_in_the_users_order(
    alice: LoggedIn, database: Database
) -> None:
    rid = await local_id(alice)
    exp = await experiment(database, "12-34", alice.user["id"])

    made = [
        await star(alice, "template", "jupyterlab"),
        await star(alice, "resource", str(rid)),
        await star(alice, "folder", f"{rid}:/tmp/data//run1/"),
        await star(alice, "experiment", str(exp)),
        await alice.post(URL, json=preset_body(rid, "Quick server", title="served")),
    ]

    assert [m.status_code for m in made] == [201] * 5, [m.text for m in made]
    found = await listed(alice)
    assert [(f["kind"], f["title"], f["position"]) for f in found] == [
        ("template", "JupyterLab", 0),
        ("resource", "local", 1),
        ("folder", "run1 on local", 2),
        ("experiment", "12-34 Experiment 12-34", 3),
        ("preset", "Quick server", 4),
    ]
    assert [f["target"] for f in found[:4]] == [
        "jupyterlab",
        str(rid),
        f"{rid}:/tmp/data/run1",
        str(exp),
    ]
    preset = found[4]["preset"]
    assert (preset["template"], preset["launcher"], preset["resource_id"]) == (
        "webapp",
        "direct",
        rid,
    )
    assert (preset["experiment_id"], preset["title"]) == (None, "served")
    assert preset["form"]["app_command"] == SERVE
    assert all(f["preset"] is None for f in found[:4])
    assert len(found[4]["target"]) == 16  # a key of its own, not the user's to choose

    # Moved first and renamed; then one removed.
    folder = found[2]["id"]
    moved = await alice.patch(f"{URL}/{folder}", json={"position": 0, "title": "Run 1"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["title"], moved.json()["position"]) == ("Run 1", 0)
    gone = await alice.delete(f"{URL}/{found[0]['id']}")
    assert gone.status_code == 204
    assert [f["title"] for f in await listed(alice)] == [
        "Run 1",
        "local",
        "12-34 Experiment 12-34",
        "Quick server",
    ]
    assert (await alice.delete(f"{URL}/{found[0]['id']}")).status_code == 404


async def test_what_may_not_be_starred_is_refused_and_nothing_is_kept(
    alice: LoggedIn, bob: LoggedIn, database: Database
) -> None:
    rid = await local_id(alice)
    bobs = (await bob.post("/api/v1/resources", json=BOX)).json()["id"]
    theirs = await experiment(database, "99-01", bob.user["id"])
    refused = {
        "unknown template": await star(alice, "template", "no-such-app"),
        "resource not an id": await star(alice, "resource", "local"),
        "resource id zero": await star(alice, "resource", "0"),
        "folder without a path": await star(alice, "folder", f"{rid}:"),
        "folder relative": await star(alice, "folder", f"{rid}:data"),
        "folder with ..": await star(alice, "folder", f"{rid}:/tmp/../etc"),
        "folder of another home": await star(alice, "folder", f"{rid}:~bob/x"),
        "folder not of a resource": await star(alice, "folder", "/tmp"),
        "folder too long": await star(alice, "folder", f"{rid}:/" + "a" * 1090),
        "experiment not an id": await star(alice, "experiment", "12-34"),
        "unknown kind": await star(alice, "planet", "mars"),
        "a preset's form elsewhere": await star(
            alice, "template", "webapp", preset=preset_body(rid)["preset"]
        ),
        "title too long": await star(alice, "template", "webapp", title="t" * 201),
        "unknown field": await star(alice, "template", "webapp", colour="red"),
    }
    fields = {name: field_of(answer) for name, answer in refused.items()}
    assert fields == {
        "unknown template": "body.target",
        "resource not an id": "body.target",
        "resource id zero": "body.target",
        "folder without a path": "body.target",
        "folder relative": "body.target",
        "folder with ..": "body.target",
        "folder of another home": "body.target",
        "folder not of a resource": "body.target",
        "folder too long": "body.target",
        "experiment not an id": "body.target",
        "unknown kind": "body.kind",
        "a preset's form elsewhere": "body.preset",
        "title too long": "body.title",
        "unknown field": "body.colour",
    }
    # What the caller may not know of is not found, as its own routes answer.
    for answer in (
        await star(alice, "resource", str(bobs)),
        await star(alice, "folder", f"{bobs}:/home/bob"),
        await star(alice, "experiment", str(theirs)),
        await star(alice, "experiment", "424242"),
        await alice.post(URL, json=preset_body(bobs)),
        await alice.post(URL, json=preset_body(rid, experiment_id=theirs)),
    ):
        assert answer.status_code == 404, answer.text
    assert await listed(alice) == []


async def test_a_preset_is_checked_as_its_launch_would_be(alice: LoggedIn) -> None:
    rid = await local_id(alice)
    bad_form = preset_body(rid)
    bad_form["preset"]["form"] = {"app_command": SERVE, "cores": "many", "colour": "red"}
    bad = await alice.post(URL, json=bad_form)
    assert {p["field"] for p in bad.json()["error"]["details"]} >= {"body.preset.form.colour"}, (
        bad.text
    )
    cases = {
        "body.preset.template": {**preset_body(rid)["preset"], "template": "nope"},
        "body.preset.launcher": {**preset_body(rid)["preset"], "launcher": "nope"},
        "body.preset.form.app_command": {**preset_body(rid)["preset"], "form": {}},
        "body.preset.resource_id": {**preset_body(rid)["preset"], "resource_id": 0},
    }
    for field, preset in cases.items():
        answer = await alice.post(URL, json={"kind": "preset", "title": "x", "preset": preset})
        assert field_of(answer) == field, answer.text
    no_name = await alice.post(URL, json={**preset_body(rid), "title": ""})
    assert field_of(no_name) == "body.title"
    no_launch = await alice.post(URL, json={"kind": "preset", "title": "x"})
    assert field_of(no_launch) == "body.preset"
    chosen_key = await alice.post(URL, json={**preset_body(rid), "target": "mine"})
    assert field_of(chosen_key) == "body.target"
    # Titles are one line: a preset's names the sessions it launches.
    for title in ("x\ny", "x\x00", "x\x7f"):
        two_lines = await alice.post(URL, json=preset_body(rid, title))
        assert field_of(two_lines) == "body.title", two_lines.text
        in_launch = preset_body(rid, "ok", title=title)
        assert field_of(await alice.post(URL, json=in_launch)) == "body.preset.title"
    assert await listed(alice) == []
    # Nor does a launch take a title of two lines; no session is made.
    launched = await alice.post(
        "/api/v1/sessions", json={**preset_body(rid)["preset"], "title": "a\nb"}
    )
    assert field_of(launched) == "body.title", launched.text
    assert (await alice.get("/api/v1/sessions")).json()["sessions"] == []


async def test_a_thing_is_starred_once_and_a_presets_name_is_its_own(alice: LoggedIn) -> None:
    rid = await local_id(alice)
    assert (await star(alice, "template", "jupyterlab")).status_code == 201
    assert (await star(alice, "folder", f"{rid}:/tmp/data")).status_code == 201
    first = await alice.post(URL, json=preset_body(rid, "Mine"))
    other = await alice.post(URL, json=preset_body(rid, "Other"))
    assert (first.status_code, other.status_code) == (201, 201)

    again = [
        await star(alice, "template", "jupyterlab", title="Again"),
        await star(alice, "folder", f"{rid}:/tmp/./data/"),  # the same folder, spelt otherwise
        await star(alice, "folder", f"{rid}://tmp//data"),
        await alice.post(URL, json=preset_body(rid, "Mine")),
        await alice.patch(f"{URL}/{other.json()['id']}", json={"title": "Mine"}),
    ]

    assert [a.status_code for a in again] == [409] * 5
    assert all(a.json()["error"]["code"] == "conflict" for a in again)
    assert [f["title"] for f in await listed(alice)] == [
        "JupyterLab",
        "data on local",
        "Mine",
        "Other",
    ]


async def test_another_users_favourites_are_not_found(
    accounts: AccountFactory, alice: LoggedIn, bob: LoggedIn
) -> None:
    root = await accounts.login("root", role=Role.ADMIN)
    rid = await local_id(alice)
    preset = (await alice.post(URL, json=preset_body(rid))).json()
    for user in (bob, root):
        assert await listed(user) == []
        for answer in (
            await user.patch(f"{URL}/{preset['id']}", json={"title": "mine now"}),
            await user.delete(f"{URL}/{preset['id']}"),
            await user.post(f"{URL}/{preset['id']}/launch"),
        ):
            assert answer.status_code == 404, answer.text
    assert [f["title"] for f in await listed(alice)] == ["My server"]
    # Bob may star the same things: his list is his own.
    assert (await bob.post(URL, json=preset_body(rid))).status_code == 201


async def test_the_cap_holds_under_concurrent_requests(alice: LoggedIn, database: Database) -> None:
    rid = await local_id(alice)
    assert (await star(alice, "template", "jupyterlab")).status_code == 201

    answers = await asyncio.gather(
        *(star(alice, "folder", f"{rid}:/tmp/f{n}") for n in range(CAP + 4))
    )

    assert Counter(a.status_code for a in answers) == {201: CAP - 1, 409: 5}
    refused = next(a for a in answers if a.status_code == 409).json()["error"]
    assert refused["code"] == "too_many_favourites"
    assert f"You have {CAP} favourites" in refused["message"]
    async with database.read() as db:
        kept = list(await db.scalars(select(Favourite.position).order_by(Favourite.position)))
    assert kept == list(range(CAP))  # each in a place of its own


async def test_a_preset_relaunches_a_real_session_with_one_click(alice: LoggedIn) -> None:
    rid = await local_id(alice)
    preset = (await alice.post(URL, json=preset_body(rid, title="From my preset"))).json()

    launched = await alice.post(f"{URL}/{preset['id']}/launch")

    assert launched.status_code == 201, launched.text
    session = launched.json()
    assert (session["state"], session["template"], session["resource_id"]) == (
        "pending",
        "webapp",
        rid,
    )
    assert (session["title"], session["form"]["app_command"]) == ("From my preset", SERVE)
    running = await wait_for(alice, session["id"], "running")
    assert running["url"].startswith(f"/s/{session['id']}/")
    page = await alice.get(running["url"])
    assert page.status_code == 200
    stopped = await alice.post(f"/api/v1/sessions/{session['id']}/stop")
    assert stopped.status_code == 200, stopped.text
    await wait_for(alice, session["id"], "stopped")


async def test_a_preset_whose_template_resource_or_experiment_is_gone_is_refused(
    alice: LoggedIn, database: Database
) -> None:
    own = (await alice.post("/api/v1/resources", json=BOX)).json()["id"]
    exp = await experiment(database, "12-34", alice.user["id"])
    rid = await local_id(alice)
    on_box = (await alice.post(URL, json=preset_body(own, "On box"))).json()
    for_exp = (await alice.post(URL, json=preset_body(rid, "For exp", experiment_id=exp))).json()
    old_app = (await alice.post(URL, json=preset_body(rid, "Old app"))).json()
    starred = (await star(alice, "template", "jupyterlab")).json()
    for target in (str(own), f"{own}:/data", f"{rid}:/data"):
        kind = "folder" if ":" in target else "resource"
        assert (await star(alice, kind, target)).status_code == 201
    async with database.session() as db:
        row = await db.get(Favourite, old_app["id"])
        assert row is not None
        row.preset = {**row.preset, "template": "retired-app"}
        await db.delete(await db.get(Experiment, exp))
    assert (await alice.delete(f"/api/v1/resources/{own}")).status_code == 204

    gone_resource = await alice.post(f"{URL}/{on_box['id']}/launch")
    gone_experiment = await alice.post(f"{URL}/{for_exp['id']}/launch")
    gone_template = await alice.post(f"{URL}/{old_app['id']}/launch")
    no_preset = await alice.post(f"{URL}/{starred['id']}/launch")

    assert gone_resource.status_code == 404, gone_resource.text
    assert gone_experiment.status_code == 404, gone_experiment.text
    assert field_of(gone_template) == "preset.template"
    assert "retired-app" in gone_template.json()["error"]["message"]
    assert no_preset.status_code == 404
    assert (await alice.get("/api/v1/sessions")).json()["sessions"] == []
    # The deleted resource's star and starred folder went with it; its preset stays, to
    # say why it no longer launches.
    assert [(f["kind"], f["target"]) for f in await listed(alice)] == [
        ("preset", on_box["target"]),
        ("preset", for_exp["target"]),
        ("preset", old_app["target"]),
        ("template", "jupyterlab"),
        ("folder", f"{rid}:/data"),
    ]


async def test_bad_changes_are_refused_and_change_nothing(alice: LoggedIn) -> None:
    rid = await local_id(alice)
    starred = (await star(alice, "resource", str(rid))).json()
    preset = (await alice.post(URL, json=preset_body(rid, "Mine"))).json()
    cases = [
        (starred, {"position": -1}, "body.position"),
        (starred, {"position": 10**7}, "body.position"),
        (starred, {"title": "t" * 201}, "body.title"),
        (starred, {"kind": "template"}, "body.kind"),
        (preset, {"title": "   "}, "body.title"),  # a preset keeps a name
    ]
    for row, body, field in cases:
        answer = await alice.patch(f"{URL}/{row['id']}", json=body)
        assert field_of(answer) == field, (body, answer.text)
    assert [(f["title"], f["position"]) for f in await listed(alice)] == [
        ("local", 0),
        ("Mine", 1),
    ]
    # A plain favourite may lose its title (its lists then show the thing's own name).
    cleared = await alice.patch(f"{URL}/{starred['id']}", json={"title": ""})
    assert (cleared.status_code, cleared.json()["title"]) == (200, "")


async def test_a_preset_for_an_experiment_launches_for_it(
    alice: LoggedIn, database: Database
) -> None:
    rid = await local_id(alice)
    exp = await experiment(database, "12-34", alice.user["id"])
    preset = (await alice.post(URL, json=preset_body(rid, experiment_id=exp))).json()

    launched = await alice.post(f"{URL}/{preset['id']}/launch")

    assert launched.status_code == 201, launched.text
    async with database.read() as db:
        row = await db.get(AppSession, launched.json()["id"])
        assert row is not None
        assert row.experiment_id == exp


async def test_a_template_switched_off_is_neither_saved_nor_relaunched_as_a_preset(
    alice: LoggedIn, database: Database
) -> None:
    rid = await local_id(alice)
    saved = (await alice.post(URL, json=preset_body(rid, "Before"))).json()
    async with database.session() as db:
        db.add(TemplateSwitch(template_id="webapp", enabled=False))

    refused_save = await alice.post(URL, json=preset_body(rid, "After"))
    refused_launch = await alice.post(f"{URL}/{saved['id']}/launch")

    assert field_of(refused_save) == "body.preset.template"
    assert field_of(refused_launch) == "preset.template"
    assert "disabled by an administrator" in refused_launch.json()["error"]["message"]
    assert [f["title"] for f in await listed(alice)] == ["Before"]
    assert (await alice.get("/api/v1/sessions")).json()["sessions"] == []
