"""Notifications reach a real SMTP server (STARTTLS, verified certificate) and a real webhook
receiver on 127.0.0.1 as one digest, with the reasons and without any secret."""
from __future__ import annotations

import datetime as dt
import json
import tempfile
import threading
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from local_mail import Inbox, smtp_server as local_smtp_server, write_cert
from shared.config import SmtpSettings
from shared.notify import Notifier, notifier_from, redact

PASSWORD = "s3cr3t-mail-pw"
TOKEN_URL_PART = "T000/B000/XXXXwebhooktoken"


@pytest.fixture()
def smtp_server(tmp_path: Path) -> Iterator[tuple[int, Inbox, Path]]:
    with local_smtp_server(tmp_path, PASSWORD) as server:
        yield server


@pytest.fixture()
def webhook_server() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hooks/{TOKEN_URL_PART}", received
    finally:
        server.shutdown()
        server.server_close()


def smtp_config(port: int, *, password: str | None = PASSWORD, notify_to: str = "ops@example.org, oncall@example.org"):
    """`configuration.smtp` as the endpoints file gives it, read by the real loader."""
    return smtp_settings(port, password, notify_to)


def smtp_settings(port: int, password: str | None, notify_to: str) -> SmtpSettings:
    import yaml
    from shared.config.endpoints import read_endpoints_file

    folder = Path(tempfile.mkdtemp())
    (folder / "s.yaml").write_text("VARS: {v: {coords: t}}\n")
    (folder / "endpoints.yaml").write_text(yaml.safe_dump({
        "configuration": {"smtp": {"host": "127.0.0.1", "port": port, "from_email": "ingress@example.org",
                                   "username": "ingress", "notify_to": notify_to}},
        "endpoints": [{"name": "a", "endpoint": "/a", "schema_path": "s.yaml"}],
    }))
    smtp = read_endpoints_file(folder / "endpoints.yaml", None, smtp_password=password).smtp
    assert smtp is not None
    return smtp


def test_one_digest_by_mail_and_webhook_with_every_reason_and_no_secret(
    smtp_server, webhook_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, inbox, cert = smtp_server
    url, hooks = webhook_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the test server's certificate is the trust store
    environ = {"NOTIFY_WEBHOOK_URL": url, "NOTIFY_DIGEST_SECONDS": "3600"}
    notifier = notifier_from(environ, smtp_config(port), process="worker")
    assert [channel.name for channel in notifier.channels] == ["smtp", "webhook"]
    notifier.start()
    notifier.add("upload 20261201T000000_1Z of tree failed: row 3, column sap_flow: 'n/a' is not a number")
    notifier.add(f"scraper yr: https://user:{PASSWORD}@api.example.org/f?lat=1&api_key=abc123 answered 503")
    notifier.add(f"webhook {url} echoed back")
    notifier.close()  # stopping sends what is pending, once

    assert len(inbox.messages) == 1 and len(hooks) == 1
    mail = message_from_bytes(inbox.messages[0])
    assert mail["To"] == "ops@example.org, oncall@example.org"
    assert "3 problems" in mail["Subject"]
    for text in (mail.get_payload(decode=True).decode(), hooks[0]["text"]):
        assert "row 3, column sap_flow: 'n/a' is not a number" in text
        assert "answered 503" in text and "api_key=***" in text
        for secret in (PASSWORD, "abc123", TOKEN_URL_PART, url):
            assert secret not in text
    assert inbox.logins == [("ingress", PASSWORD)]


def test_a_server_whose_certificate_is_not_trusted_gets_no_mail(smtp_server, tmp_path: Path, monkeypatch) -> None:
    port, inbox, _ = smtp_server
    other, _ = write_cert(tmp_path, "someone-else")
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    notifier = notifier_from({}, smtp_config(port), process="worker")
    notifier.add("upload failed")
    assert notifier.flush() == 1  # attempted, failed, logged; never raised into the caller
    assert inbox.messages == [] and inbox.logins == []


def test_without_password_or_recipients_mail_is_off_and_adding_costs_nothing(smtp_server) -> None:
    port, inbox, _ = smtp_server
    assert not notifier_from({}, smtp_config(port, password=None), process="worker").enabled
    notifier = notifier_from({}, smtp_config(port, notify_to=""), process="worker")
    notifier.add("nobody hears this")
    assert not notifier.enabled and notifier.flush() == 0 and inbox.messages == []


def test_problems_within_one_interval_are_one_digest_not_one_message_each(webhook_server) -> None:
    url, hooks = webhook_server
    notifier = Notifier(notifier_from({"NOTIFY_WEBHOOK_URL": url}, None, process="scheduler").channels,
                        process="scheduler", digest_seconds=0.5)
    notifier.start()
    for n in range(50):
        notifier.add(f"context site={n}: 404")
    deadline = dt.datetime.now() + dt.timedelta(seconds=10)
    while not hooks and dt.datetime.now() < deadline:
        threading.Event().wait(0.1)
    notifier.close()
    assert len(hooks) == 1
    assert all(f"site={n}: 404" in hooks[0]["text"] for n in range(50))


@settings(max_examples=200, derandomize=True)
@given(
    secret=st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="@/"), min_size=3, max_size=30),
    before=st.text(max_size=40), after=st.text(max_size=40),
)
def test_redact_never_lets_a_known_secret_or_url_password_through(secret: str, before: str, after: str) -> None:
    text = f"{before}{secret}{after} https://bob:{secret}@host/p?token={secret}"
    cleaned = redact(text, [secret])
    assert secret not in cleaned
    assert "bob:" not in cleaned
