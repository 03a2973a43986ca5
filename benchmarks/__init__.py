"""Side-by-side benchmarks of labgate and its peers (JupyterHub for the HTTP API, OpenSSH
and SFTP for resources), run with ``python -m benchmarks`` (``make bench``).

Everything runs on this machine over loopback: the servers are started as child
processes on free ports of 127.0.0.1, loaded with a bounded number of requests by a small
asyncio HTTP client in this process, and stopped by PID; the resources section adds a
private sshd for a local test account (``benchmarks/resources.py``). Results are written
to ``benchmarks/results/latest.json`` and to the tables in ``docs/performance.md``.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The repository's root directory."""

CACHE_DIR = ROOT / ".bench"
"""Where peers are installed (kept between runs, never committed)."""

RESULTS_DIR = Path(__file__).resolve().parent / "results"
