"""Operator notifications: one digest per interval per process, by e-mail and/or a webhook.

Used by the worker (uploads that went to failed/, a store unreachable for long) and the
scheduler (failed runs). Problems are collected with `Notifier.add` and sent together every
`NOTIFY_DIGEST_SECONDS` (default 900): a bad logger firing every minute gives one mail per
quarter hour, never one per upload. What is pending is sent when the process stops (`close`).

Channels:
* e-mail over SMTP with STARTTLS, the server's certificate verified against the system trust
  store (`SSL_CERT_FILE` honoured, as OpenSSL does); settings from the endpoints file's
  `configuration.smtp` (`notify_to`, `host`, `port` 587, `from_email`, `username`) and the
  password only from `SMTP_PASSWORD`. Off when the password or the recipients are empty.
* a webhook (`NOTIFY_WEBHOOK_URL`): a POST of `{"text": ...}`, which Slack and Mattermost
  incoming webhooks take as they are.

No message ever carries a password, a token or a URL's credentials: every text is passed
through `redact` with the secrets this process knows before it leaves.
"""
from __future__ import annotations

import json
import logging
import re
import smtplib
import socket
import ssl
import threading
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from typing import Protocol

from shared.config import ConfigError, SmtpSettings
from shared.logs import log_event

log = logging.getLogger("shared.notify")

DEFAULT_DIGEST_SECONDS = 900.0
SEND_TIMEOUT_SECONDS = 20.0
MAX_LINES = 200  # a digest past this says how many more there were

_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")
_SECRET_QUERY = re.compile(
    r"(?P<name>[?&](?:[a-z0-9_-]*(?:token|key|secret|password|passwd|pwd|signature|sig|auth)[a-z0-9_-]*))=[^&\s#]*",
    re.IGNORECASE,
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without the given secrets, URL credentials or secret-looking query parameters."""
    for secret in sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _URL_CREDENTIALS.sub(r"\g<scheme>***@", text)
    return _SECRET_QUERY.sub(r"\g<name>=***", text)


class Channel(Protocol):
    name: str

    def send(self, subject: str, text: str) -> None: ...


@dataclass(frozen=True)
class SmtpChannel:
    host: str
    port: int
    from_email: str
    recipients: tuple[str, ...]
    username: str | None
    password: str = field(repr=False)
    name: str = "smtp"

    def send(self, subject: str, text: str) -> None:
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self.from_email
        message["To"] = ", ".join(self.recipients)
        message.set_content(text)
        # create_default_context verifies the certificate and the host name against the
        # system store; OpenSSL reads SSL_CERT_FILE / SSL_CERT_DIR when they are set.
        context = ssl.create_default_context()
        with smtplib.SMTP(self.host, self.port, timeout=SEND_TIMEOUT_SECONDS) as smtp:
            smtp.starttls(context=context)
            smtp.login(self.username or self.from_email, self.password)
            smtp.send_message(message)


@dataclass(frozen=True)
class WebhookChannel:
    url: str = field(repr=False)
    name: str = "webhook"

    def send(self, subject: str, text: str) -> None:
        body = json.dumps({"text": f"{subject}\n{text}"}).encode()
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_SECONDS) as response:
            response.read()


class Notifier:
    """Collects problems and sends them as one digest per interval to every channel."""

    def __init__(
        self,
        channels: Iterable[Channel],
        *,
        process: str,
        digest_seconds: float = DEFAULT_DIGEST_SECONDS,
        secrets: Iterable[str] = (),
    ) -> None:
        self.channels = tuple(channels)
        self.process = process
        self.digest_seconds = digest_seconds
        self._secrets = tuple(secrets)
        self._pending: list[str] = []
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.channels)

    def start(self) -> None:
        """Send a digest every `digest_seconds` from a daemon thread (only with channels)."""
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="notify-digest", daemon=True)
            self._thread.start()

    def add(self, line: str) -> None:
        if not self.enabled:
            return
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self._lock:
            self._pending.append(f"{stamp} {redact(line, self._secrets)}")

    def flush(self) -> int:
        """Send what is pending now, as one digest; returns the number of lines sent."""
        with self._send_lock:
            with self._lock:
                lines, self._pending = self._pending, []
            if not lines:
                return 0
            subject = f"zarr-fuse ingress: {len(lines)} problem{'s' if len(lines) != 1 else ''} ({self.process} on {socket.gethostname()})"
            shown = lines[:MAX_LINES]
            if len(lines) > MAX_LINES:
                shown.append(f"... and {len(lines) - MAX_LINES} more")
            text = redact("\n".join(shown) + "\n", self._secrets)
            for channel in self.channels:
                try:
                    channel.send(subject, text)
                    log_event(log, "notified", channel=channel.name, lines=len(lines))
                except Exception as error:  # a mail server down must never stop merging
                    log_event(log, "notify_failed", logging.WARNING, channel=channel.name, lines=len(lines),
                              error=redact(f"{type(error).__name__}: {error}", self._secrets))
            return len(lines)

    def close(self) -> None:
        """Stop the digest thread and send what is pending (at process stop)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.digest_seconds):
            self.flush()


def notifier_from(environ: Mapping[str, str], smtp: SmtpSettings | None, *, process: str) -> Notifier:
    """The notifier a process configures from its environment and `configuration.smtp`.

    Says once, at start, which channels are on and why mail is off when it is configured.
    """
    channels: list[Channel] = []
    password = smtp.password if smtp is not None else None
    if smtp is not None and password and smtp.notify_to and smtp.host:
        channels.append(SmtpChannel(
            host=smtp.host, port=smtp.port, from_email=smtp.from_email or smtp.username or "",
            recipients=smtp.notify_to, username=smtp.username, password=password,
        ))
    elif smtp is not None:
        missing = [name for name, value in (("SMTP_PASSWORD", password), ("configuration.smtp.notify_to", smtp.notify_to),
                                            ("configuration.smtp.host", smtp.host)) if not value]
        log_event(log, "notify_channel_off", channel="smtp", reason=f"empty: {', '.join(missing)}")
    webhook = environ.get("NOTIFY_WEBHOOK_URL", "").strip()
    if webhook:
        channels.append(WebhookChannel(webhook))
    try:
        digest = float(environ.get("NOTIFY_DIGEST_SECONDS") or DEFAULT_DIGEST_SECONDS)
    except ValueError:
        raise ConfigError(f"NOTIFY_DIGEST_SECONDS: {environ['NOTIFY_DIGEST_SECONDS']!r} is not a number of seconds") from None
    if not digest > 0:
        raise ConfigError(f"NOTIFY_DIGEST_SECONDS: {digest!r} must be above 0")
    secrets = [password or "", webhook, *(environ.get(name, "") for name in ("S3_SECRET_KEY", "ZF_S3_SECRET_KEY"))]
    names = ",".join(channel.name for channel in channels) or "none"
    log_event(log, "notify_channels", process=process, channels=names, digest_seconds=digest)
    return Notifier(channels, process=process, digest_seconds=digest, secrets=secrets)
