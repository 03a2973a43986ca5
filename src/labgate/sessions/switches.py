"""App templates an administrator switched off: not offered, not launched, while the
sessions already running go on.

The switches are rows of ``template_switches``, read from the database on every launch
and every list of templates (one small query), so that a switch made on one replica
holds on every other at once.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from labgate import audit
from labgate.db.models import TemplateSwitch
from labgate.db.types import utcnow
from labgate.errors import FieldProblem, ValidationFailed

#: How a launch of a switched-off template is refused, as the launch form shows it.
DISABLED = "disabled by an administrator"


async def disabled_templates(db: AsyncSession) -> set[str]:
    """The ids of the templates switched off now."""
    return set(
        await db.scalars(
            select(TemplateSwitch.template_id).where(TemplateSwitch.enabled.is_(False))
        )
    )


async def refuse_disabled(db: AsyncSession, template_id: str, title: str) -> None:
    """Refuse (422, ``body.template``) a launch of a template switched off."""
    switch = await db.get(TemplateSwitch, template_id)
    if switch is not None and not switch.enabled:
        raise ValidationFailed(
            f"{title} is {DISABLED}: it cannot be launched now.",
            details=[FieldProblem("body.template", DISABLED)],
        )


async def switch(
    db: AsyncSession, template_id: str, *, enabled: bool, actor: audit.Actor
) -> TemplateSwitch:
    """Switch a template on or off; audited as ``app_template_enabled`` or
    ``app_template_disabled`` when it changes anything."""
    row = await db.get(TemplateSwitch, template_id, with_for_update=True)
    was = row.enabled if row is not None else True
    if row is None:
        row = TemplateSwitch(template_id=template_id, enabled=enabled)
        db.add(row)
    row.enabled = enabled
    row.updated_at = utcnow()
    row.updated_by = actor.id
    if was != enabled:
        event = "app_template_enabled" if enabled else "app_template_disabled"
        audit.record(db, event, actor=actor, target=template_id)
    await db.flush()
    return row
