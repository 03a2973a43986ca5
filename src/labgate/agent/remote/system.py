"""What the agent says about its machine and itself: ``ping``, ``system.info``,
``daemon.info``."""

from __future__ import annotations

import os
import platform
import pwd
import shutil
import socket
import subprocess
import sys
from typing import Any, Dict, List

from .methods import rpc
from .processes import PROCESSES
from .runtime import STATE
from .tasks import _in_thread
from .wire import AGENT_VERSION


def _meminfo() -> Dict[str, int]:
    values: Dict[str, int] = {}
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                name, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    values[name] = int(parts[0]) * 1024
    except OSError:
        pass
    return values


@rpc("ping")
async def rpc_ping(params: Dict[str, Any]) -> Dict[str, Any]:
    return {"pong": params.get("payload")}


@rpc("system.info")
async def rpc_system_info(params: Dict[str, Any]) -> Dict[str, Any]:
    # In a thread: a hung network home directory must not stall the agent's other calls.
    return await _in_thread(_system_info)


def _system_info() -> Dict[str, Any]:
    home = os.path.expanduser("~")
    disk = os.statvfs(home)
    memory = _meminfo()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "hostname": socket.gethostname(),
        "user": _user_name(),
        "home": home,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count() or 1,
        "load": list(load),
        "memory": {
            "total": memory.get("MemTotal", 0),
            "available": memory.get("MemAvailable", memory.get("MemFree", 0)),
        },
        "home_disk": {
            "total": disk.f_blocks * disk.f_frsize,
            "free": disk.f_bavail * disk.f_frsize,
        },
        "gpus": _gpus(),
    }


def _user_name() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid without a passwd entry (some containers)
        return os.environ.get("USER") or str(os.getuid())


GPU_QUERY = "index,name,memory.total,memory.used,utilization.gpu"


def _gpus() -> List[Dict[str, Any]]:
    """NVIDIA GPUs as nvidia-smi reports them; none when it is missing or fails."""
    program = shutil.which("nvidia-smi")
    if program is None:
        return []
    try:
        listing = subprocess.run(  # noqa: S603 -- a fixed argv, no shell
            [program, "--query-gpu=" + GPU_QUERY, "--format=csv,noheader,nounits"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=True,
        ).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in listing.splitlines():
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 5:
            continue
        index, name, total, used, utilization = fields
        try:
            gpus.append(
                {
                    "index": int(index),
                    "name": name,
                    "memory_total": int(float(total) * 1024 * 1024),
                    "memory_used": int(float(used) * 1024 * 1024),
                    "utilization": float(utilization) if _is_number(utilization) else None,
                }
            )
        except ValueError:
            continue
    return gpus


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@rpc("daemon.info")
async def rpc_daemon_info(params: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "agent_version": AGENT_VERSION,
        "pid": os.getpid(),
        "mode": STATE.mode,
        "started_at": STATE.started_at,
        "processes": PROCESSES.running(),
        "clients": STATE.clients,
        "python": list(sys.version_info[:3]),
    }
