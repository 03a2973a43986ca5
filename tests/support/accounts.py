"""Making users and logged-in HTTP clients for API tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from labgate.accounts.users import create_user
from labgate.db.engine import Database
from labgate.db.models import Role
from labgate.settings import Settings

PASSWORD = "correct horse battery"


@dataclass
class LoggedIn:
    """A client with a browser session: sends the CSRF header on unsafe methods."""

    http: httpx.AsyncClient
    csrf: str
    user: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {**kwargs.pop("headers", {})}
        if method.upper() not in ("GET", "HEAD", "OPTIONS"):
            headers.setdefault("X-CSRF-Token", self.csrf)
        return await self.http.request(method, url, headers=headers, **kwargs)

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    async def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", url, **kwargs)


class AccountFactory:
    def __init__(self, app: Any, database: Database, settings: Settings) -> None:
        self.app = app
        self.database = database
        self.settings = settings
        self._clients: list[httpx.AsyncClient] = []

    async def user(
        self, username: str, *, role: Role = Role.USER, password: str = PASSWORD
    ) -> None:
        async with self.database.session() as db:
            await create_user(
                db,
                self.settings,
                username=username,
                password=password,
                role=role,
                display_name=username.title(),
            )

    def anonymous(self, client_ip: str = "127.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(client_ip, 40000))
        http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        self._clients.append(http)
        return http

    async def login(
        self,
        username: str,
        *,
        password: str = PASSWORD,
        create: bool = True,
        role: Role = Role.USER,
    ) -> LoggedIn:
        if create:
            await self.user(username, role=role, password=password)
        http = self.anonymous()
        response = await http.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        return LoggedIn(http=http, csrf=body["csrf_token"], user=body["user"])

    async def close(self) -> None:
        for http in self._clients:
            await http.aclose()
