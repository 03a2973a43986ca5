"""What the running server holds: settings, the database and its collaborators.

Nothing here is state that could not be rebuilt from the database and the settings, so
a restart or a second replica loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from labgate.auth.providers import AuthProvider
from labgate.db.engine import Database
from labgate.http.metrics import Metrics
from labgate.settings import Settings


@dataclass
class AppState:
    settings: Settings
    database: Database
    providers: list[AuthProvider]
    metrics: Metrics = field(default_factory=Metrics)
