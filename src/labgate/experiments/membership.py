"""Who is in which experiment. Members are named as the proposal system names them (a
user name or an e-mail address) and matched to labgate users, ignoring case: when an
experiment is written (:func:`matches`), and when a user is created or logs in
(:func:`match_user`), so that users who come later find their experiments waiting.

An e-mail address names a user only when it was vouched for (``User.email_verified``: given
by an administrator, not typed by the user) and no other user holds it: anyone may type
a member's address into their own account, and must not become a member by it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from labgate.db.models import Experiment, ExperimentMember, User
from labgate.experiments.records import MemberRecord


async def match_user(db: AsyncSession, user: User) -> int:
    """Give ``user`` the memberships waiting for their user name or e-mail address (those
    not matched to anybody yet); how many."""
    named = [func.lower(ExperimentMember.username) == user.username.lower()]
    if user.email and user.email_verified and await _holders(db, user.email) == 1:
        named.append(func.lower(ExperimentMember.email) == user.email.lower())
    result = await db.execute(
        update(ExperimentMember)
        .where(ExperimentMember.user_id.is_(None), or_(*named))
        .values(user_id=user.id)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def matches(db: AsyncSession, members: Iterable[MemberRecord]) -> dict[MemberRecord, int]:
    """The labgate user each member names, where there is one (by user name or e-mail,
    ignoring case; a user name wins over an e-mail address)."""
    wanted = list(members)
    names = {m.username.lower() for m in wanted if m.username}
    emails = {m.email.lower() for m in wanted if m.email}
    if not names and not emails:
        return {}
    rows = (
        await db.execute(
            select(User.id, User.username, User.email, User.email_verified).where(
                or_(
                    func.lower(User.username).in_(names),
                    func.lower(User.email).in_(emails),
                )
            )
        )
    ).all()
    by_name = {username.lower(): user_id for user_id, username, _, _ in rows}
    holders: dict[str, list[int]] = {}
    for holder, _, email, verified in rows:
        if email and verified:
            holders.setdefault(email.lower(), []).append(holder)
    # An address two users hold names neither (nor does one a user typed in themselves).
    by_email = {email: ids[0] for email, ids in holders.items() if len(ids) == 1}
    found: dict[MemberRecord, int] = {}
    for member in wanted:
        user_id = (
            by_name.get(member.username.lower())
            if member.username
            else by_email.get(member.email.lower())
        )
        if user_id is not None:
            found[member] = user_id
    return found


async def _holders(db: AsyncSession, email: str) -> int:
    """How many users hold ``email`` as an address vouched for (ignoring case)."""
    return int(
        await db.scalar(
            select(func.count())
            .select_from(User)
            .where(func.lower(User.email) == email.lower(), User.email_verified.is_(True))
        )
        or 0
    )


def role_of(experiment: Experiment, user_id: int) -> str | None:
    """The user's role in ``experiment`` (None: not a member)."""
    for member in experiment.members:
        if member.user_id == user_id:
            return member.role
    return None


async def experiments_of(db: AsyncSession, user_id: int) -> list[Experiment]:
    """The experiments ``user_id`` is a member of, newest start first."""
    return list(
        await db.scalars(
            select(Experiment)
            .where(
                Experiment.id.in_(
                    select(ExperimentMember.experiment_id).where(
                        ExperimentMember.user_id == user_id
                    )
                )
            )
            .order_by(Experiment.starts_at.desc().nulls_last(), Experiment.code)
        )
    )


def member_of(user_id: int) -> Select[Any]:
    """A query of the ids of the experiments ``user_id`` is a member of now, for ``IN``."""
    return select(ExperimentMember.experiment_id).where(ExperimentMember.user_id == user_id)
