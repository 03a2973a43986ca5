"""What an experiment source yields: an experiment as the proposal system describes it
(:class:`ExperimentRecord`), or a record it could not read (:class:`BadRecord`), and the
checks every record passes whatever its source (the console's form included)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from labgate.db.models import ExperimentRole, LocationKind

#: A proposal number: letters, digits, '.', '_' and '-' (``12-34``, ``MX2345``).
CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ROLES = tuple(role.value for role in ExperimentRole)
KINDS = tuple(kind.value for kind in LocationKind)
MAX_MEMBERS = 500
MAX_LOCATIONS = 50


class RecordError(ValueError):
    """What is wrong with a record, in words for the person who wrote the file."""


@dataclass(frozen=True)
class MemberRecord:
    """A member, named by user name or e-mail (one of the two), in a role."""

    username: str = ""
    email: str = ""
    role: str = ExperimentRole.MEMBER.value

    @property
    def name(self) -> str:
        return self.username or self.email


@dataclass(frozen=True)
class LocationRecord:
    """Some of the data, on the resource named ``resource`` (a shared resource's name)."""

    resource: str
    kind: str
    path: str


@dataclass(frozen=True)
class ExperimentRecord:
    code: str
    title: str = ""
    instrument: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    members: tuple[MemberRecord, ...] = ()
    locations: tuple[LocationRecord, ...] = ()
    #: Where in its source it was read ("line 4", "index 2"), for reports.
    where: str = ""


@dataclass(frozen=True)
class BadRecord:
    """A record that cannot be used: where it is in its source and what is wrong."""

    where: str
    problem: str
    #: Its code, when that much could be read.
    code: str = ""


@dataclass
class Report:
    """What an import did (or, dry, would do): codes by outcome, and the refused records."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[BadRecord] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> str:
        verb = "would be" if self.dry_run else ""
        counts = (
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.refused)} refused"
        )
        return f"{counts} (dry run: nothing {verb} written)" if self.dry_run else counts


def check_code(value: str) -> str:
    value = value.strip()
    if not CODE_PATTERN.fullmatch(value):
        raise RecordError(
            f"the code {value!r} is not a proposal number: 1-64 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit"
        )
    return value


def check_text(value: object, what: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordError(f"the {what} must be text")
    value = value.strip()
    if len(value) > limit:
        raise RecordError(f"the {what} is longer than {limit} characters")
    return value


def parse_moment(value: object, what: str) -> datetime | None:
    """A date (``2026-11-03``: that day's start, UTC) or a moment (ISO 8601; without a
    zone: UTC); empty: none."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RecordError(f"the {what} date must be text such as 2026-11-03")
    text = value.strip()
    try:
        if len(text) == 10:
            found = date.fromisoformat(text)
            return datetime(found.year, found.month, found.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RecordError(f"the {what} date {text!r} is not a date such as 2026-11-03") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def check_member(username: str, email: str, role: str) -> MemberRecord:
    username, email, role = username.strip(), email.strip(), (role.strip() or "member")
    if bool(username) == bool(email):
        raise RecordError("a member is named by a user name or an e-mail address")
    if email and (len(email) > 320 or not re.fullmatch(r"[^@\s]+@[^@\s]+", email)):
        raise RecordError(f"{email!r} is not an e-mail address")
    if username and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}", username):
        raise RecordError(f"{username!r} is not a user name")
    if role not in ROLES:
        raise RecordError(f"the role of {username or email} must be one of {', '.join(ROLES)}")
    return MemberRecord(username=username, email=email, role=role)


def member_of(token: str) -> MemberRecord:
    """``alice:pi``, ``bob@uni.example`` (role ``member``), ``carol:local_contact``."""
    name, _, role = token.strip().partition(":")
    name = name.strip()
    if "@" in name:
        return check_member("", name, role)
    return check_member(name, "", role)


def check_location(resource: str, kind: str, path: str) -> LocationRecord:
    resource, kind, path = resource.strip(), kind.strip(), path.strip()
    if not resource or len(resource) > 64:
        raise RecordError("a location names its resource")
    if kind not in KINDS:
        raise RecordError(f"a location's kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if not path.startswith("/") or len(path) > 1024 or "\n" in path or "\0" in path:
        raise RecordError(f"the {kind} path {path!r} must be an absolute path on {resource}")
    return LocationRecord(resource=resource, kind=kind, path=path.rstrip("/") or "/")


def location_of(token: str) -> LocationRecord:
    """``local:raw:/data/12-34/raw``: the resource, the kind, the path (which may hold
    ``:`` itself)."""
    parts = token.strip().split(":", 2)
    if len(parts) != 3:
        raise RecordError(f"{token.strip()!r} is not a location such as local:raw:/data/12-34/raw")
    return check_location(*parts)


def check_record(record: ExperimentRecord) -> ExperimentRecord:
    """The record, checked as a whole (its fields were checked as they were read)."""
    if (
        record.starts_at is not None
        and record.ends_at is not None
        and record.ends_at < record.starts_at
    ):
        raise RecordError("it ends before it starts")
    if len(record.members) > MAX_MEMBERS:
        raise RecordError(f"more than {MAX_MEMBERS} members")
    if len(record.locations) > MAX_LOCATIONS:
        raise RecordError(f"more than {MAX_LOCATIONS} locations")
    names = [m.name.lower() for m in record.members]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise RecordError(f"{', '.join(twice)} named twice among the members")
    places = [(x.resource, x.kind, x.path) for x in record.locations]
    if len(set(places)) != len(places):
        raise RecordError("a location is named twice")
    return record
