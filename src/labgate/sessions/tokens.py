"""The secret an app is started with (JupyterLab's token): made by labgate, sealed with
the server secret in the database, added by the proxy to every request. Users never see
it; a copy of a session's URL is worth nothing without a labgate login."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from labgate.credentials.vault import Vault

_PURPOSE = "app-session-token:"


class SessionTokens:
    def __init__(self, vault: Callable[[], Vault]) -> None:
        self._vault = vault

    @staticmethod
    def new() -> str:
        return secrets.token_urlsafe(32)

    def seal(self, token: str, session_id: str) -> bytes:
        return self._vault().seal(token.encode(), _PURPOSE + session_id)

    def open(self, sealed: bytes, session_id: str) -> str:
        return self._vault().open(sealed, _PURPOSE + session_id).decode()


def new_session_id() -> str:
    """The random name of a session in its URL: 16 lower-case letters and digits (about
    80 bits), usable as a DNS label for per-session origins."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(16))
