"""Run every benchmark: ``python -m benchmarks`` (``make bench``), or ``--quick`` for a
smoke run of few requests and small sizes that writes ``benchmarks/results/quick.json``
only, or ``--only http|resources|transfers|terminal|sessions|desktops|desktop-launch`` for
one section.

Seven sections, one after the other:

- **http**: starts labgate and JupyterHub (installing JupyterHub into ``.bench/`` the
  first time) and measures each scenario at each concurrency on every endpoint in turn.
- **resources**: a private sshd for the local test account, ``labgate serve`` with a
  resource on it, and labgate's listing, connecting and reading side by side with
  OpenSSH and SFTP (``benchmarks/resources.py``; needs root and openssh-server).
- **transfers**: the same set-up; uploading and downloading a 1 GiB file through
  labgate's API side by side with ``scp`` (``benchmarks/transfers.py``).
- **terminal**: the keystroke round trip through labgate's attach WebSocket, its agent and
  ``ssh -tt``, side by side (``benchmarks/terminal.py``; needs the same).
- **sessions**: one JupyterLab launched through labgate, reached through labgate's proxy,
  through JupyterHub's configurable-http-proxy and directly (small requests, WebSocket
  messages, a 1 GiB download), and launching JupyterLab through labgate against its own
  start-up (``benchmarks/sessions.py``; needs the same and the tests' apps environment).
- **desktops**: labgate's RFB bridge and websockify (installed into ``.bench/`` the first
  time) on one Xvnc: throughput both ways and the added round trip
  (``benchmarks/desktops.py``; needs root and TigerVNC).
- **desktop-launch**: the built-in desktop launched on an SSH resource (direct) and as a
  job of a private SLURM, until its first frame arrives through the desktop WebSocket
  (``benchmarks/desktop_launch.py``; needs root, openssh-server, TigerVNC and slurm-wlm).

Prints the tables, writes ``benchmarks/results/latest.json`` and regenerates the tables
in ``docs/performance.md`` (each section between its own markers; a section that did not
run keeps its last results). Logs of the last run are kept in ``.bench/run/``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import functools
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from benchmarks import CACHE_DIR, RESULTS_DIR, ROOT
from benchmarks.desktop_launch import (
    DESKTOP_LAUNCH_BEGIN,
    DESKTOP_LAUNCH_END,
    desktop_launch_markdown,
    run_desktop_launch,
)
from benchmarks.desktops import DESKTOPS_BEGIN, DESKTOPS_END, desktops_markdown, run_desktops
from benchmarks.load import Probe, run_load
from benchmarks.machine import cpu_plan, describe
from benchmarks.peers import Peer, Scenario
from benchmarks.peers.jupyterhub import jupyterhub_peer
from benchmarks.peers.labgate import labgate_peer
from benchmarks.process import BenchmarkError
from benchmarks.report import (
    RESOURCES_BEGIN,
    RESOURCES_END,
    SESSIONS_BEGIN,
    SESSIONS_END,
    TRANSFERS_BEGIN,
    TRANSFERS_END,
    ScenarioInfo,
    markdown,
    resources_markdown,
    sessions_markdown,
    summarise,
    transfers_markdown,
    update_page,
)
from benchmarks.resources import run_resources
from benchmarks.sessions import run_sessions
from benchmarks.terminal import TERMINAL_BEGIN, TERMINAL_END, run_terminal, terminal_markdown
from benchmarks.transfers import run_transfers

# What is measured, at which concurrency levels.
PLAN: tuple[tuple[Scenario, str, tuple[int, ...]], ...] = (
    (Scenario.TOKEN, "1. Small authenticated API GET with an API token", (1, 10, 50)),
    (Scenario.COOKIE, "2. Small authenticated API GET with a browser session cookie", (10,)),
    (Scenario.LOGIN_PAGE, "3. The login page (HTML)", (10,)),
)
DOCS_PAGE = ROOT / "docs" / "performance.md"
T = TypeVar("T")
# The parts of a run: labgate and JupyterHub under HTTP load; then the sections that set
# up their own sshd and labgate serve, one after the other: the resources (SSH)
# comparisons against OpenSSH and SFTP (benchmarks/resources.py), uploads and downloads
# against scp (benchmarks/transfers.py), the terminal's keystroke round trip against
# ssh -tt (benchmarks/terminal.py), and JupyterLab through labgate's proxy against CHP and
# direct, and its launch (benchmarks/sessions.py).
SECTIONS = (
    "http",
    "resources",
    "transfers",
    "terminal",
    "sessions",
    "desktops",
    "desktop-launch",
)


@dataclasses.dataclass(frozen=True)
class SshSection:
    run: Callable[..., dict[str, Any]]
    markdown: Callable[[dict[str, Any]], str]
    begin: str
    end: str
    #: Takes ``loop_factory`` (the sections that run their own asyncio loop).
    own_loop: bool = True


SSH_SECTIONS: dict[str, SshSection] = {
    "resources": SshSection(run_resources, resources_markdown, RESOURCES_BEGIN, RESOURCES_END),
    "transfers": SshSection(
        run_transfers, transfers_markdown, TRANSFERS_BEGIN, TRANSFERS_END, own_loop=False
    ),
    "terminal": SshSection(run_terminal, terminal_markdown, TERMINAL_BEGIN, TERMINAL_END),
    "sessions": SshSection(run_sessions, sessions_markdown, SESSIONS_BEGIN, SESSIONS_END),
    "desktops": SshSection(run_desktops, desktops_markdown, DESKTOPS_BEGIN, DESKTOPS_END),
    "desktop-launch": SshSection(
        run_desktop_launch, desktop_launch_markdown, DESKTOP_LAUNCH_BEGIN, DESKTOP_LAUNCH_END
    ),
}


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: few requests; writes results/quick.json only",
    )
    parser.add_argument(
        "--requests", type=int, default=2000, help="timed requests per cell (default 2000)"
    )
    parser.add_argument(
        "--warmup", type=int, default=200, help="untimed requests before each cell (default 200)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat the whole plan, interleaved; medians reported (default 1)",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin servers and load generator to separate CPUs",
    )
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/performance.md")
    parser.add_argument(
        "--only",
        choices=SECTIONS,
        help="run one section; the others keep their last results in the record and the docs",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.warmup, args.rounds, args.no_docs = 100, 20, 1, True
    if args.requests < 1 or args.warmup < 0 or args.rounds < 1:
        parser.error("--requests and --rounds must be positive, --warmup not negative")
    return args


def _describe_probe(probe: Probe) -> str:
    """``GET /path`` and how it authenticates, without any secret."""
    parts = [f"{probe.method} {probe.path}"]
    headers = dict(probe.headers)
    if "Authorization" in headers:
        parts.append(f"Authorization: {headers['Authorization'].split(' ')[0]} …")
    if "Cookie" in headers:
        names = [c.split("=")[0].strip() for c in headers["Cookie"].split(";")]
        parts.append("cookies " + ", ".join(names))
    if "X-XSRFToken" in headers:
        parts.append("X-XSRFToken header")
    return ", ".join(parts)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop for the load generator when installed (it is, with uvicorn[standard]):
    less CPU per request on the client side."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds the with-blocks, which stop the servers by PID


def measure(
    peers: list[Peer], args: argparse.Namespace, runner: asyncio.Runner
) -> list[dict[str, Any]]:
    """Every (scenario, concurrency) cell on every endpoint, ``rounds`` times. Within a
    cell the endpoints take turns, starting with a different one each round."""
    targets = [(peer, endpoint) for peer in peers for endpoint in peer.endpoints]
    rows: list[dict[str, Any]] = []
    for round_ in range(args.rounds):
        for scenario, _, levels in PLAN:
            for concurrency in levels:
                shift = round_ % len(targets)
                for peer, endpoint in targets[shift:] + targets[:shift]:
                    result = runner.run(
                        run_load(
                            endpoint.host,
                            endpoint.port,
                            peer.probes[scenario],
                            requests=args.requests,
                            concurrency=concurrency,
                            warmup=args.warmup,
                        )
                    )
                    print(
                        f"{scenario.value:<10} c={concurrency:<3} {endpoint.label:<22} "
                        f"{result.throughput:8.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
                        f"p99 {result.p99_ms:8.2f} ms",
                        file=sys.stderr,
                        flush=True,
                    )
                    rows.append(
                        {
                            "round": round_,
                            "scenario": scenario.value,
                            "endpoint": endpoint.key,
                            **dataclasses.asdict(result),
                        }
                    )
    return rows


def run_http(
    args: argparse.Namespace,
    workdir: Path,
    server_cpus: frozenset[int] | None,
    placement: str,
) -> tuple[dict[str, Any], str]:
    """The HTTP section: labgate and JupyterHub under load; (record, Markdown)."""
    started = time.monotonic()
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    with (
        labgate_peer(workdir / "labgate", cpus=server_cpus) as labgate,
        jupyterhub_peer(workdir / "jupyterhub", cpus=server_cpus) as jupyterhub,
        asyncio.Runner(loop_factory=_loop_factory()) as runner,
    ):
        peers = [labgate, jupyterhub]
        print(
            f"Servers up after {time.monotonic() - started:.0f} s; measuring "
            f"({args.requests} requests per cell, {placement}).",
            file=sys.stderr,
            flush=True,
        )
        rows = measure(peers, args, runner)

    scenarios = [
        ScenarioInfo(
            scenario.value,
            title,
            {peer.name: _describe_probe(peer.probes[scenario]) for peer in peers},
        )
        for scenario, title, _ in PLAN
    ]
    record: dict[str, Any] = {
        "date": date,
        "quick": args.quick,
        "duration_seconds": time.monotonic() - started,
        "machine": describe(placement),
        "versions": {
            **{name: value for peer in peers for name, value in peer.versions.items()},
            "python (labgate, load generator)": describe(placement)["python"],
        },
        "settings": {"requests": args.requests, "warmup": args.warmup, "rounds": args.rounds},
        "endpoints": [
            {"key": e.key, "label": e.label, "peer": peer.name, "note": e.note}
            for peer in peers
            for e in peer.endpoints
        ],
        "scenarios": [dataclasses.asdict(s) for s in scenarios],
        "notes": [note for peer in peers for note in peer.notes if note.startswith("WARNING")],
        "summary": summarise(rows),
        "runs": rows,
    }
    return record, markdown(record, scenarios)


def _attempt(name: str, logs: Path, run: Callable[[], T], failed: list[str]) -> T | None:
    """One section's result, or None (and its name in ``failed``) if it failed."""
    try:
        return run()
    except BenchmarkError as error:
        failed.append(name)
        print(f"{name} benchmark failed: {error}\n(logs: {logs})", file=sys.stderr)
        return None


def _run_section(
    section: SshSection,
    name: str,
    args: argparse.Namespace,
    workdir: Path,
    server_cpus: frozenset[int] | None,
    client_cpus: frozenset[int] | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    return section.run(
        workdir / name,
        quick=args.quick,
        remote_cpus=server_cpus,
        local_cpus=client_cpus,
        **extra,
    )


def _previous(result_file: Path) -> dict[str, Any]:
    """The record a section that did not run now is kept from."""
    try:
        previous: dict[str, Any] = json.loads(result_file.read_text())
    except (OSError, ValueError):
        return {}
    return previous


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    started = time.monotonic()
    server_cpus, client_cpus, placement = cpu_plan(pin=not args.no_pin)
    if client_cpus:
        os.sched_setaffinity(0, client_cpus)
    workdir = CACHE_DIR / "run"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    sections = SECTIONS if args.only is None else (args.only,)
    http: tuple[dict[str, Any], str] | None = None
    ssh_records: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    try:
        if "http" in sections:
            http = _attempt(
                "http", workdir, lambda: run_http(args, workdir, server_cpus, placement), failed
            )
        for name, section in SSH_SECTIONS.items():
            if name not in sections:
                continue
            extra: dict[str, Any] = {"loop_factory": _loop_factory()} if section.own_loop else {}
            record = _attempt(
                name,
                workdir / name,
                functools.partial(
                    _run_section, section, name, args, workdir, server_cpus, client_cpus, extra
                ),
                failed,
            )
            if record is not None:
                ssh_records[name] = record
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        return 130
    if http is None and not ssh_records:
        return 1

    # A section that did not run (--only) or failed keeps its last record and tables.
    RESULTS_DIR.mkdir(exist_ok=True)
    result_file = RESULTS_DIR / ("quick.json" if args.quick else "latest.json")
    previous = _previous(result_file)
    record = dict(http[0]) if http else {k: v for k, v in previous.items() if k not in SSH_SECTIONS}
    for key in SSH_SECTIONS:
        if ssh_records.get(key) or previous.get(key):
            record[key] = ssh_records.get(key) or previous[key]
    if http:
        print(http[1])
    for index, (name, fresh) in enumerate(ssh_records.items()):
        print(("\n" if http or index else "") + SSH_SECTIONS[name].markdown(fresh))
    result_file.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nWrote {result_file.relative_to(ROOT)}", file=sys.stderr)
    if not args.no_docs:
        if http:
            update_page(DOCS_PAGE, http[1])
        for name, fresh in ssh_records.items():
            section = SSH_SECTIONS[name]
            update_page(DOCS_PAGE, section.markdown(fresh), section.begin, section.end)
        print(f"Updated {DOCS_PAGE.relative_to(ROOT)}", file=sys.stderr)
    print(f"Total {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
