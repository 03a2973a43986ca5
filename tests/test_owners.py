"""Whose a process is, by its owner tag (labgate.resources.owners)."""

from __future__ import annotations

from labgate.resources.owners import WorkOwner


def test_a_user_owns_what_carries_their_tag() -> None:
    owner = WorkOwner(tag="lg:inst:user")
    assert owner.owns({"owner": "lg:inst:user", "started_at": 5.0})
    assert not owner.owns({"owner": "lg:other:user", "started_at": 5.0})
    assert not owner.owns({"owner": "user:1", "started_at": 5.0})
    assert not owner.owns({"owner": "", "started_at": 5.0})


def test_a_legacy_tag_counts_only_for_work_started_before_the_upgrade() -> None:
    owner = WorkOwner(tag="lg:inst:user", legacy_tag="user:1", legacy_before=100.0)
    assert owner.owns({"owner": "user:1", "started_at": 99.0})
    # Started later with the old tag: another (older) installation's.
    assert not owner.owns({"owner": "user:1", "started_at": 101.0})
    assert not owner.owns({"owner": "user:1"})
    assert not owner.owns({"owner": "user:2", "started_at": 99.0})
