"""The pluggy markers of labgate's hooks (their project name is ``labgate``)."""

from __future__ import annotations

import pluggy

PROJECT = "labgate"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
