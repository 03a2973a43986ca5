"""E-mail to a session's owner (a warning before it is stopped), through the SMTP server
in the settings. Sending runs in a thread (smtplib blocks) and never fails the caller:
the workspace shows the same warning anyway."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage

from labgate.settings import Settings

log = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 20


def _send(settings: Settings, message: EmailMessage) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            smtp.login(settings.smtp_username, password)
        smtp.send_message(message)


async def send_mail(settings: Settings, to: str, subject: str, text: str) -> bool:
    """Answers whether the server took the message."""
    if not settings.smtp_host or not to:
        return False
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = " ".join(subject.split())  # one line: a header takes no breaks
    message.set_content(text)
    try:
        await asyncio.to_thread(_send, settings, message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("could not send e-mail to %s: %s", to, exc)
        return False
    return True
