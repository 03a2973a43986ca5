"""What user and group names may look like."""

from __future__ import annotations

import re

from labgate.errors import FieldProblem, ValidationFailed

# POSIX-portable account names: they become remote user names and file names later.
_NAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")


def valid_name(value: str) -> bool:
    return _NAME.fullmatch(value) is not None


def check_name(value: str, *, field: str, what: str) -> str:
    if not valid_name(value):
        message = (
            f"A {what} name is 1-32 characters: lower-case letters, digits, '_', '.' or '-', "
            "starting with a letter or '_'."
        )
        raise ValidationFailed(message, details=[FieldProblem(field, message)])
    return value
