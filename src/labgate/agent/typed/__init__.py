"""The agent's methods as typed clients, one per subject: :class:`RemoteFs`,
:class:`RemoteProcesses`, :class:`RemoteNet`, :class:`RemoteSystem`, each on one
``AgentConnection``. Nothing outside ``labgate.agent`` calls the agent by a method's
name: it calls these (``tests/test_agent_client_api.py`` holds both rules)."""

from __future__ import annotations

from labgate.agent.typed.base import Remote, RemotePath, agent_method, client_methods
from labgate.agent.typed.fs import (
    Copied,
    DiskUsage,
    FileData,
    FileInfo,
    Found,
    RemoteFs,
    SearchResult,
    TreeEntry,
    UploadCompleted,
    UploadOpened,
    Written,
)
from labgate.agent.typed.net import RemoteNet
from labgate.agent.typed.processes import ProcessInfo, RemoteProcesses, TerminalSize
from labgate.agent.typed.system import DaemonInfo, Gpu, RemoteSystem, SystemInfo

# Every typed client: each agent method is called by exactly one method of one of these.
CLIENTS: tuple[type[Remote], ...] = (RemoteFs, RemoteProcesses, RemoteNet, RemoteSystem)

__all__ = [
    "CLIENTS",
    "Copied",
    "DaemonInfo",
    "DiskUsage",
    "FileData",
    "FileInfo",
    "Found",
    "Gpu",
    "ProcessInfo",
    "Remote",
    "RemoteFs",
    "RemoteNet",
    "RemotePath",
    "RemoteProcesses",
    "RemoteSystem",
    "SearchResult",
    "SystemInfo",
    "TerminalSize",
    "TreeEntry",
    "UploadCompleted",
    "UploadOpened",
    "Written",
    "agent_method",
    "client_methods",
]
