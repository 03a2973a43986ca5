"""The password policy controls (draft-behera-ldap-password-policy, OpenLDAP's ppolicy
overlay): asked for with a bind, the answer says why a bind failed (an account locked, a
password expired) where the result code alone says only "invalid credentials".

The response's value is BER::

    PasswordPolicyResponseValue ::= SEQUENCE {
        warning [0] CHOICE {
            timeBeforeExpiration [0] INTEGER (0 .. maxInt),
            graceAuthNsRemaining [1] INTEGER (0 .. maxInt) } OPTIONAL,
        error   [1] ENUMERATED { passwordExpired (0), accountLocked (1),
            changeAfterReset (2), ... } OPTIONAL }

The module of the draft has implicit tags, except where they cannot be (a CHOICE is
tagged explicitly): slapd 2.5 sends ``30 03 81 01 01`` for a locked account.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from pyasn1.codec.ber import decoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import namedtype, namedval, tag, univ

#: The control's OID, for the request and the response.
OID = "1.3.6.1.4.1.42.2.27.8.5.1"

#: The request control as ldap3 takes it: (OID, criticality, value). Not critical: a
#: server without the overlay binds as usual and says nothing.
REQUEST: tuple[str, bool, None] = (OID, False, None)


class PolicyError(enum.IntEnum):
    PASSWORD_EXPIRED = 0
    ACCOUNT_LOCKED = 1
    CHANGE_AFTER_RESET = 2
    PASSWORD_MOD_NOT_ALLOWED = 3
    MUST_SUPPLY_OLD_PASSWORD = 4
    INSUFFICIENT_PASSWORD_QUALITY = 5
    PASSWORD_TOO_SHORT = 6
    PASSWORD_TOO_YOUNG = 7
    PASSWORD_IN_HISTORY = 8


@dataclass(frozen=True)
class PolicyResponse:
    """What the server said about the password: an error, and a warning (seconds until
    the password expires, or sign-ins left after it expired)."""

    error: PolicyError | None = None
    seconds_before_expiration: int | None = None
    grace_sign_ins_remaining: int | None = None


def _implicit(base: tag.TagSet, number: int) -> tag.TagSet:
    """``[number] IMPLICIT`` of a type whose tags are ``base``."""
    return tag.TagSet(base.baseTag, tag.Tag(tag.tagClassContext, tag.tagFormatSimple, number))


def _explicit(number: int) -> tag.TagSet:
    """``[number]`` of an untagged type (a CHOICE)."""
    return tag.TagSet((), tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, number))


class _TimeBeforeExpiration(univ.Integer):
    tagSet = _implicit(univ.Integer.tagSet, 0)


class _GraceAuthNsRemaining(univ.Integer):
    tagSet = _implicit(univ.Integer.tagSet, 1)


class _Warning(univ.Choice):
    tagSet = _explicit(0)
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("timeBeforeExpiration", _TimeBeforeExpiration()),
        namedtype.NamedType("graceAuthNsRemaining", _GraceAuthNsRemaining()),
    )


class _Error(univ.Enumerated):
    tagSet = _implicit(univ.Enumerated.tagSet, 1)
    namedValues = namedval.NamedValues(*((error.name, error.value) for error in PolicyError))


class _Response(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.OptionalNamedType("warning", _Warning()),
        namedtype.OptionalNamedType("error", _Error()),
    )


class BadControl(ValueError):
    """The response control's value is not a PasswordPolicyResponseValue."""


def decode(value: bytes) -> PolicyResponse:
    """The response control's value, read. An error number the draft does not name is
    refused (as is anything else malformed) rather than guessed at."""
    decoded: Any
    try:
        decoded, rest = decoder.decode(value, asn1Spec=_Response())
    except PyAsn1Error as exc:
        raise BadControl(
            f"not a password policy response: {str(exc) or type(exc).__name__}"
        ) from exc
    if rest:
        raise BadControl(f"{len(rest)} bytes after the password policy response")
    error, warning = decoded["error"], decoded["warning"]
    seconds = grace = None
    if warning.isValue:
        number = int(warning.getComponent())
        if warning.getName() == "timeBeforeExpiration":
            seconds = number
        else:
            grace = number
    try:
        known = PolicyError(int(error)) if error.isValue else None
    except ValueError:
        raise BadControl(f"the password policy error {int(error)} is not the draft's") from None
    return PolicyResponse(known, seconds_before_expiration=seconds, grace_sign_ins_remaining=grace)


def from_result(result: dict[str, Any]) -> PolicyResponse | None:
    """The password policy response in an ldap3 result (``connection.result``), if the
    server sent one; a malformed one is :class:`BadControl`."""
    controls = result.get("controls") or {}
    control = controls.get(OID)
    if control is None:
        return None
    value = control.get("value")
    if not isinstance(value, bytes):
        raise BadControl(f"the password policy response holds {type(value).__name__}")
    return decode(value)
