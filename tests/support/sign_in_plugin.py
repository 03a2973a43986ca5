"""Sign-in providers for the tests, a plug-in like any other: register it with
``Plugins.load(settings, extra=[sign_in_plugin])`` and name its providers in
``auth_providers``. What they answer is the test's to say, on the instances the server
made (``AppState.providers``), so every answer comes through labgate's real sign-in
code, sessions and re-check loop.

- ``codes`` (:class:`CodeProvider`), a password provider: it knows every user name with
  :data:`PASSWORD`, then asks a verification code (:data:`CODE`; its section's
  ``second_factor = false`` leaves that out). It vouches for ``uid-<name>``, and re-checks
  as the test says (``answers``, by subject; holds otherwise), keeping what it was asked;
  with ``down`` set it cannot be reached.
- ``elsewhere`` (:class:`ElsewhereProvider`), a redirect provider: its "identity
  provider" sends the browser straight back to labgate's callback with the ``state`` it
  was given, and it vouches for ``redirected`` (or refuses with ``refusal``, when the test
  sets one). Signing out there goes to ``after_url?signed_out=<name>``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

from labgate.auth.providers import (
    MoreNeeded,
    Prompt,
    ProviderConfig,
    ProviderUnavailable,
    Recheck,
    Redirect,
    SignInRefused,
    Vouched,
)
from labgate.db.engine import Database
from labgate.plugins import hookimpl
from labgate.settings import Settings

PASSWORD = "university password"
CODE = "123456"
WRONG_CODE = (
    "That verification code is wrong. Start again, and type the code your authenticator "
    "app shows now."
)
REDIRECTED = "redirected"


class CodeConfig(ProviderConfig):
    second_factor: bool = True


class CodeProvider:
    """A directory with a second factor (see the module's doc)."""

    kind: ClassVar[Literal["password"]] = "password"
    name = "codes"
    label = "University account"
    Config = CodeConfig

    def __init__(self, settings: Settings, config: CodeConfig) -> None:
        self.config = config
        #: What a re-check of a subject answers (holds when not given); an exception is
        #: raised.
        self.answers: dict[str, Recheck | Exception] = {}
        #: (subject, secret) of every re-check asked.
        self.asked: list[tuple[str, bytes | None]] = []
        #: What the next sign-ins vouch, by user name, beyond the defaults.
        self.mapping: dict[str, dict[str, Any]] = {}
        #: Set by a test: the directory cannot be reached (this sentence says so).
        self.down: str | None = None
        self.cancelled = 0

    def vouched(self, username: str) -> Vouched:
        return Vouched(
            **{
                "provider": self.name,
                "subject": f"uid-{username}",
                "username": username,
                "label": f"{username}@university.example",
                "display_name": username.title(),
                "recheck_secret": f"refresh-{username}".encode(),
                **self.mapping.get(username, {}),
            }
        )

    async def authenticate(
        self, database: Database, username: str, password: str
    ) -> Vouched | MoreNeeded | None:
        if self.down:
            raise ProviderUnavailable(self.down)
        if password != PASSWORD:
            return None
        vouched = self.vouched(username)
        if not self.config.second_factor:
            return vouched

        async def answer(answers: list[str]) -> Vouched:
            if answers != [CODE]:
                raise SignInRefused(WRONG_CODE)
            return vouched

        async def cancel() -> None:
            self.cancelled += 1

        return MoreNeeded(
            prompts=[Prompt("Verification code:")],
            answer=answer,
            cancel=cancel,
            messages=["Open your authenticator app for the code of your university account."],
        )

    async def recheck(self, subject: str, secret: bytes | None) -> Recheck:
        self.asked.append((subject, secret))
        answer = self.answers.get(subject, Recheck(holds=True))
        if isinstance(answer, Exception):
            raise answer
        return answer


class ElsewhereProvider:
    """An identity provider that is always happy to send the browser back."""

    kind: ClassVar[Literal["redirect"]] = "redirect"
    name = "elsewhere"
    label = "Elsewhere"

    def __init__(self, settings: Settings) -> None:
        #: Set by a test: the sentence the provider refuses the next sign-ins with.
        self.refusal: str | None = None

    async def begin(self, callback_url: str) -> Redirect:
        state = secrets.token_urlsafe(16)
        return Redirect(url=f"{callback_url}?{urlencode({'state': state})}", flow={"state": state})

    async def finish(
        self, flow: Mapping[str, str], params: Mapping[str, str], callback_url: str
    ) -> Vouched:
        if params.get("state") != flow.get("state"):
            raise SignInRefused("The sign-in could not be verified (its state does not match).")
        if self.refusal:
            raise SignInRefused(self.refusal)
        return Vouched(
            provider=self.name, subject=REDIRECTED, username=REDIRECTED, label=self.label
        )

    async def logout_url(self, after_url: str) -> str | None:
        return f"{after_url}?{urlencode({'signed_out': self.name})}"


@hookimpl
def register_auth_providers() -> list[type[Any]]:
    return [CodeProvider, ElsewhereProvider]
