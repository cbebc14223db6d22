"""Outgoing mail behind one small interface, so a service's code never knows how it
leaves: :class:`FileSender` (the default: one RFC 5322 ``.eml`` file per message in a
folder, for local runs and tests) or :class:`SmtpSender` (any SMTP server).

``send`` returns on acceptance; it raises :class:`Bounced` when the server refuses
the message for good (a 5xx answer: unknown mailbox, rejected sender) and any other
exception when a later attempt may succeed (connection refused, 4xx, timeout).
"""

from __future__ import annotations

import asyncio
import os
import smtplib
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

from isles.core.settings import IslesSettings


class Bounced(Exception):
    """The receiving side refused the message for good: do not try again."""


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    message_id: str = ""  # stable across retries, so a receiver can drop a duplicate


class Sender(Protocol):
    name: str

    async def send(self, mail: Mail) -> str:
        """Hand ``mail`` over; returns a short note for the delivery log."""
        ...


def _text(reason: bytes | str) -> str:
    return reason.decode(errors="replace") if isinstance(reason, bytes) else reason


def _message(mail: Mail, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = mail.message_id or make_msgid(domain="isles.local")
    msg.set_content(mail.body)
    return msg


class FileSender:
    """Writes each message to ``<folder>/<message id>.eml`` (atomically: a reader never
    sees half a message; a retry of the same message overwrites, never duplicates)."""

    name = "file"

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self._from = sender

    async def send(self, mail: Mail) -> str:
        msg = _message(mail, self._from)
        name = "".join(c for c in (mail.message_id or str(uuid.uuid4())) if c.isalnum() or c in "-.")
        target = self.folder / f"{name}.eml"

        def write() -> None:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(bytes(msg))
            os.replace(tmp, target)

        await asyncio.to_thread(write)
        return f"written to {target.name}"


class SmtpSender:
    """Sends over SMTP (stdlib ``smtplib`` in a worker thread), one connection per message."""

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self._from = host, port, sender
        self._starttls, self._username, self._password, self._timeout = starttls, username, password, timeout

    async def send(self, mail: Mail) -> str:
        msg = _message(mail, self._from)

        def deliver() -> str:
            with smtplib.SMTP(self.host, self.port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls()
                if self._username:
                    smtp.login(self._username, self._password or "")
                try:
                    refused = smtp.send_message(msg)
                except smtplib.SMTPRecipientsRefused as exc:
                    code, reason = next(iter(exc.recipients.values()))
                    if 500 <= code < 600:
                        raise Bounced(f"{code} {_text(reason)}") from exc
                    raise
                except smtplib.SMTPResponseException as exc:
                    if 500 <= exc.smtp_code < 600:
                        raise Bounced(f"{exc.smtp_code} {_text(exc.smtp_error)}") from exc
                    raise
                if refused:
                    raise Bounced(f"refused: {refused}")
            return f"accepted by {self.host}:{self.port}"

        return await asyncio.to_thread(deliver)


def sender_from(settings: IslesSettings) -> Sender:
    if settings.mail.sender == "smtp":
        return SmtpSender(
            settings.smtp.host,
            settings.smtp.port,
            settings.mail.from_,
            starttls=settings.smtp.starttls,
            username=settings.smtp.username,
            password=settings.smtp.password,
            timeout=settings.smtp.timeout,
        )
    return FileSender(settings.mail.dir or settings.data_dir / "mail", settings.mail.from_)
