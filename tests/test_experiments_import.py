"""Importing experiments (labgate.experiments: sources, importing, membership) on SQLite
and PostgreSQL: CSV and JSON create them, a re-import updates in place by code and
replaces members and locations, bad records are named with their line or index while the
rest is applied, an unknown resource is a bad record, members who come later are
matched, and the ``labgate experiments`` commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from labgate.accounts.users import create_user, update_user
from labgate.db.engine import Database
from labgate.db.models import AuditEvent, Experiment, ExperimentMember, User
from labgate.experiments import importing
from labgate.experiments.records import Report
from labgate.experiments.sources import CsvSource, JsonSource
from labgate.settings import Settings
from tests.support.cli import Labgate
from tests.support.environment import isolate_settings_environment

PLACES = "local:raw:/data/12-34/raw;local:processed:/data/12-34/processed"
CSV = f"""code,title,instrument,starts,ends,members,locations
12-34,Spin waves,IN5,2026-10-01,2026-11-03,alice:pi;Bob@Uni.Example,{PLACES}
56-78,Magnons,D22,,,carol:local_contact,
bad code!,Nope,,,,,
90-12,Unknown place,,,,alice,nowhere:raw:/data/x
34-56,Bad date,,2026-13-01,,,
"""


async def run(database: Database, source: Any, data: str, *, dry_run: bool = False) -> Report:
    async with database.session() as db:
        return await importing.apply(
            db, source.read(data), source=source.name, embargo_days=30, dry_run=dry_run
        )


async def experiment(database: Database, code: str) -> Experiment | None:
    async with database.read() as db:
        found: Experiment | None = await db.scalar(
            select(Experiment).where(Experiment.code == code)
        )
        return found


async def test_csv_import_creates_reports_bad_lines_and_applies_the_rest(
    app: Any, database: Database, settings: Settings
) -> None:
    async with database.session() as db:
        await create_user(db, settings, username="alice", password=None)
    report = await run(database, CsvSource(), CSV)
    assert report.created == ["12-34", "56-78"]
    assert [(r.where, r.code) for r in report.refused] == [
        ("line 4", "bad code!"),
        ("line 5", "90-12"),
        ("line 6", "34-56"),
    ]
    assert "not a proposal number" in report.refused[0].problem
    assert "no shared resource 'nowhere'" in report.refused[1].problem
    assert "2026-13-01" in report.refused[2].problem
    assert await experiment(database, "90-12") is None
    found = await experiment(database, "12-34")
    assert found is not None
    assert (found.title, found.instrument, found.source) == ("Spin waves", "IN5", "csv")
    assert found.ends_at is not None
    assert found.ends_at.isoformat() == "2026-11-03T00:00:00+00:00"
    members = {(m.username or m.email): (m.role, m.user_id is not None) for m in found.members}
    assert members == {"alice": ("pi", True), "Bob@Uni.Example": ("member", False)}
    assert [(x.kind, x.path) for x in found.locations] == [
        ("raw", "/data/12-34/raw"),
        ("processed", "/data/12-34/processed"),
    ]
    async with database.read() as db:
        audited = await db.scalar(
            select(AuditEvent).where(AuditEvent.event == "experiments_imported")
        )
    assert audited is not None
    assert audited.detail["created"] == ["12-34", "56-78"]


async def test_reimport_updates_in_place_and_replaces_members_and_locations(
    app: Any, database: Database
) -> None:
    await run(database, CsvSource(), CSV)
    first = await experiment(database, "12-34")
    assert first is not None
    changed = CSV.replace("alice:pi;Bob@Uni.Example", "dave:member").replace(
        ";local:processed:/data/12-34/processed", ""
    )
    report = await run(database, CsvSource(), changed)
    assert (report.created, report.updated, report.unchanged) == ([], ["12-34"], ["56-78"])
    again = await experiment(database, "12-34")
    assert again is not None
    assert again.id == first.id
    assert [m.username for m in again.members] == ["dave"]
    assert [x.kind for x in again.locations] == ["raw"]
    # Once more: nothing changes.
    report = await run(database, CsvSource(), changed)
    assert (report.updated, report.unchanged) == ([], ["12-34", "56-78"])


async def test_dry_run_writes_nothing(app: Any, database: Database) -> None:
    report = await run(database, CsvSource(), CSV, dry_run=True)
    assert report.created == ["12-34", "56-78"]
    assert "dry run" in report.summary()
    assert await experiment(database, "12-34") is None


async def test_files_it_cannot_read_are_refused_as_such(app: Any, database: Database) -> None:
    """A CSV field beyond the csv module's limit, JSON nested too deep: a refusal, no
    crash (and nothing written)."""
    huge = "code,title\n12-34," + "x" * 200_000 + "\n"
    deep = "[" * 100_000 + "]" * 100_000
    for source, data in ((CsvSource(), huge), (JsonSource(), deep)):
        report = await run(database, source, data)
        assert report.created == []
        assert [bad.where for bad in report.refused] == ["the file"], report.refused
        assert "labgate can read" in report.refused[0].problem
    assert await experiment(database, "12-34") is None


async def test_json_import_names_bad_records_by_index(app: Any, database: Database) -> None:
    data = json.dumps(
        {
            "experiments": [
                {
                    "code": "12-34",
                    "title": "Spin waves",
                    "ends": "2026-11-03",
                    "members": [{"username": "alice", "role": "pi"}, "bob@uni.example"],
                    "locations": [{"resource": "local", "kind": "scratch", "path": "/tmp/x"}],
                },
                {"code": "56-78", "members": [{"username": "eve", "role": "boss"}]},
                {"code": "90-12", "colour": "red"},
                "not an object",
                {
                    "code": "34-56",
                    "locations": [{"resource": "local", "kind": "raw", "path": "rel"}],
                },
            ]
        }
    )
    report = await run(database, JsonSource(), data)
    assert report.created == ["12-34"]
    assert [r.where for r in report.refused] == ["index 1", "index 2", "index 3", "index 4"]
    assert "role of eve" in report.refused[0].problem
    assert "unknown keys colour" in report.refused[1].problem
    assert "absolute path" in report.refused[3].problem
    found = await experiment(database, "12-34")
    assert found is not None
    assert [m.role for m in found.members] == ["pi", "member"]
    bad = await run(database, JsonSource(), "{not json")
    assert bad.refused[0].where == "the file"
    assert not bad.created


async def test_members_who_come_later_are_matched(
    app: Any, database: Database, settings: Settings
) -> None:
    await run(database, CsvSource(), CSV)
    async with database.session() as db:
        # By user name, ignoring case, when the account is made.
        await create_user(db, settings, username="carol", password=None)
        # By e-mail, ignoring case, when it is set later.
        bob = await create_user(db, settings, username="bobby", password=None)
        await update_user(db, settings, bob, email="bob@uni.example")
    async with database.read() as db:
        rows = {
            (m.username or m.email): m.user_id for m in await db.scalars(select(ExperimentMember))
        }
        ids = {name: id_ for name, id_ in await db.execute(select(User.username, User.id))}
    assert rows["carol"] == ids["carol"]
    assert rows["Bob@Uni.Example"] == ids["bobby"]
    assert rows["alice"] is None  # nobody of that name yet


def test_cli_import_and_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_settings_environment(monkeypatch)
    labgate = Labgate(tmp_path / "data")
    labgate.ok("db", "upgrade")
    file = tmp_path / "experiments.csv"
    file.write_text(
        "code,title,members\n12-34,Spin waves,alice:pi\n56-78,,eve:boss\n", encoding="utf-8"
    )
    refused = labgate("experiments", "import", str(file))
    assert refused.exit_code == 1, refused.output  # one record refused
    assert "Refused line 3 (56-78): the role of eve" in refused.stderr
    assert "1 created, 0 updated, 0 unchanged, 1 refused" in refused.stdout
    again = labgate("experiments", "import", str(file), "--format", "csv", "--dry-run")
    assert "0 created, 0 updated, 1 unchanged, 1 refused (dry run" in again.stdout
    rows = json.loads(labgate.ok("experiments", "list", "--json"))
    assert [(r["code"], r["members"]) for r in rows] == [("12-34", "alice:pi (unmatched)")]
    assert (
        "no experiment source 'xml'"
        in labgate("experiments", "import", str(file), "--format", "xml").output
    )
