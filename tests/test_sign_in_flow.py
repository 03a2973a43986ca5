"""The sign-in machinery every provider shares (labgate.api.auth,
labgate.auth.providers, labgate.auth.login_steps): providers' settings sections, a
password provider that asks a further prompt, and a redirect provider's round trip with
its state kept in a sealed cookie, through the real app with a plug-in's providers.

The providers of PAM, LDAP and OpenID Connect are tested against real servers in their
own files; these two are a plug-in's, written as any plug-in would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select, update

from labgate.api.auth import SIGN_IN_COOKIE
from labgate.app import create_app
from labgate.auth.providers import (
    MoreNeeded,
    Prompt,
    ProviderConfig,
    Redirect,
    SignInRefused,
    Vouched,
    load_providers,
    mapped_role,
)
from labgate.db.engine import Database
from labgate.db.models import (
    AuditEvent,
    Experiment,
    ExperimentMember,
    LoginSession,
    Role,
    User,
    UserIdentity,
)
from labgate.errors import ConfigurationError
from labgate.plugins import hookimpl
from labgate.plugins.manager import Plugins
from labgate.settings import Settings
from tests.support.local_accounts import map_local_to_root

CODE = "424242"


class StepConfig(ProviderConfig):
    code: str = CODE


class SteppingProvider:
    """Knows 'ada' with 'right password', then asks for a code, as PAM's second factor
    would; remembers what was cancelled."""

    kind: ClassVar[Literal["password"]] = "password"
    name = "stepping"
    label = "Stepping account"
    Config = StepConfig
    cancelled: ClassVar[list[str]] = []

    def __init__(self, settings: Settings, config: StepConfig) -> None:
        self.config = config

    async def authenticate(
        self, database: Database, username: str, password: str
    ) -> MoreNeeded | None:
        if (username, password) != ("ada", "right password"):
            return None

        async def answer(answers: list[str]) -> Vouched | MoreNeeded | None:
            if answers != [self.config.code]:
                raise SignInRefused("The verification code is wrong. Start again.")
            return Vouched(
                provider=self.name,
                subject="ada-at-stepping",
                username="ada",
                label="ada",
                display_name="Ada L.",
                role=Role.STAFF,
                groups=frozenset({"analysts"}),
                managed_groups=frozenset({"analysts", "former"}),
            )

        async def cancel() -> None:
            self.cancelled.append(username)

        return MoreNeeded(
            prompts=[Prompt("Verification code: ", echo=True)],
            answer=answer,
            cancel=cancel,
            messages=["Your password expires in 3 days."],
        )


class BouncingProvider:
    """An identity provider that is labgate itself: it sends the browser straight back
    to the callback with the state it was given (and whoever ``who`` names)."""

    kind: ClassVar[Literal["redirect"]] = "redirect"
    name = "bouncing"
    label = "Bouncing ID"

    def __init__(self, settings: Settings) -> None:
        pass

    async def begin(self, callback_url: str) -> Redirect:
        return Redirect(f"{callback_url}?state=s-1&who=grace", {"state": "s-1"})

    async def finish(
        self, flow: Mapping[str, str], params: Mapping[str, str], callback_url: str
    ) -> Vouched:
        if params.get("state") != flow["state"]:
            raise SignInRefused("The sign-in could not be verified (its state does not match).")
        who = params.get("who", "")
        return Vouched(provider=self.name, subject=f"sub-{who}", username=who, label=who)

    async def logout_url(self, after_url: str) -> str | None:
        return f"https://id.example.org/logout?after={after_url}"


class SignInPlugin:
    @hookimpl
    def register_auth_providers(self) -> list[type[Any]]:
        return [SteppingProvider, BouncingProvider]


@contextlib.asynccontextmanager
async def signing_in(
    settings: Settings, database: Database, *, https: bool = False
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with the plug-in's providers (over HTTPS with ``https``)."""
    configured = settings.model_copy(
        update={
            "auth_providers": ["local", "stepping", "bouncing"],
            "login_step_seconds": 10,
            "secure_cookies": https,
        }
    )
    plugins = Plugins.load(configured, extra=[SignInPlugin()], entry_points=False)
    app = create_app(configured, database=database, bootstrap=False, plugins=plugins)
    async with app.router.lifespan_context(app):
        await map_local_to_root(database)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        base_url = "https://testserver" if https else "http://testserver"
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as c:
            c.app = app  # type: ignore[attr-defined]
            yield c


@pytest.fixture
async def client(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with signing_in(settings, database) as c:
        yield c


async def test_info_lists_each_provider_with_its_kind(client: httpx.AsyncClient) -> None:
    providers = (await client.get("/api/v1/info")).json()["auth_providers"]
    assert [(p["name"], p["kind"]) for p in providers] == [
        ("local", "password"),
        ("stepping", "password"),
        ("bouncing", "redirect"),
    ]


async def test_a_second_factor_is_asked_then_the_account_is_made_by_the_mapping(
    client: httpx.AsyncClient, database: Database
) -> None:
    first = await client.post(
        "/api/v1/auth/login", json={"username": "Ada", "password": "right password"}
    )
    assert first.status_code == 200
    step = first.json()
    assert step["prompts"] == [{"text": "Verification code: ", "echo": True}]
    assert step["messages"] == ["Your password expires in 3 days."]
    assert step["provider"] == "stepping"
    assert "labgate_session" not in first.cookies

    done = await client.post(
        "/api/v1/auth/login/step", json={"step": step["step"], "answers": [CODE]}
    )
    assert done.status_code == 200, done.text
    assert done.json()["user"]["username"] == "ada"
    assert (await client.get("/api/v1/auth/session")).json()["user"]["username"] == "ada"
    async with database.read() as db:
        user = await db.scalar(select(User).where(User.username == "ada"))
        assert user is not None
        assert (user.role, user.display_name, user.auth_provider) == ("staff", "Ada L.", "stepping")
        identity = await db.scalar(select(UserIdentity).where(UserIdentity.user_id == user.id))
        assert identity is not None
        assert identity.subject == "ada-at-stepping"
        session = await db.scalar(select(LoginSession).where(LoginSession.user_id == user.id))
        assert session is not None
        assert session.identity_id == identity.id
    # The same step cannot be answered twice.
    again = await client.post(
        "/api/v1/auth/login/step", json={"step": step["step"], "answers": [CODE]}
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "login_step_expired"


async def test_a_wrong_code_is_said_and_counts_as_a_failed_login(client: httpx.AsyncClient) -> None:
    step = (
        await client.post(
            "/api/v1/auth/login", json={"username": "ada", "password": "right password"}
        )
    ).json()
    wrong = await client.post(
        "/api/v1/auth/login/step", json={"step": step["step"], "answers": ["1"]}
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == {
        "code": "sign_in_refused",
        "message": "The verification code is wrong. Start again.",
    }
    assert (await client.get("/api/v1/auth/session")).status_code == 401


async def test_answers_that_do_not_fit_the_prompts_end_the_attempt(
    client: httpx.AsyncClient,
) -> None:
    SteppingProvider.cancelled.clear()
    step = (
        await client.post(
            "/api/v1/auth/login", json={"username": "ada", "password": "right password"}
        )
    ).json()
    bad = await client.post(
        "/api/v1/auth/login/step", json={"step": step["step"], "answers": [CODE, CODE]}
    )
    assert bad.status_code == 422
    assert "1 answers were asked for, 2 came" in bad.json()["error"]["message"]
    assert SteppingProvider.cancelled == ["ada"]


async def test_a_step_left_unanswered_is_cancelled(client: httpx.AsyncClient) -> None:
    SteppingProvider.cancelled.clear()
    state = client.app.state.labgate  # type: ignore[attr-defined]
    state.login_steps.seconds = 0.0
    await client.post("/api/v1/auth/login", json={"username": "ada", "password": "right password"})
    assert len(state.login_steps) == 1
    await asyncio.sleep(0.01)
    assert state.login_steps.expire() == 1
    await asyncio.sleep(0)  # the cancellation runs as a task
    await asyncio.sleep(0)
    assert SteppingProvider.cancelled == ["ada"]
    assert len(state.login_steps) == 0


async def test_wrong_credentials_read_the_same_whichever_provider_was_asked(
    client: httpx.AsyncClient,
) -> None:
    for username, password in (("ada", "wrong"), ("nobody", "right password")):
        answer = await client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert answer.status_code == 401
        assert answer.json()["error"]["message"] == "Wrong user name or password."


async def test_a_redirect_sign_in_comes_back_signed_in_at_the_page_asked_for(
    client: httpx.AsyncClient, database: Database
) -> None:
    went = await client.get("/api/v1/auth/providers/bouncing/login", params={"next": "/workspace"})
    assert went.status_code == 303
    assert SIGN_IN_COOKIE in went.cookies
    back = await client.get(went.headers["location"])
    assert back.status_code == 303, back.text
    assert back.headers["location"] == "/workspace"
    assert (await client.get("/api/v1/auth/session")).json()["user"]["username"] == "grace"
    # Logging out says where to sign out at the provider too.
    session = (await client.get("/api/v1/auth/session")).json()
    out = await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": session["csrf_token"]})
    assert out.status_code == 200
    assert out.json() == {
        "logout_url": "https://id.example.org/logout?after=http://testserver/login"
    }


@pytest.mark.parametrize("where", ["//evil.example.org/x", "https://evil.example.org/", "\\\\x"])
async def test_a_redirect_sign_in_never_sends_the_browser_to_another_site(
    client: httpx.AsyncClient, where: str
) -> None:
    went = await client.get("/api/v1/auth/providers/bouncing/login", params={"next": where})
    back = await client.get(went.headers["location"])
    assert back.headers["location"] == "/"


async def test_a_callback_without_this_browsers_sign_in_is_refused_and_said(
    client: httpx.AsyncClient,
) -> None:
    went = await client.get("/api/v1/auth/providers/bouncing/login")
    callback = went.headers["location"]
    client.cookies.clear()  # another browser follows the link
    back = await client.get(callback)
    assert back.status_code == 303
    assert back.headers["location"] == "/login?sign_in=failed"
    said = await client.get("/api/v1/auth/sign-in-error")
    assert "did not begin in this browser" in said.json()["error"]
    # Read once.
    assert (await client.get("/api/v1/auth/sign-in-error")).json() == {"error": None}
    assert (await client.get("/api/v1/auth/session")).status_code == 401


async def test_a_tampered_state_or_cookie_is_refused(client: httpx.AsyncClient) -> None:
    went = await client.get("/api/v1/auth/providers/bouncing/login")
    parts = urlsplit(went.headers["location"])
    query = parse_qs(parts.query)
    tampered = f"{parts.path}?state=s-2&who={query['who'][0]}"
    back = await client.get(tampered)
    assert back.headers["location"] == "/login?sign_in=failed"
    assert (
        "state does not match" in (await client.get("/api/v1/auth/sign-in-error")).json()["error"]
    )

    went = await client.get("/api/v1/auth/providers/bouncing/login")
    sealed = went.cookies[SIGN_IN_COOKIE]
    client.cookies.set(SIGN_IN_COOKIE, sealed[:-4] + "AAAA", path="/api/v1/auth/")
    back = await client.get(went.headers["location"])
    assert back.headers["location"] == "/login?sign_in=failed"
    assert (await client.get("/api/v1/auth/session")).status_code == 401


async def test_a_name_taken_by_another_account_is_not_taken_over(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    from labgate.accounts.users import create_user

    async with database.session() as db:
        await create_user(db, settings, username="grace", password="grace's own password")
    went = await client.get("/api/v1/auth/providers/bouncing/login")
    back = await client.get(went.headers["location"])
    assert back.headers["location"] == "/login?sign_in=failed"
    said = (await client.get("/api/v1/auth/sign-in-error")).json()["error"]
    assert said == (
        "A labgate account named 'grace' already exists and is not linked to your sign-in "
        "with Bouncing ID. Ask an administrator to link them."
    )
    async with database.read() as db:
        assert await db.scalar(select(UserIdentity.id)) is None


async def test_a_password_provider_has_no_redirect(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/v1/auth/providers/stepping/login")
    assert answer.status_code == 404
    assert (await client.get("/api/v1/auth/providers/nobody/callback")).status_code == 404


def test_provider_sections_are_checked_at_start(settings: Settings) -> None:
    plugins = Plugins.load(settings, extra=[SignInPlugin()], entry_points=False)

    def load(**update: Any) -> list[Any]:
        return load_providers(settings.model_copy(update=update), plugins)

    two = load(
        auth_providers=["local", "second"],
        auth={"second": {"kind": "bouncing", "label": "Second ID"}},
    )
    assert [(p.name, p.label) for p in two] == [
        ("local", "labgate account"),
        ("second", "Second ID"),
    ]
    configured = load(auth_providers=["stepping"], auth={"stepping": {"code": "7"}})
    assert configured[0].config.code == "7"
    with pytest.raises(ConfigurationError, match=r"auth\.stepping\.cod: Extra inputs"):
        load(auth_providers=["stepping"], auth={"stepping": {"cod": "7"}})
    with pytest.raises(ConfigurationError, match=r"auth\.ldap: no provider of that name"):
        load(auth_providers=["local"], auth={"ldap": {}})
    with pytest.raises(ConfigurationError, match=r"'nosuch' \(auth\.x\.kind\)"):
        load(auth_providers=["x"], auth={"x": {"kind": "nosuch"}})
    with pytest.raises(
        ConfigurationError, match=r"auth\.local: the provider 'local' has no settings"
    ):
        load(auth_providers=["local"], auth={"local": {"url": "x"}})


@pytest.mark.parametrize(
    ("who", "said"),
    [
        # An OS account of this machine: on local its files would be theirs.
        ("root", "The server has an account named 'root' that Bouncing ID does not vouch for."),
        ("guest-k7qm4", "Names beginning with 'guest-' are kept for guests."),
        # The Kelvin sign lower-cases to an ASCII 'k': two names at the provider, one here.
        ("\u212aevin", "Bouncing ID names you '\u212aevin', which cannot be a labgate user name"),
    ],
)
async def test_a_first_sign_in_never_takes_a_name_that_is_not_free(
    client: httpx.AsyncClient, database: Database, who: str, said: str
) -> None:
    went = await client.get("/api/v1/auth/providers/bouncing/login")
    callback = went.headers["location"].split("?")[0]
    back = await client.get(callback, params={"state": "s-1", "who": who})
    assert back.headers["location"] == "/login?sign_in=failed"
    message = (await client.get("/api/v1/auth/sign-in-error")).json()["error"]
    assert message.startswith(said)
    assert message.endswith(
        "Ask an administrator to create your account and link your sign-in to it."
    )
    async with database.read() as db:
        assert await db.scalar(select(UserIdentity.id)) is None
        assert await db.scalar(select(User.id).where(User.username != "admin")) is None


async def test_a_name_an_experiment_waits_for_is_not_given_to_whoever_comes_first(
    client: httpx.AsyncClient, database: Database
) -> None:
    async with database.session() as db:
        experiment = Experiment(code="12-34", title="Beamtime", instrument="", source="console")
        db.add(experiment)
        await db.flush()
        db.add(ExperimentMember(experiment_id=experiment.id, username="kate", role="pi"))
    went = await client.get("/api/v1/auth/providers/bouncing/login")
    callback = went.headers["location"].split("?")[0]
    back = await client.get(callback, params={"state": "s-1", "who": "kate"})
    assert back.headers["location"] == "/login?sign_in=failed"
    message = (await client.get("/api/v1/auth/sign-in-error")).json()["error"]
    assert message.startswith(
        "An experiment names a member 'kate' whom Bouncing ID does not vouch for."
    )


async def test_over_https_the_sign_in_cookie_cannot_be_planted_by_a_sibling_origin(
    settings: Settings, database: Database
) -> None:
    async with signing_in(settings, database, https=True) as client:
        went = await client.get("/api/v1/auth/providers/bouncing/login")
        cookie = went.headers["set-cookie"]
        # __Host-: Secure, Path=/ and no Domain, so no other host can set one.
        assert cookie.startswith("__Host-labgate_sign_in=")
        assert "Path=/;" in cookie
        assert "secure" in cookie.lower()
        assert "domain" not in cookie.lower()
        # A cookie of the plain name (which a sibling origin could plant) is not read.
        sealed = went.cookies["__Host-labgate_sign_in"]
        client.cookies.clear()
        client.cookies.set(SIGN_IN_COOKIE, sealed, path="/api/v1/auth/")
        back = await client.get(went.headers["location"])
        assert back.headers["location"] == "/login?sign_in=failed"
        # The genuine one signs in.
        client.cookies.clear()
        client.cookies.set("__Host-labgate_sign_in", sealed, path="/")
        back = await client.get(went.headers["location"])
        assert back.headers["location"] == "/"
        assert (await client.get("/api/v1/auth/session")).json()["user"]["username"] == "grace"


async def test_a_sign_in_that_cannot_wait_ends_its_conversation(
    client: httpx.AsyncClient,
) -> None:
    SteppingProvider.cancelled.clear()
    state = client.app.state.labgate  # type: ignore[attr-defined]
    state.login_steps.most = 0
    answer = await client.post(
        "/api/v1/auth/login", json={"username": "ada", "password": "right password"}
    )
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "too_many_sign_ins"
    assert SteppingProvider.cancelled == ["ada"]


async def test_the_mapping_never_demotes_the_last_administrator(
    client: httpx.AsyncClient, database: Database
) -> None:
    async def sign_in() -> None:
        step = (
            await client.post(
                "/api/v1/auth/login", json={"username": "ada", "password": "right password"}
            )
        ).json()
        done = await client.post(
            "/api/v1/auth/login/step", json={"step": step["step"], "answers": [CODE]}
        )
        assert done.status_code == 200, done.text

    await sign_in()
    async with database.session() as db:
        await db.execute(update(User).where(User.username == "ada").values(role="admin"))
    # The mapping says staff, but ada is the only administrator: she stays one.
    await sign_in()
    async with database.read() as db:
        assert await db.scalar(select(User.role).where(User.username == "ada")) == "admin"
        skipped = await db.scalar(
            select(AuditEvent.detail).where(AuditEvent.event == "role_mapping_skipped")
        )
    assert skipped is not None
    assert skipped["reason"] == "last administrator"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"step": "", "answers": []}, "body.step"),
        ({"step": "s" * 101, "answers": []}, "body.step"),
        ({"step": "s", "answers": ["1"] * 9}, "body.answers"),
        ({"step": "s", "answers": [123456]}, "body.answers.0"),
        ({"step": "s"}, "body.answers"),
        ({"answers": []}, "body.step"),
        ({"step": "s", "answers": [], "username": "ada"}, "body.username"),
    ],
)
async def test_a_step_answered_with_bad_values_is_422(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    answer = await client.post("/api/v1/auth/login/step", json=body)
    assert answer.status_code == 422, answer.text
    assert [d["field"] for d in answer.json()["error"]["details"]] == [field]


def test_the_mapping_s_role_is_the_highest_given_and_user_when_none_is() -> None:
    assert mapped_role(False, [Role.ADMIN]) is None
    assert mapped_role(True, []) is Role.USER
    assert mapped_role(True, [Role.STAFF, Role.ADMIN, Role.GUEST]) is Role.ADMIN
