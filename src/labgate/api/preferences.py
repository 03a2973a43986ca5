"""Per-user preferences, including the workspace layout."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from labgate import preferences as prefs
from labgate.api.deps import CurrentPrincipal, Db, State
from labgate.api.schemas import Body
from labgate.auth.policy import Action, authorize

router = APIRouter(prefix="/preferences", tags=["preferences"])


class PreferenceInfo(BaseModel):
    description: str
    default: Any


class PreferencesOut(BaseModel):
    preferences: dict[str, Any]
    schema_: dict[str, PreferenceInfo] = Field(alias="schema")


class PreferencesPatch(Body):
    preferences: dict[str, Any]


def _schema() -> dict[str, PreferenceInfo]:
    return {
        key: PreferenceInfo(description=spec.description, default=spec.default)
        for key, spec in prefs.registry().items()
    }


@router.get("", summary="Your preferences, with the schema of every known key")
async def get_preferences(principal: CurrentPrincipal, state: State, db: Db) -> PreferencesOut:
    authorize(principal, Action.READ_PREFERENCES)
    values = await prefs.load(db, principal.user_id)
    return PreferencesOut(preferences=values, schema=_schema())


@router.patch("", summary="Change some preferences (null resets one to its default)")
async def update_preferences(
    body: PreferencesPatch, principal: CurrentPrincipal, state: State, db: Db
) -> PreferencesOut:
    authorize(principal, Action.UPDATE_PREFERENCES)
    values = await prefs.update(db, principal.user_id, body.preferences)
    return PreferencesOut(preferences=values, schema=_schema())
