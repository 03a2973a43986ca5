"""labgate's own API, a plug-in like any other: its routers, mounted below ``/api/v1``
in this order, before any other plug-in's (``register_routers``)."""

from __future__ import annotations

from fastapi import APIRouter

from labgate.api import (
    announcements,
    app_setup,
    archives,
    audit,
    auth,
    desktops,
    events,
    experiments,
    favourites,
    files,
    groups,
    guest_invitations,
    identities,
    keys,
    meta,
    notifications,
    preferences,
    processes,
    quotas,
    resource_connect,
    resources,
    sessions,
    shared_resources,
    sharing,
    template_switches,
    terminal_shares,
    tokens,
    transfers,
    uploads,
    usage,
    users,
)
from labgate.plugins import hookimpl


@hookimpl
def register_routers() -> list[APIRouter]:
    return [
        module.router
        for module in (
            meta,
            auth,
            users,
            identities,
            groups,
            tokens,
            preferences,
            audit,
            usage,
            resources,
            resource_connect,
            keys,
            processes,
            app_setup,
            files,
            archives,
            uploads,
            transfers,
            experiments,
            sessions,
            quotas,
            favourites,
            desktops,
            sharing,
            terminal_shares,
            notifications,
            announcements,
            guest_invitations,
            events,
            template_switches,
            shared_resources,
        )
    ]
