"""Sessions: one JupyterLab through labgate's proxy, through JupyterHub's
configurable-http-proxy (CHP) and directly, side by side in the same run; and launching
JupyterLab through labgate against JupyterLab's own start-up (issue 5).

The set-up is the resources section's (``benchmarks/resources.py``, whose helpers this
uses): the local test account behind a private sshd on 127.0.0.1, ``labgate serve`` with
a resource on it that connects with a remembered key. The apps environment of the tests
(``tests/support/apps.py``: JupyterLab in a virtualenv) goes on the app's PATH through the
launch form's environment lines.

ONE JupyterLab serves all three contenders: it is launched through labgate
(``POST /api/v1/sessions``, template ``webapp``, direct launcher) on the loopback port
labgate chose, without a token of its own (the command writes the port to a file, so this
program can point CHP and its own requests at the very same process). The ``webapp``
template strips labgate's ``/s/<id>`` prefix, so JupyterLab's base URL is ``/`` for
everybody. Then, the contenders taking turns:

1. **Small requests**: ``GET <base>/api/status`` with ``benchmarks/load.py`` at
   concurrency 1, 10 and 50; labgate's requests carry an API token (the proxy
   authenticates every one), CHP's and the direct ones nothing.
2. **WebSocket messages**: on one kernel, over its ``channels`` WebSocket, a run of
   ``kernel_info_request`` messages, one at a time and with 16 in flight, timed until
   every reply arrived.
3. **A 1 GiB download**: ``GET <base>/files/<file>`` (JupyterLab's file handler) with
   ``curl -o /dev/null``.
4. **Launch time**: ``POST /api/v1/sessions`` with the ``jupyterlab`` template (direct
   launcher, Unix socket) until the session is ``running`` (told by the events WebSocket's
   ``session_changed``), against the same ``jupyter-lab`` command started as the account
   on this machine, until its ``api/status`` answers.

CPU placement as in the other SSH sections: the resource's side (sshd, the daemon,
JupyterLab and its kernel) on one CPU, the client's side (``labgate serve``, CHP, this
program, ``curl``) on the other. Everything started here is stopped by its PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import importlib.metadata
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets
from tests.support.apps import AppsEnv, AppsNotAvailable, ensure_apps_env
from tests.support.daemons import daemon_runtime_dir
from tests.support.processes import stop_tree, user_directory, user_environment
from tests.support.sshd import SshdNotAvailable, TestUser, ensure_test_user, running_sshd

from benchmarks.load import Probe, percentile, run_load
from benchmarks.machine import describe
from benchmarks.peers.jupyterhub import CHP_BIN, CHP_SPEC, install_chp, node_path
from benchmarks.peers.labgate import HOST, labgate_version
from benchmarks.process import BenchmarkError, ManagedProcess, free_port, run_command
from benchmarks.report import summarise as summarise_load
from benchmarks.resources import (
    COMMAND_TIMEOUT,
    GIB,
    MIB,
    RANDOM_BLOCK,
    Comparison,
    Contender,
    LabgateServer,
    labgate_server,
    read_size,
    run_comparison,
)
from benchmarks.resources import summarise as summarise_runs

LEVELS = (1, 10, 50)
WINDOWS = (1, 16)
READY_TIMEOUT = 120.0
OWN_POLL_SECONDS = 0.02
# Every answer of JupyterLab's api/status has these.
STATUS_KEYS = {"started", "last_activity", "connections", "kernels"}


@dataclass(frozen=True)
class Plan:
    requests: int
    warmup: int
    http_rounds: int
    ws_messages: int
    ws_rounds: int
    download_bytes: int
    download_rounds: int
    launch_rounds: int


FULL = Plan(
    requests=1000,
    warmup=100,
    http_rounds=3,
    ws_messages=500,
    ws_rounds=3,
    download_bytes=GIB,
    download_rounds=3,
    launch_rounds=5,
)
QUICK = Plan(
    requests=100,
    warmup=20,
    http_rounds=1,
    ws_messages=100,
    ws_rounds=2,
    download_bytes=32 * MIB,
    download_rounds=2,
    launch_rounds=2,
)


@dataclass(frozen=True)
class Way:
    """One way to the JupyterLab: where to connect, the path prefix, the headers."""

    key: str
    label: str
    port: int
    prefix: str
    headers: tuple[tuple[str, str], ...]
    note: str

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.prefix}"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- set-up: the files, the session, CHP -----------------------------------------------------


@contextlib.contextmanager
def bench_directory(user: TestUser, size: int) -> Iterator[Path]:
    """A directory of the account's (JupyterLab's root) holding ``big.bin`` of random
    bytes, written just before, so it is in the page cache; removed at exit."""
    with user_directory(user, prefix="labgate-bench-sessions-") as directory:
        big = directory / "big.bin"
        block = os.urandom(RANDOM_BLOCK)
        with big.open("wb") as out:
            written = 0
            while written < size:
                piece = block[: size - written]
                out.write(piece)
                written += len(piece)
        os.chown(big, user.uid, user.gid)
        yield directory


def _check(answer: httpx.Response, what: str, status: int = 200) -> dict[str, Any]:
    if answer.status_code != status:
        raise BenchmarkError(f"{what}: {answer.status_code} {answer.text[:500]}")
    body: dict[str, Any] = answer.json() if answer.content else {}
    return body


def _wait_state(http: httpx.Client, session_id: str, *states: str) -> dict[str, Any]:
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        session = _check(http.get(f"/api/v1/sessions/{session_id}"), "reading the session")
        if session["state"] in states:
            return session
        if session["state"] == "failed" or time.monotonic() > deadline:
            log = http.get(f"/api/v1/sessions/{session_id}/log").json().get("log", "")
            raise BenchmarkError(f"the session is {session['state']}: {session}\n{log[-2000:]}")
        time.sleep(0.2)


async def until_running(
    http: httpx.AsyncClient, events: Any, session_id: str, state: str, what: str = "the launch"
) -> None:
    """Wait on the events WebSocket ``events`` until session ``session_id`` (now in
    ``state``) runs; a BenchmarkError if it ends instead."""
    while state != "running":
        event = json.loads(await events.recv())
        if event.get("type") != "session_changed" or event.get("session_id") != session_id:
            continue
        session = (await http.get(f"/api/v1/sessions/{session_id}")).json()
        state = session["state"]
        if state in ("failed", "stopped", "expired"):
            raise BenchmarkError(f"{what} ended {state}: {session}")


def _environment(apps: AppsEnv) -> str:
    return f"export PATH={apps.bin}:$PATH"


def webapp_command() -> str:
    """JupyterLab as a web app on labgate's port, without its own login (so that CHP and
    direct requests need nothing), writing the port where this program finds it."""
    return (
        'printf %s "$PORT" > port && exec jupyter-lab --no-browser --ServerApp.ip=127.0.0.1'
        " --ServerApp.port=$PORT --ServerApp.port_retries=0 --IdentityProvider.token=''"
        " --ServerApp.password='' --ServerApp.disable_check_xsrf=True"
    )


@contextlib.contextmanager
def shared_jupyterlab(
    server: LabgateServer, directory: Path, apps: AppsEnv
) -> Iterator[tuple[str, int]]:
    """The JupyterLab all contenders reach, launched through labgate; (session id, port)."""
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, trust_env=False, timeout=60.0) as http:
        session = _check(
            http.post(
                "/api/v1/sessions",
                json={
                    "template": "webapp",
                    "resource_id": server.resource_id,
                    "title": "benchmark JupyterLab",
                    "form": {
                        "workdir": str(directory),
                        "environment": _environment(apps),
                        "app_command": webapp_command(),
                    },
                },
            ),
            "launching the shared JupyterLab",
            status=201,
        )
        session_id: str = session["id"]
        try:
            _wait_state(http, session_id, "running")
            port = int((directory / "port").read_text().strip())
            yield session_id, port
        finally:
            with contextlib.suppress(Exception):
                http.post(f"/api/v1/sessions/{session_id}/stop")
                _wait_state(http, session_id, "stopped", "failed")


@contextlib.contextmanager
def chp_in_front(workdir: Path, app_port: int, cpus: frozenset[int] | None) -> Iterator[int]:
    """CHP (the pinned one the http section installs) with a route ``/`` to the app, added
    through its REST API as JupyterHub adds a user's server; yields CHP's port."""
    path = node_path()
    install_chp(path)
    port, api_port = free_port(HOST), free_port(HOST)
    auth_token = secrets.token_hex(32)
    proxy = ManagedProcess(
        "configurable-http-proxy",
        [
            str(CHP_BIN),
            "--ip",
            HOST,
            "--port",
            str(port),
            "--api-ip",
            HOST,
            "--api-port",
            str(api_port),
        ],
        env={**os.environ, "PATH": path, "CONFIGPROXY_AUTH_TOKEN": auth_token},
        cwd=workdir,
        cpus=cpus,
    )
    try:
        proxy.start()
        proxy.wait_until_answers(
            f"http://{HOST}:{api_port}/api/routes", status=403
        )  # up; our token not sent yet
        added = httpx.post(
            f"http://{HOST}:{api_port}/api/routes/",
            json={"target": f"http://127.0.0.1:{app_port}"},
            headers={"Authorization": f"token {auth_token}"},
            trust_env=False,
        )
        if added.status_code != 201:
            raise BenchmarkError(f"CHP refused the route: {added.status_code} {added.text}")
        proxy.wait_until_answers(f"http://{HOST}:{port}/api/status")
        yield port
    finally:
        proxy.stop()


# -- 1. small requests -------------------------------------------------------------------


async def _check_status(way: Way) -> None:
    """One answer through ``way`` is JupyterLab's api/status (not an error page)."""
    async with httpx.AsyncClient(headers=dict(way.headers), trust_env=False) as http:
        answer = await http.get(f"{way.url}/api/status")
    if answer.status_code != 200 or not set(answer.json()) >= STATUS_KEYS:
        raise BenchmarkError(f"{way.label}: api/status answered {answer.status_code} {answer.text}")


async def measure_requests(ways: list[Way], plan: Plan) -> list[dict[str, Any]]:
    for way in ways:
        await _check_status(way)
    rows: list[dict[str, Any]] = []
    for round_ in range(plan.http_rounds):
        for concurrency in LEVELS:
            shift = round_ % len(ways)
            for way in ways[shift:] + ways[:shift]:
                probe = Probe(
                    "GET",
                    f"{way.prefix}/api/status",
                    (*way.headers, ("Accept", "application/json")),
                )
                result = await run_load(
                    HOST,
                    way.port,
                    probe,
                    requests=plan.requests,
                    concurrency=concurrency,
                    warmup=plan.warmup,
                )
                _log(
                    f"status   c={concurrency:<3} {way.key:<8} {result.throughput:7.0f} req/s  "
                    f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms"
                )
                rows.append(
                    {
                        "round": round_,
                        "scenario": "status",
                        "endpoint": way.key,
                        **dataclasses.asdict(result),
                    }
                )
    return rows


# -- 2. WebSocket messages -----------------------------------------------------------------


def _kernel_info_request(session: str) -> tuple[str, str]:
    msg_id = uuid.uuid4().hex
    message = {
        "header": {
            "msg_id": msg_id,
            "msg_type": "kernel_info_request",
            "username": "bench",
            "session": session,
            "version": "5.3",
            "date": "",
        },
        "parent_header": {},
        "metadata": {},
        "content": {},
        "channel": "shell",
        "buffers": [],
    }
    return msg_id, json.dumps(message)


async def websocket_run(way: Way, kernel_id: str, count: int, window: int) -> dict[str, Any]:
    """``count`` kernel_info requests over a new channels WebSocket (opened untimed),
    ``window`` in flight at most; the time until the last reply and each round trip."""
    session = uuid.uuid4().hex
    url = f"ws://{HOST}:{way.port}{way.prefix}/api/kernels/{kernel_id}/channels"
    async with websockets.connect(
        f"{url}?session_id={session}",
        additional_headers=list(way.headers),
        open_timeout=60,
        max_size=None,
    ) as socket:
        response = socket.response
        extensions = response.headers.get("Sec-WebSocket-Extensions", "") if response else ""
        sent: dict[str, float] = {}
        trips: list[float] = []
        received = 0
        last = ""
        started = time.perf_counter()
        async with asyncio.timeout(COMMAND_TIMEOUT):
            for _ in range(min(window, count)):
                last, text = _kernel_info_request(session)
                sent[last] = time.perf_counter()
                await socket.send(text)
            issued = len(sent)
            while len(trips) < count:
                message = json.loads(await socket.recv())
                received += 1
                parent = message.get("parent_header", {}).get("msg_id")
                if message.get("msg_type") != "kernel_info_reply" or parent not in sent:
                    continue
                if message["content"].get("status") != "ok":
                    raise BenchmarkError(f"{way.label}: kernel_info_reply {message['content']}")
                trips.append(time.perf_counter() - sent.pop(parent))
                if issued < count:
                    last, text = _kernel_info_request(session)
                    sent[last] = time.perf_counter()
                    await socket.send(text)
                    issued += 1
        elapsed = time.perf_counter() - started
        # Untimed: the last request's idle status, so that nothing is left in flight.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                while True:
                    message = json.loads(await socket.recv())
                    if (
                        message.get("msg_type") == "status"
                        and message.get("parent_header", {}).get("msg_id") == last
                        and message["content"].get("execution_state") == "idle"
                    ):
                        break
    return {
        "seconds": elapsed,
        "trips": trips,
        "messages_received": received,
        "extensions": extensions,
    }


async def measure_websockets(
    ways: list[Way], kernel_id: str, plan: Plan
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    extensions: dict[str, str] = {}
    for way in ways:  # untimed: every path once
        extensions[way.key] = (await websocket_run(way, kernel_id, 20, 1))["extensions"]
    rows: list[dict[str, Any]] = []
    for round_ in range(plan.ws_rounds):
        for window in WINDOWS:
            shift = round_ % len(ways)
            for way in ways[shift:] + ways[:shift]:
                run = await websocket_run(way, kernel_id, plan.ws_messages, window)
                rows.append({"round": round_, "window": window, "contender": way.key, **run})
                _log(
                    f"ws       w={window:<3} {way.key:<8} "
                    f"{plan.ws_messages / run['seconds']:7.0f} replies/s"
                )
    return rows, extensions


def summarise_websockets(rows: list[dict[str, Any]], messages: int) -> list[dict[str, Any]]:
    """Per (window, contender): replies per second at the p50 and p90 run time, and the
    round trip's p50 and p99 over every message of every round (nearest rank)."""
    summary = []
    for key in dict.fromkeys((r["window"], r["contender"]) for r in rows):
        runs = [r for r in rows if (r["window"], r["contender"]) == key]
        times = sorted(r["seconds"] for r in runs)
        trips = sorted(t for r in runs for t in r["trips"])
        summary.append(
            {
                "window": key[0],
                "contender": key[1],
                "runs": len(runs),
                "replies_per_s_p50": messages / percentile(times, 50),
                "replies_per_s_p90": messages / percentile(times, 90),
                "messages_per_reply": sum(r["messages_received"] for r in runs)
                / (messages * len(runs)),
                "trip_p50_ms": percentile(trips, 50) * 1000,
                "trip_p99_ms": percentile(trips, 99) * 1000,
            }
        )
    return summary


# -- 3. downloading ---------------------------------------------------------------------------


def _curl_program() -> str:
    program = shutil.which("curl")
    if program is None:
        raise BenchmarkError("curl is not installed")
    return program


def download(way: Way, size: int) -> Callable[[], tuple[float, int | None]]:
    """``curl -o /dev/null`` of ``/files/big.bin``; a labgate token goes in on standard
    input, not in the argv."""

    def run() -> tuple[float, int | None]:
        config = f'url = "{way.url}/files/big.bin"\n' + "".join(
            f'header = "{name}: {value}"\n' for name, value in way.headers
        )
        start = time.perf_counter()
        done = subprocess.run(  # noqa: S603 (our fixed command line)
            [
                _curl_program(),
                "--config",
                "-",
                "-sS",
                "--fail",
                "-o",
                "/dev/null",
                "-w",
                "%{size_download}",
            ],
            input=config,
            capture_output=True,
            text=True,
            check=False,
            timeout=COMMAND_TIMEOUT,
        )
        elapsed = time.perf_counter() - start
        if done.returncode != 0 or done.stdout.strip() != str(size):
            raise BenchmarkError(
                f"{way.label}: the download failed ({done.returncode}, {done.stdout!r} bytes): "
                f"{done.stderr}"
            )
        return elapsed, None

    return run


# -- 4. launching -----------------------------------------------------------------------------


class Launches:
    """Launching JupyterLab through labgate, and JupyterLab starting by itself."""

    def __init__(
        self,
        runner: asyncio.Runner,
        server: LabgateServer,
        user: TestUser,
        apps: AppsEnv,
        directory: Path,
        remote_cpus: frozenset[int] | None,
        logs: Path,
    ) -> None:
        self.runner = runner
        self.server = server
        self.user = user
        self.apps = apps
        self.directory = directory
        self.remote_cpus = remote_cpus
        self.logs = logs
        self.headers = {"Authorization": f"Bearer {server.token}"}
        self.number = 0

    async def _labgate(self) -> float:
        ws_url = self.server.url.replace("http://", "ws://", 1) + "/api/v1/events"
        async with (
            httpx.AsyncClient(
                base_url=self.server.url, headers=self.headers, trust_env=False, timeout=60.0
            ) as http,
            websockets.connect(ws_url, additional_headers=self.headers, open_timeout=60) as events,
        ):
            started = time.perf_counter()
            answer = await http.post(
                "/api/v1/sessions",
                json={
                    "template": "jupyterlab",
                    "resource_id": self.server.resource_id,
                    "form": {
                        "workdir": str(self.directory),
                        "environment": _environment(self.apps),
                    },
                },
            )
            if answer.status_code != 201:
                raise BenchmarkError(f"launching JupyterLab: {answer.status_code} {answer.text}")
            session_id: str = answer.json()["id"]
            state = answer.json()["state"]
            try:
                async with asyncio.timeout(READY_TIMEOUT):
                    await until_running(http, events, session_id, state)
                elapsed = time.perf_counter() - started
                # Checked after the clock stopped: JupyterLab answers through the proxy.
                status = await http.get(f"/s/{session_id}/api/status")
                if status.status_code != 200 or not set(status.json()) >= STATUS_KEYS:
                    raise BenchmarkError(f"the launched JupyterLab answered {status.text}")
            finally:
                await http.post(f"/api/v1/sessions/{session_id}/stop")
                for _ in range(int(READY_TIMEOUT / 0.1)):
                    now = (await http.get(f"/api/v1/sessions/{session_id}")).json()["state"]
                    if now in ("stopped", "failed"):
                        break
                    await asyncio.sleep(0.1)
                await http.delete(f"/api/v1/sessions/{session_id}")
        return elapsed

    def labgate(self) -> tuple[float, int | None]:
        return self.runner.run(self._labgate()), None

    def own(self) -> tuple[float, int | None]:
        """The jupyterlab template's command, started as the account, until api/status
        answers on its Unix socket (asked every 20 ms)."""
        self.number += 1
        socket_path = self.directory / f"own-{self.number}.sock"
        base_url = "/s/benchmark/"
        token = secrets.token_hex(24)
        argv = [
            str(self.apps.jupyter_lab),
            "--no-browser",
            f"--ServerApp.sock={socket_path}",
            "--ServerApp.sock_mode=0600",
            f"--ServerApp.base_url={base_url}",
            "--ServerApp.allow_remote_access=True",
        ]
        env = user_environment(
            self.user,
            {"PATH": f"{self.apps.bin}:/usr/local/bin:/usr/bin:/bin", "JUPYTER_TOKEN": token},
        )
        transport = httpx.HTTPTransport(uds=str(socket_path))
        with (
            (self.logs / "jupyterlab-own.log").open("ab") as log,
            httpx.Client(transport=transport, trust_env=False, timeout=2.0) as http,
        ):
            start = time.perf_counter()
            process = subprocess.Popen(  # noqa: S603 (our fixed command line)
                argv,
                env=env,
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=self.user.uid,
                group=self.user.gid,
                extra_groups=[],
                umask=0o022,
            )
            if self.remote_cpus:
                os.sched_setaffinity(process.pid, self.remote_cpus)
            try:
                while True:
                    if process.poll() is not None:
                        raise BenchmarkError(f"jupyter-lab exited ({process.returncode})")
                    if time.perf_counter() - start > READY_TIMEOUT:
                        raise BenchmarkError("jupyter-lab did not answer")
                    with contextlib.suppress(httpx.TransportError):
                        answer = http.get(
                            f"http://localhost{base_url}api/status",
                            headers={"Authorization": f"token {token}"},
                        )
                        if answer.status_code == 200:
                            elapsed = time.perf_counter() - start
                            if not set(answer.json()) >= STATUS_KEYS:
                                raise BenchmarkError(f"jupyter-lab answered {answer.text}")
                            break
                    time.sleep(OWN_POLL_SECONDS)
            finally:
                stop_tree(process.pid)
                process.wait()
                socket_path.unlink(missing_ok=True)
        return elapsed, None


def launch_comparison(launches: Launches, rounds: int) -> Comparison:
    return Comparison(
        key="launch",
        title="Launching JupyterLab, click to ready",
        contenders=[
            Contender(
                "labgate",
                "labgate, direct launcher",
                "labgate",
                "POST /api/v1/sessions (template jupyterlab, direct, Unix socket) until the "
                "events WebSocket's session_changed shows it running",
                launches.labgate,
            ),
            Contender(
                "own",
                "JupyterLab's own start-up",
                "peer",
                "the template's jupyter-lab command started as the account on this host, until "
                f"api/status answers on its socket (asked every {OWN_POLL_SECONDS * 1000:.0f} ms)",
                launches.own,
            ),
        ],
        rounds=rounds,
        goals=[],
    )


# -- the section ------------------------------------------------------------------------------


def _placement(remote: frozenset[int] | None, local: frozenset[int] | None) -> str:
    if not remote or not local:
        return "not pinned: the OS schedules every process freely"
    return (
        f"the resource's side (sshd and all it starts: the agents, the daemon, JupyterLab "
        f"and its kernel, JupyterLab's own start-up) pinned to CPU {min(remote)}; the "
        f"client's side (labgate serve, CHP, this benchmark's load generator and WebSocket "
        f"client, curl) to CPU {min(local)}"
    )


def _versions(apps: AppsEnv, path: str) -> dict[str, str]:
    env = {**os.environ, "PATH": path}
    return {
        "labgate": labgate_version(),
        "jupyterlab": apps.version("jupyterlab"),
        "jupyter_server": apps.version("jupyter_server"),
        "tornado": apps.version("tornado"),
        "ipykernel": apps.version("ipykernel"),
        "configurable-http-proxy": CHP_SPEC.split("@")[1],
        "node": run_command(["node", "--version"], env=env),
        "asyncssh": importlib.metadata.version("asyncssh"),
        "websockets (client)": importlib.metadata.version("websockets"),
        "curl": subprocess.run(  # noqa: S603
            [_curl_program(), "--version"], capture_output=True, text=True, check=False
        ).stdout.split(" ")[1],
    }


def _ways(server: LabgateServer, session_id: str, chp_port: int, app_port: int) -> list[Way]:
    return [
        Way(
            "labgate",
            "labgate",
            int(server.url.rsplit(":", 1)[1]),
            f"/s/{session_id}",
            (("Authorization", f"Bearer {server.token}"),),
            "labgate serve's proxy (/s/<id>/, an API token on every request), then an SSH "
            "channel (direct-tcpip) to JupyterLab's port",
        ),
        Way(
            "chp",
            "CHP",
            chp_port,
            "",
            (),
            "configurable-http-proxy (Node.js) with a route / to JupyterLab's port, no "
            "authentication (as in JupyterHub, where the single-user server checks the user)",
        ),
        Way("direct", "direct", app_port, "", (), "JupyterLab's own port, nothing in between"),
    ]


def run_sessions(
    workdir: Path,
    *,
    quick: bool,
    remote_cpus: frozenset[int] | None,
    local_cpus: frozenset[int] | None,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None,
) -> dict[str, Any]:
    """Set up, measure the four comparisons, tear down; the record."""
    started = time.monotonic()
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    plan = QUICK if quick else FULL
    placement = _placement(remote_cpus, local_cpus)
    load_before = os.getloadavg()
    workdir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    try:
        user = ensure_test_user()
        apps = ensure_apps_env()
        size, note = read_size(user.home, plan.download_bytes)
        if note:
            notes.append(note)
        path = node_path()
        with contextlib.ExitStack() as stack:
            runtime_dir = stack.enter_context(daemon_runtime_dir("labgate-bench-sessions-"))
            directory = stack.enter_context(bench_directory(user, size))
            sshd = stack.enter_context(running_sshd(workdir, user))
            if remote_cpus:
                os.sched_setaffinity(sshd.pid, remote_cpus)  # its sessions inherit it
            server = stack.enter_context(
                labgate_server(workdir / "labgate", sshd, runtime_dir, local_cpus)
            )
            runner = stack.enter_context(asyncio.Runner(loop_factory=loop_factory))
            session_id, app_port = stack.enter_context(shared_jupyterlab(server, directory, apps))
            chp_port = stack.enter_context(chp_in_front(workdir, app_port, local_cpus))
            ways = _ways(server, session_id, chp_port, app_port)
            _log(
                f"Sessions: set up after {time.monotonic() - started:.0f} s (JupyterLab on port "
                f"{app_port}, session {session_id}; {placement})."
            )
            request_rows = runner.run(measure_requests(ways, plan))

            direct = ways[-1].url
            kernel = _check(
                httpx.post(f"{direct}/api/kernels", json={"name": "python3"}, trust_env=False),
                "starting a kernel",
                status=201,
            )
            try:
                ws_rows, extensions = runner.run(measure_websockets(ways, kernel["id"], plan))
            finally:
                httpx.delete(f"{direct}/api/kernels/{kernel['id']}", trust_env=False)

            downloads = Comparison(
                key="download",
                title=f"Downloading a {size // MIB} MiB file"
                if size < GIB
                else f"Downloading a {size // GIB} GiB file",
                contenders=[
                    Contender(
                        w.key,
                        w.label,
                        "labgate" if w.key == "labgate" else "peer",
                        f"curl -o /dev/null {'/s/<id>' if w.prefix else ''}/files/big.bin"
                        + (" (Bearer token)" if w.headers else ""),
                        download(w, size),
                    )
                    for w in ways
                ],
                rounds=plan.download_rounds,
                goals=[],
                payload_bytes=size,
            )
            download_rows = run_comparison(downloads)
            download_summary = summarise_runs(downloads, download_rows)
            for cell in download_summary:
                _log(f"download {cell['contender']:<8} {cell['mb_per_s_p50']:7.0f} MB/s")

            launches = launch_comparison(
                Launches(runner, server, user, apps, directory, remote_cpus, workdir),
                plan.launch_rounds,
            )
            launch_rows = run_comparison(launches)
            launch_summary = summarise_runs(launches, launch_rows)
            for cell in launch_summary:
                _log(f"launch   {cell['contender']:<8} p50 {cell['p50_s']:6.2f} s")
            versions = _versions(apps, path)
    except SshdNotAvailable as exc:
        raise BenchmarkError(f"the sessions benchmark needs a private sshd: {exc}") from None
    except AppsNotAvailable as exc:
        raise BenchmarkError(f"the sessions benchmark needs the apps environment: {exc}") from None
    load_after = os.getloadavg()
    request_summary = summarise_load(request_rows)
    ws_summary = summarise_websockets(ws_rows, plan.ws_messages)
    record: dict[str, Any] = {
        "date": date,
        "quick": quick,
        "duration_seconds": time.monotonic() - started,
        "machine": describe(placement),
        "load_average": {"before": list(load_before), "after": list(load_after)},
        "versions": versions,
        "settings": {**dataclasses.asdict(plan), "download_bytes": size, "levels": list(LEVELS)},
        "ways": [{"key": w.key, "label": w.label, "note": w.note} for w in ways],
        "websocket_extensions": extensions,
        "requests": {"summary": request_summary, "runs": request_rows},
        "websockets": {
            "summary": ws_summary,
            "runs": [{k: v for k, v in r.items() if k != "trips"} for r in ws_rows],
        },
        "comparisons": [
            {
                "key": c.key,
                "title": c.title,
                "payload_bytes": c.payload_bytes,
                "contenders": [
                    {"key": x.key, "label": x.label, "side": x.side, "command": x.command}
                    for x in c.contenders
                ],
            }
            for c in (downloads, launches)
        ],
        "summary": download_summary + launch_summary,
        "runs": download_rows + launch_rows,
        "notes": notes,
    }
    record["goals"] = goals(record)
    return record


def goals(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's goals: labgate at least as fast as CHP at every point; the launch
    within 0.5 s of JupyterLab's own start-up (at the median)."""
    out: list[dict[str, Any]] = []
    cells = {(s["concurrency"], s["endpoint"]): s for s in record["requests"]["summary"]}
    for level in record["settings"]["levels"]:
        ours, theirs = cells[(level, "labgate")], cells[(level, "chp")]
        for measure, higher in (("throughput", True), ("p50_ms", False), ("p99_ms", False)):
            ratio = ours[measure] / theirs[measure]
            out.append(
                {
                    "text": f"small requests at concurrency {level}, {measure.replace('_ms', '')}",
                    "ratio": ratio,
                    "met": ratio >= 1 if higher else ratio <= 1,
                }
            )
    ws = {(s["window"], s["contender"]): s for s in record["websockets"]["summary"]}
    for window in WINDOWS:
        ratio = (
            ws[(window, "labgate")]["replies_per_s_p50"] / ws[(window, "chp")]["replies_per_s_p50"]
        )
        out.append(
            {
                "text": f"WebSocket replies per second, {window} in flight",
                "ratio": ratio,
                "met": ratio >= 1,
            }
        )
    summary = {(s["comparison"], s["contender"]): s for s in record["summary"]}
    ratio = (
        summary[("download", "labgate")]["mb_per_s_p50"]
        / summary[("download", "chp")]["mb_per_s_p50"]
    )
    out.append({"text": "download throughput", "ratio": ratio, "met": ratio >= 1})
    extra = summary[("launch", "labgate")]["p50_s"] - summary[("launch", "own")]["p50_s"]
    out.append(
        {
            "text": "launch within 0.5 s of JupyterLab's own start-up",
            "seconds": extra,
            "met": extra <= 0.5,
        }
    )
    return out
