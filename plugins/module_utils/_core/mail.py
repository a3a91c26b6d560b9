# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small SMTP sender. Private to sciops.datasync: not a public API.

Usage (everything but ``to``, ``subject`` and ``text`` is optional)::

    from ..module_utils._core.mail import MailError, SmtpServer, send_mail

    try:
        message_id = send_mail(
            to=["ops@example.org"], subject="pool pv: rsync error 5", text="plain body",
            html="<p>optional html alternative</p>",
            server=SmtpServer(host="smtp.example.org", port=587, starttls=True,
                              credentials_file="/etc/datasync/smtp.credentials"),  # 'user:password' or user NL password
            sender="datasync@mirror1.example.org",              # default datasync@<fqdn>
        )
    except MailError as exc:          # every failure (connect, TLS, auth, refused) is a MailError
        warnings.append(str(exc))

- ``tls="starttls"`` is the same as ``starttls=True``; ``tls="ssl"`` speaks SMTPS (port 465).
  Certificates are verified against ``ca_bundle`` (or the system store); there is no
  off switch here on purpose.
- Credentials only come from a file that nobody else can read (``_core.secrets``: 0600 or
  0400, owned by the running user, not a symlink);
  they never appear in messages or exceptions.
- No shell and no sendmail binary: plain ``smtplib``.
- A login (``credentials_file``) over plain SMTP (no ``tls``/``starttls``) is refused, as it
  would send the password in clear, unless the server is on a loopback address.
- ``mail_argument_spec()`` is the ``mail`` option every mailing module uses (documented by
  the ``sciops.datasync.mail`` doc fragment); ``smtp_options()`` is its server part, for
  an option of another name (``aps_dm_experiment``'s ``notify``).
- ``SmtpServer.from_options(options)`` reads the server part of such an option;
  ``mail_settings(options)`` turns a module's ``mail`` option dict (to, sender,
  subject_prefix and the server) into keyword arguments for ``send_mail``.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass, fields
from typing import Optional

from ansible_collections.sciops.datasync.plugins.module_utils._core.secrets import SecretFileError, read_secret_file

DEFAULT_PORT = 25

# How to reach the SMTP server (documented in the sciops.datasync.mail doc fragment).
SMTP_OPTIONS = dict(
    host=dict(type="str", default="localhost"),
    port=dict(type="int"),
    tls=dict(type="str", choices=["none", "starttls", "ssl"]),
    starttls=dict(type="bool", default=False),
    credentials_file=dict(type="path"),
    ca_bundle=dict(type="path"),
    timeout=dict(type="int", default=30),
)

# The ``mail`` option: recipients, sender, subject prefix and the server.
MAIL_OPTIONS = dict(
    SMTP_OPTIONS,
    to=dict(type="list", elements="str", default=[]),
    sender=dict(type="str"),
    subject_prefix=dict(type="str"),
)


def smtp_options(**extra):
    """A fresh copy of ``SMTP_OPTIONS`` plus ``extra``: the suboptions of an option not named ``mail``."""
    options = {key: dict(value) for key, value in SMTP_OPTIONS.items()}
    options.update(extra)
    return options


def mail_argument_spec(required=False, extra=None):
    """``{"mail": ...}`` for a module's argument_spec; ``extra`` adds module-specific suboptions."""
    options = {key: dict(value) for key, value in MAIL_OPTIONS.items()}
    options.update(extra or {})
    spec = dict(type="dict", options=options)
    if required:
        spec["required"] = True
    return dict(mail=spec)


def is_loopback(host):
    """Whether ``host`` names the local machine by a loopback address (or C(localhost)); names are not resolved."""
    import ipaddress

    name = (host or "").strip().rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


class MailError(Exception):
    """The message could not be sent (the text says why, without secrets)."""


def read_credentials(path):
    """(user, password) from ``path``: one line ``user:password`` or two lines user, password."""
    try:
        text = read_secret_file(path, "SMTP credentials file")
    except SecretFileError as exc:
        raise MailError(str(exc))
    lines = [line.rstrip("\r\n") for line in text.splitlines() if line.strip()]
    if len(lines) >= 2:
        return lines[0].strip(), lines[1]
    if len(lines) == 1 and ":" in lines[0]:
        user, password = lines[0].split(":", 1)
        return user.strip(), password
    raise MailError("SMTP credentials file %s must hold 'user:password' or a user line and a password line" % path)


@dataclass(frozen=True)
class SmtpServer:
    """How to reach the SMTP server: the ``SMTP_OPTIONS`` of a module's mail option.

    ``tls`` is none, starttls or ssl; when None, ``starttls`` decides.
    """

    host: str = "localhost"
    port: Optional[int] = None
    tls: Optional[str] = None
    starttls: bool = False
    credentials_file: Optional[str] = None
    ca_bundle: Optional[str] = None
    timeout: int = 30

    @classmethod
    def from_options(cls, options):
        """The server of a ``mail`` (or ``notify``) option dict; unset keys keep their defaults."""
        return cls(**{field.name: options[field.name] for field in fields(cls) if options.get(field.name) is not None})


def build_message(sender, to, subject, text, html=None, cc=None):
    """An ``email.message.EmailMessage`` (text, plus an html alternative when given)."""
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    domain = sender.rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


def smtp_endpoint(server):
    """``(tls mode, port)`` of ``server`` (an SmtpServer): mode none, starttls or ssl; port 465 for ssl, else 25."""
    mode = server.tls or ("starttls" if server.starttls else "none")
    if mode not in ("none", "starttls", "ssl"):
        raise MailError("tls must be none, starttls or ssl")
    return mode, int(server.port or (465 if mode == "ssl" else DEFAULT_PORT))


@contextlib.contextmanager
def smtp_session(server):
    """An SMTP client connected to ``server`` (an SmtpServer), TLS as it says, logged in when it has credentials.

    smtplib's and ssl's exceptions (and OSError) reach the caller, who names what it was doing.
    """
    import smtplib
    import ssl

    mode, port = smtp_endpoint(server)
    if server.credentials_file and mode == "none" and not is_loopback(server.host):
        raise MailError("refusing to log in to %s:%d over plain SMTP, which would send the password in clear: "
                        "set tls to starttls or ssl (plain login is only allowed to a loopback server)" % (server.host, port))
    credentials = read_credentials(server.credentials_file) if server.credentials_file else None
    # Verified by default: the system store (or ca_bundle), hostname checked, no off switch.
    context = ssl.create_default_context(cafile=server.ca_bundle) if mode in ("starttls", "ssl") else None
    if mode == "ssl":
        client = smtplib.SMTP_SSL(server.host, port, timeout=server.timeout, context=context)
    else:
        client = smtplib.SMTP(server.host, port, timeout=server.timeout)
    try:
        client.ehlo()
        if mode == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if credentials:
            client.login(credentials[0], credentials[1])
        yield client
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def send_mail(to, subject, text, server=None, html=None, sender=None, cc=None, subject_prefix=None):
    """Send one message through ``server`` (an SmtpServer); returns its Message-ID. Raises MailError on any failure."""
    import smtplib
    import ssl

    recipients = [address for address in list(to or []) + list(cc or []) if address]
    if not recipients:
        raise MailError("no recipients")
    for address in recipients:
        if "\n" in address or "\r" in address or "@" not in address:
            raise MailError("invalid recipient address %r" % address)
    server = server or SmtpServer()
    _mode, port = smtp_endpoint(server)
    if subject_prefix:
        subject = "%s %s" % (subject_prefix, subject)
    sender = sender or "datasync@%s" % socket.getfqdn()
    message = build_message(sender, list(to or []), subject, text, html=html, cc=cc)
    try:
        with smtp_session(server) as client:
            refused = client.send_message(message, from_addr=sender, to_addrs=recipients)
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError("SMTP login to %s:%d refused: %s %s" % (server.host, port, exc.smtp_code, _text(exc.smtp_error)))
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        raise MailError("sending mail via %s:%d failed: %s" % (server.host, port, exc))
    if refused:
        raise MailError("the server refused recipients: %s" % ", ".join(sorted(refused)))
    return message["Message-ID"]


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def mail_settings(options):
    """Keyword arguments for ``send_mail`` from a module's ``mail`` dict option (None when no recipients)."""
    if not options or not options.get("to"):
        return None
    settings = {"to": list(options["to"]), "server": SmtpServer.from_options(options)}
    for key in ("sender", "subject_prefix"):
        if options.get(key) is not None:
            settings[key] = options[key]
    return settings
