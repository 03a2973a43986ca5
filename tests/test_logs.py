"""Logging: uvicorn's access log keeps labgate's own requests and leaves the apps'
traffic (``/s/...``) to debug level."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from labgate.logs import REDACTED, configure_logging, redact_secrets


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


@pytest.mark.parametrize(
    ("line", "written"),
    [
        (
            '127.0.0.1:5 - "GET /s/abc/lab?token=s3cret&x=1 HTTP/1.1" 200',
            '127.0.0.1:5 - "GET /s/abc/lab?token=[redacted]&x=1 HTTP/1.1" 200',
        ),
        (
            "/_labgate/enter?grant=AAA-b_c&next=%2Fs%2Fx%2Flab%3Ftoken%3Ds3cret%26y%3D2",
            "/_labgate/enter?grant=[redacted]&next=%2Fs%2Fx%2Flab%3Ftoken%3D[redacted]%26y%3D2",
        ),
        ("/x?a=1%26ACCESS_TOKEN%3Ds3cret", "/x?a=1%26ACCESS_TOKEN%3D[redacted]"),
        # An invitation link's token (the workspace is opened at /?invite=...).
        (
            '127.0.0.1:5 - "GET /?invite=Zk3b9Q-s3cret HTTP/1.1" 200',
            '127.0.0.1:5 - "GET /?invite=[redacted] HTTP/1.1" 200',
        ),
        # Inside a JSON string, the escaped quote stays.
        ('{"message": "GET /x?access_token=s3cret\\" 200"}', None),
        ("/x?csrf_token=s3cret#top", "/x?csrf_token=[redacted]#top"),
        # Other names, and empty values, stay as they are.
        ("/x?mytoken=1&xgrant=2&tokens=3&grant=&invites=4", None),
        ("no query here", None),
    ],
)
def test_secret_query_values_are_blanked(line: str, written: str | None) -> None:
    if written is None and "s3cret" in line:
        written = line.replace("s3cret", REDACTED)
    assert redact_secrets(line) == (written or line)
