"""One PAM transaction in a thread of its own, its conversation relayed to asyncio.

PAM is a blocking C library that asks its questions through a callback, the
conversation: a module (pam_unix) asks "Password: ", another
(pam_google_authenticator) then "Verification code: ", and PAM waits inside the call for
each answer. So a transaction runs in a thread of its own (never in the event loop,
never in the default executor, whose threads a server's stop waits for). The first
password prompt is answered with the password from the login form; any further prompt
is *relayed*: the thread posts an :class:`Asked` to the event loop and blocks until the
person's answers come (:meth:`Transaction.answer`), the sign-in is given up
(:meth:`Transaction.cancel`: the conversation fails with ``PAM_CONV_ERR``, so the
modules give up and the thread ends) or its own deadline passes (the same). At the end
it posts an :class:`Ended` with PAM's code.

The ctypes declarations are pamela's (the PyPI package): only its types and bindings of
``pam_start``, ``pam_authenticate``, ``pam_acct_mgmt`` and ``pam_end`` are used, with a
conversation of labgate's own. Importing this module loads libpam.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import pamela

from labgate.auth.providers import Prompt

log = logging.getLogger(__name__)

#: Threads running a transaction are named with this and the user name.
THREAD_PREFIX = "labgate-pam:"

# PAM's return codes (Linux-PAM, security/_pam_types.h) that labgate tells apart.
PAM_SUCCESS = 0
PAM_PERM_DENIED = 6
PAM_AUTH_ERR = 7
PAM_CRED_INSUFFICIENT = 8
PAM_AUTHINFO_UNAVAIL = 9
PAM_USER_UNKNOWN = 10
PAM_MAXTRIES = 11
PAM_NEW_AUTHTOK_REQD = 12
PAM_ACCT_EXPIRED = 13
PAM_CONV_ERR = 19
PAM_AUTHTOK_EXPIRED = 27

#: pam_authenticate/pam_acct_mgmt flag: an account with an empty password is refused.
PAM_DISALLOW_NULL_AUTHTOK = 0x0001

_ECHO_OFF = pamela.PAM_PROMPT_ECHO_OFF
_ECHO_ON = pamela.PAM_PROMPT_ECHO_ON
_SAID = (pamela.PAM_ERROR_MSG, pamela.PAM_TEXT_INFO)


@dataclass(frozen=True)
class Asked:
    """Prompts PAM asks that need a person's answers, with what it said before them."""

    prompts: list[Prompt]
    messages: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Ended:
    """How a transaction ended: PAM's ``code`` (0: success), from which call, PAM's
    words for it, and whether prompts had been relayed to the person before."""

    stage: Literal["start", "authenticate", "account"]
    code: int
    reason: str = ""
    relayed: bool = False


class Transaction:
    """One sign-in's PAM transaction (authenticate, then the account's checks) in a
    thread; made and driven from the event loop."""

    def __init__(self, service: str, username: str, password: str, *, wait_seconds: float):
        self._service = service
        self._username = username
        self._password: str | None = password
        self._wait_seconds = wait_seconds
        self._loop = asyncio.get_running_loop()
        self._events: asyncio.Queue[Asked | Ended] = asyncio.Queue()
        self._answers: queue.SimpleQueue[list[str] | None] = queue.SimpleQueue()
        self._cancelled = threading.Event()
        self._said: list[str] = []
        self._relayed = False
        # Kept here for the thread's life: PAM holds a pointer to it.
        self._conversation = pamela.CONV_FUNC(self._converse)
        self._thread = threading.Thread(
            target=self._run, name=THREAD_PREFIX + username, daemon=True
        )
        self.ended: Ended | None = None

    def start(self) -> None:
        self._thread.start()

    async def next_event(self) -> Asked | Ended:
        """What the transaction asks next, or how it ended."""
        event = await self._events.get()
        if isinstance(event, Ended):
            self.ended = event
        return event

    def answer(self, answers: list[str]) -> None:
        """The person's answers to the last :class:`Asked`, in order."""
        self._answers.put(list(answers))

    def cancel(self) -> None:
        """Make the conversation fail from now on, so that PAM gives up and the thread
        ends; it posts its :class:`Ended` as always."""
        self._cancelled.set()
        self._answers.put(None)

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    # -- in the thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            ended = run(self._service, self._username, self._conversation, authenticate=True)
        except Exception:  # never leave the event loop waiting
            log.exception("The PAM transaction for %s failed", self._username)
            ended = Ended("start", -1, "labgate's PAM binding failed")
        self._password = None
        self._post(Ended(ended.stage, ended.code, ended.reason, self._relayed))

    def _post(self, event: Asked | Ended) -> None:
        # When the loop has closed, nobody waits any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._events.put_nowait, event)

    def _converse(self, count: int, messages: Any, responses: Any, _data: Any) -> int:
        # An exception escaping a ctypes callback would return 0 (success) to PAM with
        # no responses written: fail the conversation instead.
        try:
            return self._answer_all(count, messages, responses)
        except Exception:
            log.exception("PAM's conversation for %s failed", self._username)
            return PAM_CONV_ERR

    def _answer_all(self, count: int, messages: Any, responses: Any) -> int:
        replies: dict[int, str] = {}
        asked: list[tuple[int, Prompt]] = []
        for index in range(count):
            message = messages[index].contents
            style = int(message.msg_style)
            raw = ctypes.cast(message.msg, ctypes.c_char_p).value or b""
            text = raw.decode("utf-8", "replace").strip()
            if style in _SAID:
                if text:
                    self._said.append(text)
            elif style == _ECHO_OFF and self._password is not None:
                replies[index], self._password = self._password, None
            elif style in (_ECHO_OFF, _ECHO_ON):
                asked.append((index, Prompt(text, echo=style == _ECHO_ON)))
            else:  # a binary prompt: nothing a login page could answer
                return PAM_CONV_ERR
        if asked:
            answers = self._ask([prompt for _index, prompt in asked])
            if answers is None:
                return PAM_CONV_ERR
            replies.update(zip((index for index, _prompt in asked), answers, strict=True))
        return _respond(count, replies, responses)

    def _ask(self, prompts: list[Prompt]) -> list[str] | None:
        """Relay ``prompts`` and wait for the answers (None: given up, or too late)."""
        if self._cancelled.is_set():
            return None
        self._relayed = True
        said, self._said = self._said, []
        self._post(Asked(prompts, said))
        try:
            answers = self._answers.get(timeout=self._wait_seconds)
        except queue.Empty:
            log.info("Nobody answered PAM's prompts for %s in time", self._username)
            self._cancelled.set()
            return None
        if answers is None or self._cancelled.is_set() or len(answers) != len(prompts):
            return None
        return answers


def _respond(count: int, replies: dict[int, str], responses: Any) -> int:
    """Write the replies where PAM reads them: an array from calloc and a strdup'ed
    string for each answer (PAM frees both)."""
    encoded = {index: text.encode("utf-8") for index, text in replies.items()}
    if any(b"\0" in value for value in encoded.values()):
        return PAM_CONV_ERR
    array = pamela.CALLOC(count, ctypes.sizeof(pamela.PamResponse))
    if not array:
        return PAM_CONV_ERR
    responses[0] = ctypes.cast(array, ctypes.POINTER(pamela.PamResponse))
    for index, value in encoded.items():
        responses.contents[index].resp = pamela.STRDUP(value)
        responses.contents[index].resp_retcode = 0
    return PAM_SUCCESS


def run(service: str, username: str, conversation: Any, *, authenticate: bool) -> Ended:
    """A whole PAM transaction, blocking: pam_start, pam_authenticate (when
    ``authenticate``), pam_acct_mgmt when that succeeded, pam_end."""
    handle = pamela.PamHandle()
    conv = pamela.PamConv(conversation, 0)
    code = int(
        pamela.PAM_START(
            service.encode(), username.encode(), ctypes.pointer(conv), ctypes.pointer(handle)
        )
    )
    if code != PAM_SUCCESS:
        return Ended("start", code, _strerror(handle, code))
    stage: Literal["authenticate", "account"] = "authenticate"
    try:
        if authenticate:
            code = int(pamela.PAM_AUTHENTICATE(handle, PAM_DISALLOW_NULL_AUTHTOK))
        if code == PAM_SUCCESS:
            stage = "account"
            code = int(pamela.PAM_ACCT_MGMT(handle, PAM_DISALLOW_NULL_AUTHTOK))
        return Ended(stage, code, _strerror(handle, code))
    finally:
        pamela.PAM_END(handle, code)


def _strerror(handle: Any, code: int) -> str:
    words = pamela.PAM_STRERROR(handle, code)
    return words.decode("utf-8", "replace") if isinstance(words, bytes) else f"PAM error {code}"


def _no_questions(count: int, messages: Any, responses: Any, _data: Any) -> int:
    """The conversation of a check without a person: what PAM says is ignored, a
    question fails the conversation."""
    for index in range(count):
        if int(messages[index].contents.msg_style) not in _SAID:
            return PAM_CONV_ERR
    return _respond(count, {}, responses)


_NO_QUESTIONS = pamela.CONV_FUNC(_no_questions)


def check_account(service: str, username: str) -> Ended:
    """pam_acct_mgmt alone for ``username`` (no password: root may ask), blocking."""
    return run(service, username, _NO_QUESTIONS, authenticate=False)
