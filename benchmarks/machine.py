"""What the numbers were measured on: the machine, and where the processes ran."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def cpu_plan(pin: bool) -> tuple[frozenset[int] | None, frozenset[int] | None, str]:
    """(CPUs for the servers, CPUs for the load generator, a sentence saying so).

    With two or more CPUs and ``pin``, every server process (labgate; the hub and CHP)
    shares one CPU and the load generator has another, so that each peer gets the same
    CPU budget and the client does not steal from it."""
    available = sorted(os.sched_getaffinity(0))
    if not pin or len(available) < 2:
        return None, None, "not pinned: the OS schedules servers and load generator freely"
    server, client = frozenset({available[0]}), frozenset({available[1]})
    return (
        server,
        client,
        (
            f"servers pinned to CPU {available[0]} (all of one peer's processes share it), "
            f"load generator to CPU {available[1]}"
        ),
    )


def describe(placement: str) -> dict[str, Any]:
    return {
        "nproc": os.cpu_count() or 0,
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_implementation": sys.implementation.name,
        "placement": placement,
    }
