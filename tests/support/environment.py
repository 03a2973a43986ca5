"""Keeping the developer's ``LABGATE_*`` settings out of the tests, and each test's out of
the next."""

from __future__ import annotations

import pytest

from labgate.settings import ENV_PREFIX, Settings

CONFIG_VARIABLE = ENV_PREFIX + "CONFIG"


def settings_variables() -> list[str]:
    """Every environment variable that :class:`Settings` reads."""
    return [CONFIG_VARIABLE, *(ENV_PREFIX + name.upper() for name in Settings.model_fields)]


def isolate_settings_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every settings variable for the duration of a test."""
    for name in settings_variables():
        monkeypatch.delenv(name, raising=False)
    # load_settings(config_file=...) records the file in os.environ; setting the variable
    # through monkeypatch first makes sure that is undone when the test ends. Empty means
    # "no configuration file".
    monkeypatch.setenv(CONFIG_VARIABLE, "")
