"""Which launchers a resource can use, as the launch form offers them: each launcher's
own check (``Launcher.unusable``), asked with the agent on that resource and kept for
the life of that connection (a resource does not become a SLURM login node while
labgate is connected to it; a new connection asks again)."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from labgate.agent.client import AgentConnection
from labgate.launching.launcher import Launcher, ResourceAccess

log = logging.getLogger(__name__)

#: How long one launcher's check may take; one that takes longer does not hide it.
CHECK_SECONDS = 20.0


@dataclass(frozen=True)
class Usable:
    """A launcher on one resource: ``reason`` says why it cannot be used (None: it can)."""

    name: str
    reason: str | None

    @property
    def usable(self) -> bool:
        return self.reason is None


# Per connection (its agent), per set-up lines and launcher: the answer.
_ANSWERS: weakref.WeakKeyDictionary[AgentConnection, dict[tuple[str, tuple[str, ...]], Usable]]
_ANSWERS = weakref.WeakKeyDictionary()


async def _check(
    name: str, launcher: Launcher, resource: ResourceAccess, setup_lines: tuple[str, ...]
) -> Usable:
    check = getattr(launcher, "unusable", None)
    if check is None:
        return Usable(name, None)
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            reason = await check(resource, setup_lines)
    except Exception as exc:
        # A check that fails says nothing about the launcher: it stays offered, and
        # starting it will say what is wrong.
        log.info("launcher %s: its check failed: %s", name, exc)
        return Usable(name, None)
    return Usable(name, str(reason) if reason else None)


async def usable_launchers(
    launchers: Mapping[str, Launcher], resource: ResourceAccess, setup_lines: Sequence[str]
) -> list[Usable]:
    """Every launcher (by name, sorted) with whether ``resource`` can use it; the
    answers of the connection's earlier checks are kept and given again."""
    agent = await resource.agent()
    lines = tuple(setup_lines)
    kept = _ANSWERS.setdefault(agent, {})
    missing = [name for name in sorted(launchers) if (name, lines) not in kept]
    found = await asyncio.gather(
        *(_check(name, launchers[name], resource, lines) for name in missing)
    )
    for answer in found:
        kept[(answer.name, lines)] = answer
    return [kept[(name, lines)] for name in sorted(launchers)]
