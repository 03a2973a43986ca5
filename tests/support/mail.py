"""A real SMTP server (aiosmtpd) on loopback, in a thread, for tests of labgate's e-mail:
it keeps every message it receives, to be read back with ``wait_for``."""

from __future__ import annotations

import contextlib
import email
import email.policy
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.eventually import eventually_sync
from tests.support.server import free_port


@dataclass(frozen=True)
class Mail:
    to: list[str]
    subject: str
    body: str


@dataclass
class MailServer:
    host: str
    port: int
    messages: list[Mail] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        body = parsed.get_body(preferencelist=("plain",))
        with self._lock:
            self.messages.append(
                Mail(
                    to=list(envelope.rcpt_tos),
                    subject=str(parsed["Subject"]),
                    body=body.get_content() if body is not None else "",
                )
            )
        return "250 OK"

    def wait_for(self, *, to: str) -> Mail:
        """The first message to ``to`` (waiting for it to arrive)."""

        def first() -> Mail:
            with self._lock:
                found = next((message for message in self.messages if to in message.to), None)
                assert found is not None, f"got only {self.messages}"
                return found

        return eventually_sync(first, what=f"an e-mail to {to}")


@contextlib.contextmanager
def running_mail_server() -> Iterator[MailServer]:
    server = MailServer("127.0.0.1", free_port())
    controller = Controller(server, hostname=server.host, port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
