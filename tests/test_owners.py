"""Whose a process is, by its owner tag (labgate.resources.owners)."""

from __future__ import annotations

from labgate.agent.typed import ProcessInfo
from labgate.resources.owners import WorkOwner


def process(owner: str, started_at: float) -> ProcessInfo:
    return ProcessInfo(
        id="p1",
        pid=1,
        name="sh",
        command="sh",
        pty=False,
        owner=owner,
        started_at=started_at,
        ended_at=None,
        running=True,
        finished=False,
        output_start=0,
        output_end=0,
    )


def test_a_user_owns_what_carries_their_tag() -> None:
    owner = WorkOwner(tag="lg:inst:user")
    assert owner.owns(process("lg:inst:user", 5.0))
    assert not owner.owns(process("lg:other:user", 5.0))
    assert not owner.owns(process("user:1", 5.0))
    assert not owner.owns(process("", 5.0))


def test_a_legacy_tag_counts_only_for_work_started_before_the_upgrade() -> None:
    owner = WorkOwner(tag="lg:inst:user", legacy_tag="user:1", legacy_before=100.0)
    assert owner.owns(process("user:1", 99.0))
    # Started later with the old tag: another (older) installation's.
    assert not owner.owns(process("user:1", 101.0))
    assert not owner.owns(process("user:2", 99.0))
