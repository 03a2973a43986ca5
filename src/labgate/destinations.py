"""Which hosts labgate may connect to for a user's resource.

Users type in their resources' hosts and jump hosts, so without a rule the server would
open connections wherever they say: to its own services on loopback, to the cloud's
metadata service, to internal hosts nobody outside may reach, as often as they like.
The settings ``resource_hosts_allowed`` and ``resource_hosts_denied`` say where users'
resources may be. Their rules apply to the addresses a name resolves to, and the SSH
transport connects to the very address that was checked, so a name that resolves to
127.0.0.1, or answers differently between the check and the connection, gets nowhere.

A rule is a CIDR (``10.20.0.0/16``, or one address), a host name pattern
(``*.cluster.example.org``: ``*`` and ``?`` as in file names, matched against the name
as typed) or one of the words in :data:`WORDS`.
"""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labgate.errors import LabgateError

if TYPE_CHECKING:
    from labgate.settings import Settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_own_address(address: Address) -> bool:
    """Whether ``address`` belongs to this machine (in this network namespace): the
    kernel lets a socket bind only to its own addresses."""
    if address.is_unspecified or address.is_loopback:
        return True
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((str(address), 0))
        except OSError:
            return False
    return True


WORDS: dict[str, Callable[[Address], bool]] = {
    "loopback": lambda address: address.is_loopback,
    # Cloud metadata services (169.254.169.254) answer here.
    "link-local": lambda address: address.is_link_local,
    "private": lambda address: address.is_private,
    "this-server": is_own_address,
}
DEFAULT_DENIED_HOSTS = ("loopback", "link-local", "this-server")

_PATTERN = re.compile(r"^[A-Za-z0-9_*?][A-Za-z0-9_.*?-]*$")


def address_of(text: str) -> Address | None:
    """``text`` as an IP address (IPv4-mapped IPv6 ones as IPv4), None for a name."""
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class HostRule:
    """One entry of ``resource_hosts_allowed`` or ``resource_hosts_denied``."""

    text: str

    def matches(self, host: str, address: Address | None) -> bool:
        """Whether the rule covers ``host`` (as typed) reached at ``address`` (None: the
        name could not be resolved here, so only name patterns can match)."""
        word = WORDS.get(self.text)
        if word is not None:
            return address is not None and word(address)
        if "/" in self.text or address_of(self.text) is not None:
            return address is not None and address in ipaddress.ip_network(self.text, strict=False)
        name = host.lower().rstrip(".")
        return address_of(name) is None and fnmatch.fnmatchcase(name, self.text)

    def __str__(self) -> str:
        return self.text


def parse_host_rules(entries: Iterable[str]) -> list[HostRule]:
    """The rules of a setting; ValueError names the first entry that is none."""
    rules = []
    for entry in entries:
        text = entry.strip().lower()
        if text in WORDS or _PATTERN.match(text):
            rules.append(HostRule(text))
            continue
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(
                f"{entry!r} is neither a CIDR (10.0.0.0/8), a host name pattern "
                f"(*.example.org) nor one of {', '.join(WORDS)}"
            ) from None
        rules.append(HostRule(text))
    return rules


@dataclass(frozen=True)
class HostRules:
    """Where users' resources may be."""

    allowed: tuple[HostRule, ...]
    denied: tuple[HostRule, ...]

    @classmethod
    def of(cls, settings: Settings) -> HostRules:
        return cls(
            tuple(parse_host_rules(settings.resource_hosts_allowed)),
            tuple(parse_host_rules(settings.resource_hosts_denied)),
        )

    def refusal(self, host: str, address: Address | None) -> str | None:
        """Why ``host``, reached at ``address``, may not be connected to (a sentence for
        the user), or None when it may."""
        shown = host if address is None or address_of(host) == address else f"{host} ({address})"
        for rule in self.denied:
            if rule.matches(host, address):
                what = f"{rule.text} addresses" if rule.text in WORDS else rule.text
                return (
                    f"labgate may not connect to {shown} for your resources ({what} are "
                    "refused by the setting resource_hosts_denied). Ask an administrator to "
                    "set it up as a shared resource if you need it."
                )
        if self.allowed and not any(rule.matches(host, address) for rule in self.allowed):
            return (
                f"labgate may not connect to {shown} for your resources: it is not among "
                "the hosts of the setting resource_hosts_allowed. Ask an administrator which "
                "hosts you may use."
            )
        return None

    def sort(self, host: str, addresses: Sequence[Address]) -> tuple[list[Address], str | None]:
        """The ``addresses`` of ``host`` that may be connected to, in their order, and why
        the first refused one is refused (None when none is)."""
        allowed: list[Address] = []
        first_refusal: str | None = None
        for address in addresses:
            refusal = self.refusal(host, address)
            if refusal is None:
                allowed.append(address)
            elif first_refusal is None:
                first_refusal = refusal
        return allowed, first_refusal


async def resolve(host: str, port: int, *, within: float) -> list[Address]:
    """The addresses ``host`` resolves to here, in the resolver's order, each once.
    Raises ``socket.gaierror`` for a name that does not resolve, TimeoutError."""
    literal = address_of(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(within):
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[Address] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = address_of(str(sockaddr[0]))
        if address is not None and address not in found:
            found.append(address)
    return found


class HostNotAllowed(LabgateError):
    """A resource's host or jump host that its owner may not use (saving it is refused)."""

    code = "host_refused"
    status = 422


async def refusal_of(rules: HostRules, host: str, port: int, *, within: float) -> str | None:
    """Why ``host`` may not be used, as far as can be told here: by its addresses when it
    resolves (refused when none of them may be connected to), else by its name."""
    try:
        found = await resolve(host, port, within=within)
    except (OSError, TimeoutError):  # socket.gaierror is an OSError
        return rules.refusal(host, None)
    allowed, refusal = rules.sort(host, found)
    return None if allowed else refusal
