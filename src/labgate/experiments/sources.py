"""Experiment sources: where experiments come from. A source has a unique ``name`` and
reads experiment records from what it is given (a file's text for the built-in ``csv``
and ``json`` sources; a plug-in for a proposal system may take a query, or nothing, and
ask its own service). Sources are registered through the ``register_experiment_sources``
hook, the built-ins like any plug-in's; ``labgate experiments import`` and ``POST
/api/v1/experiments/import`` apply what a source yields (:mod:`.importing`).

The CSV format (one experiment a line, a header line first)::

    code,title,instrument,starts,ends,members,locations
    12-34,Spin waves,IN5,2026-10-01,2026-11-03,alice:pi;bob@uni.example,local:raw:/d/raw

``members``: ``;``-separated, each a user name or an e-mail address, with ``:role``
(``pi``, ``member``, ``local_contact``; ``member`` when left out). ``locations``:
``;``-separated ``resource:kind:path`` (kind ``raw``, ``processed`` or ``scratch``).
The JSON format: a list of objects (or ``{"experiments": [...]}``) with the same keys,
``members`` a list of ``{"username" | "email", "role"}`` (or of ``"alice:pi"``) and
``locations`` a list of ``{"resource", "kind", "path"}``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from labgate.experiments.records import (
    BadRecord,
    ExperimentRecord,
    LocationRecord,
    MemberRecord,
    RecordError,
    check_code,
    check_location,
    check_member,
    check_record,
    check_text,
    location_of,
    member_of,
    parse_moment,
)
from labgate.plugins import hookimpl
from labgate.settings import Settings

Read = ExperimentRecord | BadRecord
#: The columns (and JSON keys) of a record; ``code`` is required.
COLUMNS = ("code", "title", "instrument", "starts", "ends", "members", "locations")


class ExperimentSource(Protocol):
    #: Unique among sources; ``labgate experiments import --format NAME`` picks it.
    name: str

    def read(self, data: str) -> Iterable[Read]:
        """The records in ``data`` (for the built-ins, a file's text), each either an
        :class:`ExperimentRecord` or a :class:`BadRecord` saying where and what is wrong:
        one bad record never stops the others."""
        ...


def _record(values: Mapping[str, Any], where: str) -> Read:
    code = str(values.get("code") or "").strip()
    try:
        check_code(code)
        record = ExperimentRecord(
            code=code,
            title=check_text(values.get("title"), "title", 400),
            instrument=check_text(values.get("instrument"), "instrument", 120),
            starts_at=parse_moment(values.get("starts"), "start"),
            ends_at=parse_moment(values.get("ends"), "end"),
            members=tuple(_members(values.get("members"))),
            locations=tuple(_locations(values.get("locations"))),
            where=where,
        )
        return check_record(record)
    except RecordError as exc:
        return BadRecord(where, str(exc), code)


def _members(value: object) -> Iterator[MemberRecord]:
    if value is None or value == "":
        return
    if isinstance(value, str):
        yield from (member_of(token) for token in value.split(";") if token.strip())
        return
    if not isinstance(value, list):
        raise RecordError("members must be a list")
    for item in value:
        if isinstance(item, str):
            yield member_of(item)
        elif isinstance(item, dict):
            yield check_member(
                str(item.get("username") or ""),
                str(item.get("email") or ""),
                str(item.get("role") or ""),
            )
        else:
            raise RecordError("each member is an object or text such as alice:pi")


def _locations(value: object) -> Iterator[LocationRecord]:
    if value is None or value == "":
        return
    if isinstance(value, str):
        yield from (location_of(token) for token in value.split(";") if token.strip())
        return
    if not isinstance(value, list):
        raise RecordError("locations must be a list")
    for item in value:
        if isinstance(item, str):
            yield location_of(item)
        elif isinstance(item, dict):
            yield check_location(
                str(item.get("resource") or ""),
                str(item.get("kind") or ""),
                str(item.get("path") or ""),
            )
        else:
            raise RecordError("each location is an object or text such as local:raw:/data")


class CsvSource:
    """Experiments from a CSV file (the format in this module's docstring)."""

    name = "csv"

    def read(self, data: str) -> Iterator[Read]:
        try:
            yield from self._rows(data)
        except csv.Error as exc:  # a field beyond csv's limit, a NUL: the rest is unreadable
            yield BadRecord("the file", f"it is not CSV labgate can read: {exc}")

    def _rows(self, data: str) -> Iterator[Read]:
        reader = csv.DictReader(io.StringIO(data))
        header = [name.strip() for name in reader.fieldnames or []]
        if "code" not in header:
            yield BadRecord("line 1", f"the header must name the columns {', '.join(COLUMNS)}")
            return
        unknown = sorted(set(header) - set(COLUMNS))
        if unknown:
            yield BadRecord("line 1", f"unknown columns {', '.join(unknown)}")
            return
        reader.fieldnames = header
        for row in reader:
            where = f"line {reader.line_num}"
            if None in row:  # more fields than the header names
                yield BadRecord(where, "more fields than the header names", str(row.get("code")))
                continue
            if not any((value or "").strip() for value in row.values()):
                continue  # a blank line
            yield _record(row, where)


class JsonSource:
    """Experiments from a JSON file: a list of records, or ``{"experiments": [...]}``."""

    name = "json"

    def read(self, data: str) -> Iterator[Read]:
        try:
            found = json.loads(data)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
            yield BadRecord("the file", f"it is not JSON labgate can read: {exc or 'too deep'}")
            return
        if isinstance(found, dict):
            found = found.get("experiments")
        if not isinstance(found, list):
            yield BadRecord("the file", 'expected a list of experiments or {"experiments": [...]}')
            return
        for index, item in enumerate(found):
            where = f"index {index}"
            if not isinstance(item, dict):
                yield BadRecord(where, "each experiment is an object")
                continue
            unknown = sorted(set(item) - set(COLUMNS))
            if unknown:
                yield BadRecord(where, f"unknown keys {', '.join(unknown)}", str(item.get("code")))
                continue
            yield _record(item, where)


@hookimpl
def register_experiment_sources(settings: Settings) -> list[ExperimentSource]:
    return [CsvSource(), JsonSource()]
