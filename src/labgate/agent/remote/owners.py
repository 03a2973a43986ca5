"""Who owns a file, by name: user and group names for the uids and gids of entries.

A lookup may ask a directory service (LDAP, SSSD) on a cluster, so one listing, search
or answer looks each uid and gid up once (an ``Owners`` lives for one call): a page of
5,000 files of one user costs two lookups, and a name changed on the resource shows on
the next listing.
"""

from __future__ import annotations

import grp
import pwd
from typing import Any, Callable, Dict, Optional


def _user_name(uid: int) -> str:
    return pwd.getpwuid(uid).pw_name


def _group_name(gid: int) -> str:
    return grp.getgrgid(gid).gr_name


class Owners:
    """The names of owners met during one call; ``None`` for an id with no name (a file
    from another machine, a deleted account), so the caller shows the number."""

    def __init__(
        self,
        user_name: Callable[[int], str] = _user_name,
        group_name: Callable[[int], str] = _group_name,
    ) -> None:
        self._user_name = user_name
        self._group_name = group_name
        self._users = {}  # type: Dict[int, Optional[str]]
        self._groups = {}  # type: Dict[int, Optional[str]]

    def user(self, uid: int) -> Optional[str]:
        return _cached(self._users, uid, self._user_name)

    def group(self, gid: int) -> Optional[str]:
        return _cached(self._groups, gid, self._group_name)

    def name(self, entry: Dict[str, Any]) -> None:
        """Add ``user`` and ``group`` to an entry with ``uid`` and ``gid``, when known."""
        user, group = self.user(entry["uid"]), self.group(entry["gid"])
        if user is not None:
            entry["user"] = user
        if group is not None:
            entry["group"] = group


def _cached(
    names: Dict[int, Optional[str]], number: int, look_up: Callable[[int], str]
) -> Optional[str]:
    try:
        return names[number]
    except KeyError:
        pass
    try:
        name = look_up(number)  # type: Optional[str]
    except (KeyError, OverflowError):  # no such id; an id beyond the C type's range
        name = None
    names[number] = name
    return name
