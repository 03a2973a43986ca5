"""Usage figures for administrators: one figure over a range of days, as JSON for the
Usage pane's charts or as CSV for a spreadsheet (the figures are labgate.usage's)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from labgate.api.deps import CurrentPrincipal, Db
from labgate.auth.policy import Action, authorize
from labgate.db.types import utcnow
from labgate.http.content import disposition
from labgate.usage.days import MAX_DAYS, DayRange
from labgate.usage.export import as_csv, filename
from labgate.usage.figures import FigureName, Style, Value, figure

router = APIRouter(prefix="/usage", tags=["usage"])

#: The range when none is asked for: the last 30 days, today included.
DEFAULT_DAYS = 30


class SeriesOut(BaseModel):
    name: str
    values: list[Value]


class FigureOut(BaseModel):
    name: FigureName
    title: str
    unit: str
    style: Style
    #: The days, ``YYYY-MM-DD`` (UTC), one value of each series per day.
    labels: list[str]
    series: list[SeriesOut]


@router.get(
    "/{figure_name}",
    summary=f"One usage figure per day over a range of up to {MAX_DAYS} days (JSON or CSV)",
    response_model=FigureOut,
)
async def usage_figure(
    figure_name: FigureName,
    principal: CurrentPrincipal,
    db: Db,
    first: Annotated[date | None, Query(alias="from", description="First day (UTC)")] = None,
    last: Annotated[date | None, Query(alias="to", description="Last day (UTC)")] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response | FigureOut:
    authorize(principal, Action.READ_USAGE)
    days = _range(first, last)
    found = await figure(db, figure_name, days)
    if format == "csv":
        return Response(
            as_csv(found),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": disposition("attachment", filename(found))},
        )
    return FigureOut(
        name=found.name,
        title=found.title,
        unit=found.unit,
        style=found.style,
        labels=found.labels,
        series=[SeriesOut(name=s.name, values=s.values) for s in found.series],
    )


def _range(first: date | None, last: date | None) -> DayRange:
    """The days asked for; a missing end is today, a missing start 30 days before it."""
    last = last or utcnow().date()
    if first is None:
        return DayRange.ending(last, DEFAULT_DAYS)
    return DayRange.checked(first, last)
