"""Prometheus metrics: request counts and latencies, logins, active sessions."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labgate.api import API_PREFIX


class Metrics:
    """One registry per application, so several apps (tests, replicas) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "labgate_http_requests_total",
            "HTTP requests answered, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "labgate_http_request_duration_seconds",
            "Time to answer HTTP requests, by method and route.",
            ["method", "route"],
            registry=self.registry,
        )
        self.logins = Counter(
            "labgate_logins_total",
            "Login attempts, by result (success, failed, disabled, rate_limited).",
            ["result"],
            registry=self.registry,
        )
        self.active_sessions = Gauge(
            "labgate_active_login_sessions",
            "Login sessions that are neither ended nor expired (read at scrape time).",
            registry=self.registry,
        )


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            # Label by route template, never by raw path, to keep label sets small.
            name = getattr(route, "path", None) or (
                "/assets" if scope["path"].startswith("/assets/") else "other"
            )
            # Routes of included routers know only their own part of the path.
            if scope["path"].startswith(API_PREFIX) and not name.startswith(API_PREFIX):
                name = API_PREFIX + name
            method = scope["method"]
            self.metrics.requests.labels(method, name, str(status)).inc()
            self.metrics.latency.labels(method, name).observe(time.perf_counter() - started)
