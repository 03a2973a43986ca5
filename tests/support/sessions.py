"""Sessions through the API, for end-to-end tests: launch one, wait for a state, and
make a second user (the one who must be refused)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from tests.support.eventually import NotEventually, eventually_sync
from tests.support.labgate_api import Browser


def launch(browser: Browser, rid: int, template: str, **body: Any) -> dict[str, Any]:
    """POST /api/v1/sessions; the new session, which starts ``pending``."""
    answer = browser.post(
        "/api/v1/sessions", json={"template": template, "resource_id": rid, **body}
    )
    assert answer.status_code == 201, answer.text
    session: dict[str, Any] = answer.json()
    assert session["state"] == "pending"
    return session


def wait_for(browser: Browser, session_id: str, *states: str) -> dict[str, Any]:
    """The session once it is in one of ``states`` (its log in the error otherwise)."""

    def check() -> dict[str, Any]:
        answer = browser.get(f"/api/v1/sessions/{session_id}")
        assert answer.status_code == 200, answer.text
        session: dict[str, Any] = answer.json()
        assert session["state"] in states, session
        return session

    try:
        return eventually_sync(check, what=f"session {session_id} {' or '.join(states)}")
    except NotEventually as exc:
        log = browser.get(f"/api/v1/sessions/{session_id}/log").json().get("log")
        raise NotEventually(f"{exc}\n{log}") from None


@contextlib.contextmanager
def another_user(admin: Browser, username: str, password: str) -> Iterator[Browser]:
    """A second, ordinary user, logged in."""
    made = admin.post(
        "/api/v1/users", json={"username": username, "password": password, "role": "user"}
    )
    assert made.status_code == 201, made.text
    browser = Browser(admin.server, username, password)
    try:
        yield browser
    finally:
        browser.close()


def fresh_folder(browser: Browser, rid: int, path: str, files: dict[str, bytes]) -> str:
    """``path`` on the resource, emptied and holding ``files`` (name: content)."""
    browser.post(f"/api/v1/resources/{rid}/files/delete", json={"path": path, "recursive": True})
    made = browser.post(f"/api/v1/resources/{rid}/files/mkdir", json={"path": path})
    assert made.status_code == 201, made.text
    for name, content in files.items():
        written = browser.put(
            f"/api/v1/resources/{rid}/files/content",
            params={"path": f"{path}/{name}"},
            content=content,
        )
        assert written.status_code == 200, written.text
    return path


# A notebook of one cell that prints 42, for JupyterLab in a browser.
NOTEBOOK: dict[str, Any] = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "first",
            "metadata": {},
            "outputs": [],
            "source": ["print(6 * 7)"],
        }
    ],
    "metadata": {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}
