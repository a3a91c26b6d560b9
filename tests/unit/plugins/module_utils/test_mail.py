import email
import socket
import threading

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._core import mail as _mail


class Sink:
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
                                     html="<p>html body</p>", server=_mail.SmtpServer(host="127.0.0.1", port=sink.port), sender="ds@example.org",
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
        _mail.send_mail(to=["a@example.org"], subject="s", text="t", server=_mail.SmtpServer(host="127.0.0.1", port=1, timeout=2))


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
    settings = _mail.mail_settings({"to": ["a@example.org"], "host": "smtp", "port": None, "tls": "starttls", "sender": None,
                                    "subject_prefix": "[ds]", "when": "ended"})
    assert settings == {"to": ["a@example.org"], "server": _mail.SmtpServer(host="smtp", tls="starttls"), "subject_prefix": "[ds]"}
    assert _mail.SmtpServer.from_options({"host": None, "port": 2525, "timeout": 5}) == _mail.SmtpServer(port=2525, timeout=5)


class FakeSMTP:
    """Stands in for smtplib.SMTP: records what the sender did."""

    calls = []

    def __init__(self, host, port, timeout=None):
        FakeSMTP.calls.append(("connect", host, port))

    def ehlo(self):
        FakeSMTP.calls.append(("ehlo",))

    def starttls(self, context=None):
        FakeSMTP.calls.append(("starttls", context))

    def login(self, user, password):
        FakeSMTP.calls.append(("login", user))

    def send_message(self, message, from_addr=None, to_addrs=None):
        FakeSMTP.calls.append(("send", list(to_addrs)))
        return {}

    def quit(self):
        FakeSMTP.calls.append(("quit",))


@pytest.fixture
def fake_smtp(monkeypatch):
    import smtplib

    FakeSMTP.calls = []
    monkeypatch.setattr(smtplib, "SMTP", FakeSMTP)
    return FakeSMTP


@pytest.fixture
def creds(tmp_path):
    path = tmp_path / "smtp.credentials"
    path.write_text("mailer:s3cret-words\n")
    path.chmod(0o600)
    return str(path)


@pytest.mark.parametrize("tls, starttls", [(None, False), ("none", False), ("none", True)])
def test_plain_login_to_remote_server_is_refused(fake_smtp, creds, tls, starttls):
    with pytest.raises(_mail.MailError) as info:
        _mail.send_mail(to=["a@example.org"], subject="s", text="t",
                        server=_mail.SmtpServer(host="smtp.example.org", tls=tls, starttls=starttls, credentials_file=creds))
    assert "in clear" in str(info.value) and "smtp.example.org:25" in str(info.value)
    assert "s3cret" not in str(info.value)
    assert fake_smtp.calls == []          # refused before connecting


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.0.0.53", "::1", "[::1]", "LOCALHOST."])
def test_plain_login_to_loopback_is_allowed(fake_smtp, creds, host):
    _mail.send_mail(to=["a@example.org"], subject="s", text="t", server=_mail.SmtpServer(host=host, port=2525, credentials_file=creds))
    assert ("login", "mailer") in fake_smtp.calls
    assert ("send", ["a@example.org"]) in fake_smtp.calls


def test_plain_without_login_and_tls_with_login_are_allowed(fake_smtp, creds):
    _mail.send_mail(to=["a@example.org"], subject="s", text="t", server=_mail.SmtpServer(host="smtp.example.org"))
    assert not [call for call in fake_smtp.calls if call[0] == "login"]
    fake_smtp.calls = []
    _mail.send_mail(to=["a@example.org"], subject="s", text="t",
                    server=_mail.SmtpServer(host="smtp.example.org", port=587, tls="starttls", credentials_file=creds))
    names = [call[0] for call in fake_smtp.calls]
    assert names.index("starttls") < names.index("login")


def test_is_loopback():
    assert _mail.is_loopback("localhost") and _mail.is_loopback("127.0.0.1") and _mail.is_loopback("::1")
    assert not _mail.is_loopback("smtp.example.org") and not _mail.is_loopback("10.0.0.1")
    assert not _mail.is_loopback("localhost.example.org") and not _mail.is_loopback(None)


def test_tls_context_verifies_by_default(fake_smtp, monkeypatch, tmp_path):
    import ssl

    seen = []
    real = ssl.create_default_context

    def spy(*args, **kwargs):
        seen.append(kwargs.get("cafile"))
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", spy)
    _mail.send_mail(to=["a@example.org"], subject="s", text="t", server=_mail.SmtpServer(host="smtp.example.org", starttls=True))
    context = [call[1] for call in fake_smtp.calls if call[0] == "starttls"][0]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert seen == [None]


def _self_signed(tmp_path):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def test_starttls_certificate_is_verified(tmp_path):
    pytest.importorskip("aiosmtpd")
    pytest.importorskip("cryptography")
    import ssl

    cert_file, key_file = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    sink = Sink()
    sink.controller.SMTP_kwargs = {"tls_context": server_context, "require_starttls": True}
    with sink:
        with pytest.raises(_mail.MailError) as info:
            _mail.send_mail(to=["a@example.org"], subject="s", text="t",
                            server=_mail.SmtpServer(host="127.0.0.1", port=sink.port, tls="starttls", timeout=10))
        assert "CERTIFICATE_VERIFY_FAILED" in str(info.value) or "certificate verify failed" in str(info.value)
        _mail.send_mail(to=["a@example.org"], subject="trusted", text="t",
                        server=_mail.SmtpServer(host="127.0.0.1", port=sink.port, tls="starttls", ca_bundle=cert_file, timeout=10))
    assert len(sink.messages) == 1


def test_mail_argument_spec():
    spec = _mail.mail_argument_spec(required=True, extra={"when": {"type": "str"}})["mail"]
    assert spec["type"] == "dict" and spec["required"] is True
    assert set(spec["options"]) == {"to", "sender", "subject_prefix", "host", "port", "tls", "starttls",
                                    "credentials_file", "ca_bundle", "timeout", "when"}
    spec["options"]["host"]["default"] = "changed"
    assert _mail.MAIL_OPTIONS["host"]["default"] == "localhost"     # each call is a fresh copy
    assert "required" not in _mail.mail_argument_spec()["mail"]
    assert set(_mail.smtp_options(body={"type": "str"})) == set(_mail.SMTP_OPTIONS) | {"body"}
