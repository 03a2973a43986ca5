"""Per-user preferences: a registry of known keys, each with a type and a default.

Panes added by later issues register their own keys with :func:`register`; the API
refuses keys nobody registered, so a typo never silently creates a setting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, TypeAdapter, ValidationError
from sqlalchemy import Executable, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.db.models import Preference
from labgate.db.types import utcnow
from labgate.errors import FieldProblem, ValidationFailed


@dataclass(frozen=True)
class PreferenceSpec:
    key: str
    description: str
    default: Any
    adapter: TypeAdapter[Any]
    max_bytes: int = 4096


_REGISTRY: dict[str, PreferenceSpec] = {}


def register(
    key: str, type_: Any, default: Any, description: str, *, max_bytes: int = 4096
) -> PreferenceSpec:
    """Declare a preference: its value must validate as ``type_`` and fit in ``max_bytes``
    of JSON."""
    spec = PreferenceSpec(key, description, default, TypeAdapter(type_), max_bytes)
    _REGISTRY[key] = spec
    return spec


def registry() -> dict[str, PreferenceSpec]:
    return dict(_REGISTRY)


register(
    "theme",
    Literal["system", "light", "dark"],
    "system",
    "Colour theme: follow the system, or always light or dark.",
)
register(
    "editor.font_size",
    Annotated[int, Field(ge=8, le=40, strict=True)],
    14,
    "Font size in pixels of editors.",
)
register(
    "terminal.font_size",
    Annotated[int, Field(ge=8, le=40, strict=True)],
    14,
    "Font size in pixels of terminals.",
)
register(
    "editor.indent_size",
    Annotated[int, Field(ge=1, le=8, strict=True)],
    4,
    "Spaces per indentation level in editors (also the width of a tab).",
)
register(
    "editor.indent_with_tabs",
    Annotated[bool, Field(strict=True)],
    False,
    "Indent with tab characters instead of spaces.",
)
register(
    "editor.line_wrapping",
    Annotated[bool, Field(strict=True)],
    False,
    "Wrap long lines in editors instead of scrolling sideways.",
)
register(
    "editor.run_commands",
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^/\x00]+$")],
        Annotated[str, StringConstraints(max_length=1000)],
    ],
    {},
    "Commands of the editor's Run button by file extension (`py`) or name (`Makefile`), "
    "over the built-in ones; `%file`, `%dir`, `%name` and `%stem` are replaced by the "
    "file's path, folder, name and name without extension. An empty command turns Run off.",
    max_bytes=16 * 1024,
)
register(
    "editor.output_height",
    Annotated[int, Field(ge=60, le=2000, strict=True)],
    220,
    "Height in pixels of the Run output under the editor (dragged or set with the arrow "
    "keys on its top edge).",
)
register(
    "editor.output_collapsed",
    Annotated[bool, Field(strict=True)],
    False,
    "Show the Run output under the editor as one line with the run's state.",
)
register(
    "sessions.last_launch",
    dict[Annotated[str, StringConstraints(max_length=64)], dict[str, Any]],
    {},
    "The launch form as last sent, per app template (resource, launcher, fields), "
    "offered again next time.",
    max_bytes=32 * 1024,
)
register(
    "sessions.environment",
    dict[
        Annotated[str, StringConstraints(pattern=r"^[0-9]{1,12}$")],
        dict[
            Annotated[str, StringConstraints(min_length=1, max_length=64)],
            Annotated[str, StringConstraints(max_length=8192)],
        ],
    ],
    {},
    "The launch form's environment lines as last sent, per resource (by id) and per app "
    "template (by id; `*`: the last ones with any template there), filled in next time.",
    max_bytes=64 * 1024,
)
register(
    "files.show_hidden",
    Annotated[bool, Field(strict=True)],
    False,
    "Show hidden files (names starting with a dot) in the file browser.",
)
register(
    "desktop.scaling",
    Literal["remote", "fit", "actual"],
    "remote",
    "How a desktop pane shows the desktop: `remote`, the desktop's screen follows the "
    "pane's size; `fit`, scaled to fit the pane; `actual`, one pixel per pixel, with "
    "scroll bars.",
)
register(
    "desktop.quality",
    Annotated[int, Field(ge=0, le=9, strict=True)],
    6,
    "Picture quality of desktops (JPEG, 0 lowest .. 9 highest): lower is faster on a slow network.",
)
register(
    "desktop.compression",
    Annotated[int, Field(ge=0, le=9, strict=True)],
    2,
    "Compression of desktops' pictures (0 none .. 9 most): higher saves bandwidth and "
    "costs the desktop's computer time.",
)
register(
    "desktop.dot_cursor",
    Annotated[bool, Field(strict=True)],
    False,
    "Show a dot for the pointer over a desktop where the desktop's own is invisible.",
)
register(
    "workspace.layout",
    dict[str, Any] | None,
    None,
    "Arrangement of the workspace panes (saved by the browser).",
    max_bytes=256 * 1024,
)


def validate(key: str, value: Any) -> Any:
    spec = _REGISTRY.get(key)
    field = f"body.preferences.{key}"
    if spec is None:
        message = f"Unknown preference '{key}'. Known: {', '.join(sorted(_REGISTRY))}."
        raise ValidationFailed(message, details=[FieldProblem(field, message)])
    if value is None:
        return None  # reset to the default
    try:
        checked = spec.adapter.validate_python(value)
    except ValidationError as exc:
        message = f"Invalid value for '{key}': {exc.errors()[0]['msg']}."
        raise ValidationFailed(message, details=[FieldProblem(field, message)]) from None
    if len(json.dumps(checked)) > spec.max_bytes:
        message = f"The value for '{key}' is larger than {spec.max_bytes} bytes."
        raise ValidationFailed(message, details=[FieldProblem(field, message)])
    return checked


async def load(db: AsyncSession, user_id: int) -> dict[str, Any]:
    """Every registered preference of a user: stored values over defaults."""
    values = {key: spec.default for key, spec in _REGISTRY.items()}
    rows = await db.scalars(select(Preference).where(Preference.user_id == user_id))
    for row in rows:
        if row.key in values:
            values[row.key] = row.value
    return values


async def update(db: AsyncSession, user_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Validate every change first, then apply them all (None resets to the default)."""
    checked = {key: validate(key, value) for key, value in changes.items()}
    for key, value in checked.items():
        if value is None:
            await db.execute(
                delete(Preference).where(Preference.user_id == user_id, Preference.key == key)
            )
            continue
        await db.execute(_upsert(db, user_id, key, value))
    return await load(db, user_id)


def _upsert(db: AsyncSession, user_id: int, key: str, value: Any) -> Executable:
    """Insert or replace in one statement: two saves of the same key at once (two tabs,
    two replicas) must not collide on the primary key; the later one wins."""
    insert = postgresql_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(Preference).values(
        user_id=user_id, key=key, value=value, updated_at=utcnow()
    )
    return statement.on_conflict_do_update(
        index_elements=[Preference.user_id, Preference.key],
        set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
    )
