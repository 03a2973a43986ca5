"""The servers compared: labgate and its peers.

Each peer module has a context manager that installs (if needed) and starts its server,
creates a user with an API token and a logged-in browser session, and yields a
:class:`Peer`: where to send load (one or more :class:`Endpoint`) and what to send for
each scenario (a :class:`~benchmarks.load.Probe`). Leaving the block stops every
process it started, by PID.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from benchmarks.load import Probe

# Headers of a same-origin fetch() by a page, as a browser sends them with a cookie.
BROWSER_FETCH_HEADERS = (
    ("Accept", "application/json"),
    ("Sec-Fetch-Mode", "cors"),
    ("Sec-Fetch-Site", "same-origin"),
    ("User-Agent", "labgate-bench"),
)
# Headers of a browser navigating to a page.
BROWSER_NAVIGATE_HEADERS = (
    ("Accept", "text/html"),
    ("Sec-Fetch-Mode", "navigate"),
    ("Sec-Fetch-Site", "none"),
    ("User-Agent", "labgate-bench"),
)


class Scenario(StrEnum):
    """The everyday paths measured."""

    TOKEN = "token"  # noqa: S105 (a scenario name)
    COOKIE = "cookie"
    LOGIN_PAGE = "login_page"


@dataclass(frozen=True)
class Endpoint:
    """One address that load is sent to. ``key`` names it in the results."""

    key: str
    label: str
    host: str
    port: int
    note: str = ""


@dataclass
class Peer:
    """A started server: its endpoints, one probe per scenario, and its versions."""

    name: str
    endpoints: list[Endpoint]
    probes: dict[Scenario, Probe]
    versions: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
