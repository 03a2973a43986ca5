"""A user's favourites: what they starred (a resource, an app template, a folder, an
experiment) and their presets, app templates with a filled-in launch form relaunched
with one click ("JupyterLab on the GPU partition, 4 cores, for experiment 12-34").

Each is a :class:`~labgate.db.models.Favourite` row of the user's, listed in their order
(``position``). What may be starred is checked here when it is starred: a resource the
user may see, a template that is offered, a folder ``"<resource id>:<path>"`` on such a
resource, an experiment they are a member of; a preset as a launch form is checked
(:func:`labgate.launching.template.validate_form`), and checked again when it is
relaunched, since its template, resource or experiment may have gone meanwhile. Nobody
else learns of a user's favourites: another's is "not found", administrators included.
"""

from __future__ import annotations

import posixpath
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.auth.principal import Principal
from labgate.db.engine import lock_per_user
from labgate.db.models import Favourite, FavouriteKind
from labgate.errors import Conflict, FieldProblem, LimitReached, NotFound, ValidationFailed
from labgate.experiments import access as experiment_access
from labgate.launching.launcher import Launcher, launchable
from labgate.launching.template import AppTemplate, validate_form
from labgate.resources import catalog
from labgate.sessions.switches import DISABLED, disabled_templates
from labgate.settings import Settings

#: The longest folder path a favourite keeps (the target column holds the id too).
MAX_PATH = 1024


class Launchers(Protocol):
    """The loaded plug-ins' launchers (``plugins.manager.Plugins``)."""

    def launchers(self) -> dict[str, Launcher]: ...


class FavouritesNeeds(Protocol):
    """What the rules use of the running server (the app's state has it all)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def templates(self) -> Mapping[str, AppTemplate]: ...

    @property
    def plugins(self) -> Launchers: ...


@dataclass(frozen=True)
class Preset:
    """A launch as a preset keeps it: the same fields as ``POST /sessions``'s body."""

    template: str
    launcher: str
    resource_id: int
    experiment_id: int | None
    form: dict[str, Any]
    #: The new session's title ("": the usual "JupyterLab on box").
    title: str

    def stored(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "launcher": self.launcher,
            "resource_id": self.resource_id,
            "experiment_id": self.experiment_id,
            "form": self.form,
            "title": self.title,
        }

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> Preset:
        return cls(
            template=str(stored.get("template", "")),
            launcher=str(stored.get("launcher", "")),
            resource_id=int(stored.get("resource_id") or 0),
            experiment_id=stored.get("experiment_id"),
            form=dict(stored.get("form") or {}),
            title=str(stored.get("title", "")),
        )


# Requests of one user adding favourites take turns to count them (PostgreSQL).
_FAVOURITES_LOCK = 0x66617673


# -- reading --------------------------------------------------------------------------------


async def listed(db: AsyncSession, user_id: int) -> list[Favourite]:
    """The user's favourites in their order (then oldest first)."""
    rows = await db.scalars(
        select(Favourite)
        .where(Favourite.user_id == user_id)
        .order_by(Favourite.position, Favourite.id)
    )
    return list(rows)


async def forget_stars_of_experiment(db: AsyncSession, experiment_id: int) -> None:
    """An experiment is deleted: everybody's star of it goes too (a later experiment given
    the same id must not come starred). Presets for it stay, so that relaunching one says
    why it cannot."""
    await db.execute(
        delete(Favourite).where(
            Favourite.kind == FavouriteKind.EXPERIMENT.value,
            Favourite.target == str(experiment_id),
        )
    )


async def get_own(db: AsyncSession, principal: Principal, favourite_id: int) -> Favourite:
    """The caller's favourite; anyone else's is "not found" (administrators' too: a
    favourite is nobody's business but its user's)."""
    row = await db.get(Favourite, favourite_id)
    if row is None or row.user_id != principal.user_id:
        raise NotFound(f"You have no favourite {favourite_id}.")
    return row


# -- starring -------------------------------------------------------------------------------


async def add(
    db: AsyncSession,
    needs: FavouritesNeeds,
    principal: Principal,
    *,
    kind: FavouriteKind,
    target: str,
    title: str,
    preset: Preset | None,
) -> Favourite:
    """A new favourite, last in the user's order. Refused: a target of the wrong shape or
    one that is not there for the caller (422 or 404, as the thing's own routes say), a
    preset whose launch would be refused (422/404), the same thing starred twice or two
    presets of one name (409), more than ``max_favourites`` (409)."""
    if kind is FavouriteKind.PRESET:
        if preset is None:
            raise _invalid("body.preset", "A preset needs its launch: template, resource, form.")
        if target:
            raise _invalid("body.target", "A preset's target is chosen by labgate; leave it out.")
        if not title:
            raise _invalid("body.title", "Give the preset a name.")
        preset = await check_preset(db, needs, principal, preset, where="body.preset")
        target = secrets.token_hex(8)
    else:
        if preset is not None:
            raise _invalid("body.preset", f"Only presets have a launch form, not a {kind}.")
        target, found_title = await _check_target(db, needs, principal, kind, target)
        title = title or found_title
    await lock_per_user(db, _FAVOURITES_LOCK, principal.user_id)
    await _check_room(db, needs.settings, principal.user_id)
    await _check_new(db, principal.user_id, kind, target, title)
    last = await db.scalar(
        select(func.max(Favourite.position)).where(Favourite.user_id == principal.user_id)
    )
    row = Favourite(
        user_id=principal.user_id,
        kind=kind.value,
        target=target,
        title=title,
        preset=preset.stored() if preset else None,
        position=(last if last is not None else -1) + 1,
    )
    db.add(row)
    await db.flush()
    return row


async def change(
    db: AsyncSession, row: Favourite, *, title: str | None, position: int | None
) -> Favourite:
    """A new title (a preset's name stays its own: 409 if another preset has it) or
    place in the order."""
    if title is not None and title != row.title:
        if row.kind == FavouriteKind.PRESET.value:
            if not title:
                raise _invalid("body.title", "A preset keeps a name.")
            await _check_preset_name(db, row.user_id, title)
        row.title = title
    if position is not None:
        row.position = position
    await db.flush()
    return row


async def _check_room(db: AsyncSession, settings: Settings, user_id: int) -> None:
    count = await db.scalar(
        select(func.count()).select_from(Favourite).where(Favourite.user_id == user_id)
    )
    if (count or 0) >= settings.max_favourites:
        raise LimitReached(
            "too_many_favourites",
            f"You have {count} favourites, the most labgate keeps for one person. "
            "Remove one you no longer use, then star this again.",
        )


async def _check_new(
    db: AsyncSession, user_id: int, kind: FavouriteKind, target: str, title: str
) -> None:
    if kind is FavouriteKind.PRESET:
        await _check_preset_name(db, user_id, title)
        return
    found = await db.scalar(
        select(Favourite.id).where(
            Favourite.user_id == user_id, Favourite.kind == kind.value, Favourite.target == target
        )
    )
    if found is not None:
        raise Conflict(f"That {kind} is starred already.")


async def _check_preset_name(db: AsyncSession, user_id: int, title: str) -> None:
    found = await db.scalar(
        select(Favourite.id).where(
            Favourite.user_id == user_id,
            Favourite.kind == FavouriteKind.PRESET.value,
            Favourite.title == title,
        )
    )
    if found is not None:
        raise Conflict(f"You have a preset named {title!r} already; choose another name.")


# -- what may be starred ----------------------------------------------------------------------


async def _check_target(
    db: AsyncSession,
    needs: FavouritesNeeds,
    principal: Principal,
    kind: FavouriteKind,
    target: str,
) -> tuple[str, str]:
    """The target as kept (ids without leading zeros, a folder's path normalised) and the
    title it gets when the user gives none."""
    if kind is FavouriteKind.TEMPLATE:
        template = needs.templates.get(target)
        if template is None or not template.launchable:
            raise _invalid("body.target", f"There is no app template {target!r}.")
        return template.id, template.title
    if kind is FavouriteKind.RESOURCE:
        resource_id = _id(target, "body.target", "a resource's id")
        resource = await catalog.get_visible(db, principal, needs.settings, resource_id)
        return str(resource.id), resource.name
    if kind is FavouriteKind.FOLDER:
        resource_id, path = _folder(target)
        resource = await catalog.get_visible(db, principal, needs.settings, resource_id)
        name = posixpath.basename(path.rstrip("/")) or path
        return f"{resource.id}:{path}", f"{name} on {resource.name}"
    experiment = await experiment_access.visible(
        db, principal, _id(target, "body.target", "an experiment's id"), field="body.target"
    )
    return str(experiment.id), f"{experiment.code} {experiment.title}".strip()


def _id(text: str, field: str, what: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) < 2**63:
        raise _invalid(field, f"The target must be {what}.")
    return int(text)


def _folder(target: str) -> tuple[int, str]:
    """``"<resource id>:<path>"``, the path absolute or below the home directory (``~``),
    without the empty and parent segments that would make two names for one folder."""
    resource, _, path = target.partition(":")
    resource_id = _id(resource, "body.target", 'a folder as "<resource id>:<path>"')
    if not path.startswith(("/", "~")) or len(path) > MAX_PATH:
        raise _invalid("body.target", "A folder's path starts with / or ~ (at most 1024 long).")
    if any(ch in path for ch in "\0\n\r") or ".." in path.split("/"):
        raise _invalid("body.target", "A folder's path has no .. segments nor line breaks.")
    if path.startswith("~") and not (path == "~" or path.startswith("~/")):
        raise _invalid("body.target", "Only your own home directory (~) may start a path.")
    normal = posixpath.normpath(path)
    # POSIX lets "//" lead a path with a meaning of its own; on Linux it is "/".
    return resource_id, "/" + normal.lstrip("/") if normal.startswith("//") else normal


async def check_preset(
    db: AsyncSession, needs: FavouritesNeeds, principal: Principal, preset: Preset, *, where: str
) -> Preset:
    """The preset with its form as a launch would take it (defaults filled in), if a
    launch of it would be accepted as far as can be told before one: its template offered
    (and not switched off by an administrator), its launcher there, its form valid for
    both, its resource one the caller may see, its experiment one of theirs. ``where``
    names it in the errors (``body.preset`` when saved, ``preset`` when relaunched)."""
    template = needs.templates.get(preset.template)
    if template is None or not template.launchable:
        raise _invalid(
            f"{where}.template",
            f"The app template {preset.template!r} is not offered (any more); "
            "save the launch again with another one.",
        )
    if template.id in await disabled_templates(db):
        raise _invalid(
            f"{where}.template", f"{template.title} is {DISABLED}: it cannot be launched now."
        )
    runs_with = needs.plugins.launchers().get(preset.launcher)
    if runs_with is None or not launchable(runs_with):
        raise _invalid(f"{where}.launcher", f"There is no launcher {preset.launcher!r} (any more).")
    try:
        form = validate_form(template, preset.form, batch=runs_with.batch)
    except ValidationFailed as refused:
        # The same problems, named where they are in this body.
        raise ValidationFailed(
            refused.message,
            details=[
                FieldProblem(p.field.replace("body.", f"{where}.", 1), p.message)
                for p in refused.details
            ],
        ) from None
    await catalog.get_visible(db, principal, needs.settings, preset.resource_id)
    if preset.experiment_id is not None:
        await experiment_access.visible(
            db, principal, preset.experiment_id, field="body.preset.experiment_id"
        )
    return Preset(
        template=template.id,
        launcher=runs_with.name,
        resource_id=preset.resource_id,
        experiment_id=preset.experiment_id,
        form=form,
        title=preset.title,
    )


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details=[FieldProblem(field, message)])
