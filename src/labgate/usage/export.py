"""A usage figure as CSV: one header row (``day`` and the series' names), then a row per
day, for a spreadsheet."""

from __future__ import annotations

import csv
import io

from labgate.usage.figures import Figure, Value

# A spreadsheet runs a cell that starts with one of these as a formula; names come from
# templates, groups and experiment codes, which administrators and imports choose.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def as_csv(figure: Figure) -> str:
    """The figure's table; an empty cell where a series has no value that day."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["day", *(_text(series.name) for series in figure.series)])
    for position, day in enumerate(figure.labels):
        writer.writerow([day, *(_cell(series.values[position]) for series in figure.series)])
    return out.getvalue()


def filename(figure: Figure) -> str:
    """``labgate-<figure>-<first day>-to-<last day>.csv``."""
    first, last = figure.labels[0], figure.labels[-1]
    return f"labgate-{figure.name.value}-{first}-to-{last}.csv"


def _text(name: str) -> str:
    return "'" + name if name.startswith(_FORMULA_STARTS) else name


def _cell(value: Value) -> str:
    return "" if value is None else str(value)
