"""labgate.auth.policy: the actions and their rules."""

from __future__ import annotations

import pytest

from labgate.auth.policy import (
    Action,
    SessionRole,
    allowed,
    authorize_session_use,
    may_work_in,
    session_role,
    still_allows,
)
from labgate.auth.principal import Principal, Scope
from labgate.db.models import Role
from labgate.errors import Forbidden, ViewOnly


def test_every_action_is_its_own_member() -> None:
    # Actions with equal rules (LIST_TOKENS and LIST_RESOURCES, say) must not be aliases.
    assert list(Action) == [Action[name] for name in Action.__members__]
    assert Action.LIST_RESOURCES.name == "LIST_RESOURCES"
    assert Action.LIST_RESOURCES is not Action.LIST_TOKENS


def test_equal_rules_still_decide_alike() -> None:
    reader = Principal(1, "ann", Role.USER, "token", scopes=frozenset({Scope.READ}))
    assert allowed(reader, Action.LIST_RESOURCES)
    assert allowed(reader, Action.LIST_TOKENS)
    assert not allowed(reader, Action.USE_RESOURCE)


# -- sessions shared with others ------------------------------------------------------------

OWNER_ID = 1
ann = Principal(2, "ann", Role.USER, "session")
admin = Principal(3, "root", Role.ADMIN, "session")
owner = Principal(OWNER_ID, "olga", Role.USER, "session")


def test_the_owner_is_the_owner_whatever_is_granted() -> None:
    role = session_role(owner, owner_id=OWNER_ID, granted=["guest"], support=False)
    assert role is SessionRole.OWNER


def test_the_best_grant_wins() -> None:
    def role(*granted: str, support: bool = False) -> SessionRole | None:
        return session_role(ann, owner_id=OWNER_ID, granted=granted, support=support)

    assert role() is None
    assert role("guest") is SessionRole.GUEST
    assert role("guest", support=True) is SessionRole.SUPPORT
    assert role("guest", "user", support=True) is SessionRole.USER
    assert role("no such role") is None


def test_an_administrator_without_a_grant_only_looks_after_it() -> None:
    assert session_role(admin, owner_id=OWNER_ID, granted=[], support=False) is SessionRole.ADMIN
    assert session_role(admin, owner_id=OWNER_ID, granted=["user"], support=False) is (
        SessionRole.USER
    )
    with pytest.raises(Forbidden):
        authorize_session_use(admin, SessionRole.ADMIN, acts=False, guest_view=True)


def test_a_guest_only_looks_and_only_where_the_app_allows_it() -> None:
    authorize_session_use(ann, SessionRole.GUEST, acts=False, guest_view=True)
    with pytest.raises(ViewOnly, match="not send anything"):
        authorize_session_use(ann, SessionRole.GUEST, acts=True, guest_view=True)
    with pytest.raises(ViewOnly, match="cannot be viewed without using it"):
        authorize_session_use(ann, SessionRole.GUEST, acts=False, guest_view=False)
    for role in (SessionRole.USER, SessionRole.SUPPORT, SessionRole.OWNER):
        authorize_session_use(ann, role, acts=True, guest_view=False)
    with pytest.raises(Forbidden):
        authorize_session_use(ann, None, acts=False, guest_view=True)


def test_a_read_only_token_uses_no_session_in_any_role() -> None:
    reader = Principal(2, "ann", Role.USER, "token", scopes=frozenset({Scope.READ}))
    with pytest.raises(Forbidden, match="'write' scope"):
        authorize_session_use(reader, SessionRole.USER, acts=False, guest_view=True)


def test_a_connection_stays_while_the_role_allows_what_it_was_opened_for() -> None:
    assert still_allows(SessionRole.USER, SessionRole.SUPPORT)
    assert still_allows(SessionRole.GUEST, SessionRole.GUEST)
    assert still_allows(SessionRole.GUEST, SessionRole.USER)
    assert not still_allows(SessionRole.USER, SessionRole.GUEST)
    assert not still_allows(SessionRole.USER, None)
    assert not still_allows(SessionRole.GUEST, SessionRole.ADMIN)
    assert may_work_in(SessionRole.SUPPORT)
    assert not may_work_in(SessionRole.GUEST)
