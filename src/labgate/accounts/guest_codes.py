"""Guest invitation codes and guests' user names: what people read aloud and type.

A code is 12 characters of Crockford's base32 (digits and capitals without I, L, O and
U), shown in groups of four (``K7QM-4TXP-9WRB``): 60 random bits, plenty when every
guess costs a rate-limited request. Typing is forgiving: lower case, dashes and spaces
do not matter, and I, L (one) and O (zero) are read as the digits they look like. The
database keeps a hash of the normal form, for finding the invitation, and the code
sealed, for showing it to administrators again.
"""

from __future__ import annotations

import secrets

from labgate.auth.secrets import digest

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12
GROUP = 4
# What people type for what they see (Crockford's rule).
_LOOKALIKES = str.maketrans({"I": "1", "L": "1", "O": "0"})
_IGNORED = str.maketrans("", "", "- \t\u00a0")

GUEST_PREFIX = "guest-"
# The random part of a guest's user name: lower case and unambiguous when read from a
# screen or a note (no 0/o, 1/l/i, u/v).
_NAME_ALPHABET = "23456789abcdefghjkmnpqrstwxyz"
_NAME_LENGTH = 5


def new_code() -> str:
    """A new code in its normal form (no dashes)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normal_code(typed: str) -> str | None:
    """``typed`` as a code's normal form, or None when it cannot be one."""
    code = typed.upper().translate(_IGNORED).translate(_LOOKALIKES)
    if len(code) != CODE_LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code


def shown_code(code: str) -> str:
    """The normal form in groups, as people read it: ``K7QM-4TXP-9WRB``."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def join_path(code: str) -> str:
    """Where the joining page of a code is, below labgate's origin."""
    return f"/login?invitation={shown_code(code)}"


def code_hash(code: str) -> str:
    """What the database keeps to find the invitation of a code (its normal form)."""
    return digest(code)


def new_guest_name() -> str:
    """A candidate user name for a guest (``guest-k7qm4``); the caller checks it is free."""
    return GUEST_PREFIX + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(_NAME_LENGTH))
