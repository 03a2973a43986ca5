"""labgate.auth.policy: the actions and their rules."""

from __future__ import annotations

from labgate.auth.policy import Action, allowed
from labgate.auth.principal import Principal, Scope
from labgate.db.models import Role


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
