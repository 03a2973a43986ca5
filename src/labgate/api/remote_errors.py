"""What the agent on a resource answered, as API errors: one table from the agent's error
codes (``wire.error_of``) to HTTP statuses, used by every route that calls the agent.

The agent's code and message reach the caller unchanged in the standard error envelope,
so a person reads what the resource said ("No such file or directory") and a script can
act on the code (``not_found``, ``exists``, ``conflict``, ...).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from labgate.agent.client import AgentCallError
from labgate.errors import LabgateError

STATUS_OF_CODE: Mapping[str, int] = {
    # Nothing there.
    "not_found": 404,
    "no_such_process": 404,
    # There, but not for this account (or not at all: the root and home directories).
    "permission_denied": 403,
    "read_only": 403,
    "refused": 403,
    # In the way of the request, as things stand now.
    "exists": 409,
    "conflict": 409,
    "not_empty": 409,
    "running": 409,
    "not_running": 409,
    "not_a_terminal": 409,
    "wrong_offset": 409,  # a resumable upload's part that does not start where it ended
    "incomplete": 409,
    "busy": 409,
    "too_many_processes": 409,  # max_processes_per_resource
    # The resource's disk or the account's quota is full.
    "no_space": 507,
    "quota_exceeded": 507,
    # More than the caller declared (a resumable upload's size).
    "payload_too_large": 413,
    # The data arrived, but not as it was sent.
    "checksum_mismatch": 422,
    # The request cannot work whatever the state of the resource.
    "is_a_directory": 400,
    "not_a_directory": 400,
    "not_a_file": 400,
    "bad_request": 400,
    "cross_device": 400,
    "name_too_long": 400,
    "too_many_files": 400,
    "aborted": 400,
}
# Codes not in the table (``os_error``, ``agent_error``, ...): the resource failed in a
# way the caller can do nothing about.
OTHER_STATUS = 502


class ResourceError(LabgateError):
    """An error the agent on the resource reported; ``code`` is the agent's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = STATUS_OF_CODE.get(code, OTHER_STATUS)


def resource_error(exc: AgentCallError) -> ResourceError:
    return ResourceError(exc.remote_code, exc.message)


@contextmanager
def resource_errors() -> Iterator[None]:
    """Turn the agent's error answers raised inside into :class:`ResourceError`."""
    try:
        yield
    except AgentCallError as exc:
        raise resource_error(exc) from None
