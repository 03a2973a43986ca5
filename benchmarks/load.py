"""The load generator: a fixed number of requests at a fixed concurrency, with latency
percentiles.

It is a minimal HTTP/1.1 client on asyncio streams rather than httpx: per request it
costs a fraction of httpx's CPU time, and on a two-core machine the load generator shares
the CPU with the servers it measures, so the lighter it is the less it colours the
result. Each of the ``concurrency`` workers holds one keep-alive connection (reopened
only if the server closes it) and sends its next request as soon as the previous answer
has been read in full, like ``wrk`` or ``ab -k``. Every answer's status is checked: a
run with any unexpected status fails instead of timing errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass, field

from benchmarks.process import BenchmarkError

READ_TIMEOUT = 30.0


@dataclass(frozen=True)
class Probe:
    """One request, sent over and over: method, path, headers, expected status."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    expect_status: int = 200

    def encode(self, host: str, port: int) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}:{port}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass(frozen=True)
class LoadResult:
    """What one timed run measured. Latencies are in milliseconds."""

    requests: int
    concurrency: int
    seconds: float
    throughput: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    response_bytes: int


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class _Connection:
    host: str
    port: int
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send one request and read its whole answer; (status, body)."""
        if self.writer is None:
            await self.open()
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self._read_chunked()
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:  # the body ends with the connection
            body = await self.reader.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, body

    async def _read_chunked(self) -> bytes:
        assert self.reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                # Trailers (rare) end with an empty line.
                while (await self.reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


@dataclass
class _Run:
    probe: Probe
    request: bytes
    remaining: int
    latencies_ns: list[int] = field(default_factory=list)
    response_bytes: int = 0


async def _worker(conn: _Connection, run: _Run) -> None:
    while run.remaining > 0:
        run.remaining -= 1
        started = time.perf_counter_ns()
        status, body = await asyncio.wait_for(conn.exchange(run.request), READ_TIMEOUT)
        run.latencies_ns.append(time.perf_counter_ns() - started)
        if status != run.probe.expect_status:
            raise BenchmarkError(
                f"{run.probe.method} {run.probe.path} answered {status}, "
                f"expected {run.probe.expect_status}: {body[:300]!r}"
            )
        run.response_bytes = len(body)


async def _phase(conns: list[_Connection], probe: Probe, request: bytes, count: int) -> _Run:
    run = _Run(probe, request, count)
    await asyncio.gather(*(_worker(conn, run) for conn in conns))
    return run


async def run_load(
    host: str, port: int, probe: Probe, *, requests: int, concurrency: int, warmup: int
) -> LoadResult:
    """Send ``warmup`` untimed requests, then ``requests`` timed ones, each time keeping
    ``concurrency`` of them in flight on as many keep-alive connections."""
    conns = [_Connection(host, port) for _ in range(concurrency)]
    request = probe.encode(host, port)
    try:
        await asyncio.gather(*(conn.open() for conn in conns))
        if warmup:
            await _phase(conns, probe, request, max(warmup, concurrency))
        started = time.perf_counter()
        run = await _phase(conns, probe, request, requests)
        seconds = time.perf_counter() - started
    finally:
        await asyncio.gather(*(conn.close() for conn in conns))
    latencies = sorted(ns / 1e6 for ns in run.latencies_ns)
    return LoadResult(
        requests=len(latencies),
        concurrency=concurrency,
        seconds=seconds,
        throughput=len(latencies) / seconds,
        p50_ms=percentile(latencies, 50),
        p90_ms=percentile(latencies, 90),
        p99_ms=percentile(latencies, 99),
        max_ms=latencies[-1],
        mean_ms=sum(latencies) / len(latencies),
        response_bytes=run.response_bytes,
    )
