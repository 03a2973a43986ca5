"""What a launch asks for, as its quotas count it: a batch job the cores, memory and
GPUs of its form; a direct launch ``quota_direct_cores`` cores and nothing else, unless
its form asks for more."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from labgate.settings import Settings


@dataclass(frozen=True)
class Requested:
    cores: int
    memory_gb: int
    gpus: int


def requested(form: Mapping[str, Any], *, batch: bool, settings: Settings) -> Requested:
    """The cores, memory (GB) and GPUs a launch with ``form`` (validated) counts for."""
    if batch:  # the scheduler's defaults, as the batch form has them
        return Requested(
            cores=_number(form, "cpus", 1),
            memory_gb=_number(form, "memory_gb", 4),
            gpus=_number(form, "gpus", 0),
        )
    return Requested(
        cores=max(settings.quota_direct_cores, _number(form, "cpus", 0)),
        memory_gb=_number(form, "memory_gb", 0),
        gpus=_number(form, "gpus", 0),
    )


def _number(form: Mapping[str, Any], name: str, default: int) -> int:
    value = form.get(name, default)
    try:
        return max(0, int(value))
    except (TypeError, ValueError):  # a template's own field of that name, not a number
        return default
