"""What a failed session offers the user as the way on: a button each in the failure
view. The API lists them with the session (``SessionOut.actions``); the front end knows
each kind (``frontend/src/panes/apps/failureActions.ts``) and leaves out a kind it does
not know, so a kind is added here and there together.

Kinds: ``setup_apps``: the program the apps environment provides (JupyterLab,
TensorBoard) is missing on the resource, and labgate can set it up there
(``POST /resources/{resource_id}/app-setup``), then launch again; ``retry``: "Edit and
retry", the launch form again with the session's values (template, resource, launcher,
form), done in the browser.
"""

from __future__ import annotations

from dataclasses import dataclass

from labgate.db.models import AppSession, SessionState
from labgate.launching.apps_environment import OFFER
from labgate.launching.diagnosis import offers_apps_setup
from labgate.launching.template import AppTemplate


@dataclass(frozen=True)
class FailureAction:
    """One way on from a failure: ``kind`` says what the button does, ``label`` is its text."""

    kind: str
    label: str
    #: The resource the action is about (``setup_apps``: where to set up), else None.
    resource_id: int | None = None


RETRY = FailureAction("retry", "Edit and retry")


def failure_actions(row: AppSession, template: AppTemplate | None) -> list[FailureAction]:
    """The ways on that the session offers: none unless it failed (or ran out of time);
    retrying only for a template this labgate still has."""
    if row.state not in (SessionState.FAILED.value, SessionState.EXPIRED.value):
        return []
    if template is None:
        return []
    if row.state == SessionState.FAILED.value and offers_apps_setup(template, row.log_tail):
        return [FailureAction("setup_apps", OFFER, row.resource_id), RETRY]
    return [RETRY]
