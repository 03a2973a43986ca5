"""A range of whole UTC days, the x axis of every usage figure, and a stretch of time
split across the days it covers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from labgate.errors import FieldProblem, ValidationFailed

#: The longest range a figure covers: a bit more than a year, so a year can be compared
#: with the one before, while a figure stays a few hundred points per series.
MAX_DAYS = 400

_DAY = timedelta(days=1)


@dataclass(frozen=True)
class DayRange:
    """The days ``first`` to ``last``, both included (UTC)."""

    first: date
    last: date

    @classmethod
    def checked(cls, first: date, last: date) -> DayRange:
        """The range, or ValidationFailed naming the query field that is wrong."""
        if last < first:
            raise ValidationFailed(
                "The range ends before it starts.",
                details=[FieldProblem("query.to", "Must be on or after `from`.")],
            )
        if (last - first).days + 1 > MAX_DAYS:
            raise ValidationFailed(
                f"A range covers at most {MAX_DAYS} days.",
                details=[FieldProblem("query.from", f"At most {MAX_DAYS} days before `to`.")],
            )
        return cls(first, last)

    @classmethod
    def ending(cls, last: date, days: int) -> DayRange:
        """The ``days`` days up to and including ``last``."""
        return cls.checked(last - timedelta(days=days - 1), last)

    @property
    def count(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def labels(self) -> list[str]:
        """Each day as ``YYYY-MM-DD``, in order."""
        return [(self.first + timedelta(days=n)).isoformat() for n in range(self.count)]

    @property
    def start(self) -> datetime:
        """The first instant of the range."""
        return datetime.combine(self.first, time(), UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the range."""
        return datetime.combine(self.last, time(), UTC) + _DAY

    def index(self, moment: datetime) -> int | None:
        """The position of ``moment``'s day in the range, or None outside it."""
        position = (moment.astimezone(UTC).date() - self.first).days
        return position if 0 <= position < self.count else None

    def hours_by_day(self, begin: datetime, finish: datetime) -> Iterator[tuple[int, float]]:
        """The hours of ``begin``..``finish`` that fall on each day of the range, as
        (position, hours), clipped to the range; nothing for an empty stretch."""
        begin, finish = max(begin, self.start), min(finish, self.end)
        while begin < finish:
            day_end = datetime.combine(begin.astimezone(UTC).date(), time(), UTC) + _DAY
            piece_end = min(day_end, finish)
            position = self.index(begin)
            if position is not None:
                yield position, (piece_end - begin).total_seconds() / 3600
            begin = piece_end
