import email
import socket
import threading

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils import _mail


class Sink(object):
    """A tiny aiosmtpd server collecting messages in memory."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages = []
        self.lock = threading.Lock()
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *args):
        self.controller.stop()


def test_send_text_and_html():
    pytest.importorskip("aiosmtpd")
    with Sink() as sink:
        message_id = _mail.send_mail(to=["a@example.org"], cc=["b@example.org"], subject="pool pv failed", text="plain body\n",
                                     html="<p>html body</p>", host="127.0.0.1", port=sink.port, sender="ds@example.org",
                                     subject_prefix="[datasync]")
    sender, recipients, content = sink.messages[0]
    assert sender == "ds@example.org" and recipients == ["a@example.org", "b@example.org"]
    message = email.message_from_bytes(content)
    assert message["Subject"] == "[datasync] pool pv failed"
    assert message["Message-ID"] == message_id
    parts = {part.get_content_type(): part.get_payload(decode=True) for part in message.walk() if not part.is_multipart()}
    assert parts["text/plain"].strip() == b"plain body"
    assert b"html body" in parts["text/html"]


def test_errors_are_mail_errors(tmp_path):
    with pytest.raises(_mail.MailError):
        _mail.send_mail(to=[], subject="s", text="t")
    with pytest.raises(_mail.MailError):
        _mail.send_mail(to=["a@example.org\nBcc: x@evil"], subject="s", text="t")
    with pytest.raises(_mail.MailError):
        _mail.send_mail(to=["a@example.org"], subject="s", text="t", host="127.0.0.1", port=1, timeout=2)


def test_credentials_file(tmp_path):
    creds = tmp_path / "smtp"
    creds.write_text("mailer:pa:ss\n")
    creds.chmod(0o640)
    with pytest.raises(_mail.MailError) as info:
        _mail.read_credentials(str(creds))
    assert "pa:ss" not in str(info.value)
    creds.chmod(0o600)
    assert _mail.read_credentials(str(creds)) == ("mailer", "pa:ss")
    creds.write_text("mailer\nsecret words\n")
    assert _mail.read_credentials(str(creds)) == ("mailer", "secret words")


def test_mail_settings():
    assert _mail.mail_settings(None) is None
    assert _mail.mail_settings({"to": []}) is None
    settings = _mail.mail_settings({"to": ["a@example.org"], "host": "smtp", "port": None, "tls": "starttls"})
    assert settings == {"to": ["a@example.org"], "host": "smtp", "tls": "starttls"}
