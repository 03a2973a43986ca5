"""Logging: uvicorn's access log keeps labgate's own requests and leaves the apps'
traffic (``/s/...``) to debug level."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from labgate.logs import configure_logging


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        assert isinstance(record.args, tuple)
        self.paths.append(str(record.args[2]))


@pytest.fixture
def kept() -> Iterator[_Kept]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    access = logging.getLogger("uvicorn.access")
    saved_filters = access.filters[:]
    handler = _Kept()
    yield handler
    root.handlers[:], level = saved
    root.setLevel(level)
    access.filters[:] = saved_filters


def _requests() -> None:
    # As uvicorn's HTTP protocols write their access lines.
    access = logging.getLogger("uvicorn.access")
    for path in ("/api/v1/users/me", "/s/k3v9q2m8x1c4b7n0/api/kernels?1", "/", "/static/s/x"):
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:50000", "GET", path, "1.1", 200)


@pytest.mark.parametrize("level", ["info", "warning"])
def test_app_traffic_stays_out_of_the_access_log(kept: _Kept, level: str) -> None:
    configure_logging(level)
    logging.getLogger().addHandler(kept)
    logging.getLogger().setLevel(logging.INFO)  # whatever the level, nothing from /s/
    _requests()
    assert kept.paths == ["/api/v1/users/me", "/", "/static/s/x"]


def test_at_debug_level_the_apps_traffic_is_logged_too(kept: _Kept) -> None:
    configure_logging("debug")
    logging.getLogger().addHandler(kept)
    _requests()
    assert kept.paths == [
        "/api/v1/users/me",
        "/s/k3v9q2m8x1c4b7n0/api/kernels?1",
        "/",
        "/static/s/x",
    ]
