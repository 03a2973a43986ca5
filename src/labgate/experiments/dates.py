"""An experiment's dates and what they allow: sessions for it may be started from its
start date until its end date plus the embargo (``experiment_embargo_days``), and no
session for it runs past that moment (:func:`launch_until`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from labgate.db.models import Experiment


class Phase(StrEnum):
    """Where an experiment is in its life, for people."""

    #: Before its start date: nothing may be started yet.
    UPCOMING = "upcoming"
    #: Between its start and end dates (or without them).
    RUNNING = "running"
    #: After its end date, within the embargo: its data can still be used.
    ENDED = "ended"
    #: After the embargo: no session for it may run.
    CLOSED = "closed"


def launch_until(experiment: Experiment, embargo_days: int) -> datetime | None:
    """The last moment a session for ``experiment`` may run: its end plus the embargo
    (None: it has no end date, so no limit)."""
    if experiment.ends_at is None:
        return None
    return experiment.ends_at + timedelta(days=embargo_days)


def phase(experiment: Experiment, embargo_days: int, now: datetime) -> Phase:
    if experiment.starts_at is not None and now < experiment.starts_at:
        return Phase.UPCOMING
    if experiment.ends_at is None or now < experiment.ends_at:
        return Phase.RUNNING
    until = launch_until(experiment, embargo_days)
    return Phase.ENDED if until is not None and now < until else Phase.CLOSED


def day(moment: datetime) -> str:
    """ "3 Nov 2026": a date as the messages say it."""
    return f"{moment.day} {moment:%b %Y}"


def why_not(experiment: Experiment, embargo_days: int, now: datetime) -> str | None:
    """Why no session for ``experiment`` may be started now, in a sentence (None: one
    may). A start date in the future refuses too: the data of an experiment that has not
    begun is not there yet, and its members may not be final."""
    found = phase(experiment, embargo_days, now)
    if found is Phase.UPCOMING:
        assert experiment.starts_at is not None
        return (
            f"Experiment {experiment.code} starts on {day(experiment.starts_at)}; sessions "
            "for it can be started from then."
        )
    if found is Phase.CLOSED:
        assert experiment.ends_at is not None
        until = launch_until(experiment, embargo_days)
        assert until is not None
        return (
            f"Experiment {experiment.code} ended on {day(experiment.ends_at)}; its data could "
            f"be used until {day(until)} (embargo {embargo_days} days)."
        )
    return None
