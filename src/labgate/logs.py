"""Structured logging: readable text for people, one JSON object per line for collectors.

Whatever is written, by labgate, uvicorn (its access log and its WebSocket lines) or any
library, has the values of secret query parameters blanked first: app-origin grants
(``grant=``), invitation links (``invite=``) and tokens (``token=``, ``access_token=``,
any ``*_token=``; JupyterLab's and TensorBoard's URLs carry ``?token=``), also where a
URL sits URL-encoded in another's query (``next=%2Fs%2F...%3Ftoken%3D...``). A log is
read by more people than the credentials in it were meant for.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else was passed as `extra=` and is data.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

REDACTED = "[redacted]"
# A query parameter named grant, invite, token or *_token (its '=' maybe URL-encoded), and its
# value: up to the next parameter ('&', or '%26' when encoded), a space, a quote, a
# fragment, or the backslash of an escaped quote in JSON.
_SECRET_PARAMETER = re.compile(
    r"(?:(?<![\w-])|(?<=%3F)|(?<=%26))"
    r"((?:grant|invite|(?:\w+_)?token)(?:=|%3D))((?:(?!%26)[^&\s\"'#\\])+)",
    re.IGNORECASE,
)


def redact_secrets(text: str) -> str:
    """``text`` with the values of grant, invitation and token query parameters blanked."""
    if "=" not in text and "%3" not in text:
        return text
    return _SECRET_PARAMETER.sub(lambda m: m.group(1) + REDACTED, text)


class RedactingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes records as its formatter says, with secret query values blanked."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_secrets(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class AppTrafficFilter(logging.Filter):
    """Keeps the requests to sessions' apps (``/s/...``) out of uvicorn's access log,
    unless labgate logs at debug level. An open JupyterLab alone asks its server
    something every few seconds; one line each would bury labgate's own requests.
    Failures to reach an app are logged by the proxy either way."""

    def __init__(self, debug: bool) -> None:
        super().__init__()
        self.debug = debug

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn's access record: (client, method, path with query, HTTP version, status)
        if self.debug or not isinstance(args, tuple) or len(args) < 3:
            return True
        path = args[2]
        return not (isinstance(path, str) and path.startswith("/s/"))


def configure_logging(level: str = "info", fmt: str = "text") -> None:
    handler = RedactingHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    access = logging.getLogger("uvicorn.access")
    access.filters[:] = [AppTrafficFilter(debug=level.lower() == "debug")]
    # One line per request is the access log's job; keep SQL and HTTP internals quiet.
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
