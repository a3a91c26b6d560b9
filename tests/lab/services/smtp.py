"""An SMTP server (aiosmtpd) on 127.0.0.1:2525 storing every message under .lab/mail/."""

from tests.lab.supervisor import port_open

NAME = "smtp"
ORDER = 30
PORT = 2525


def prepare(lab):
    lab.ensure_dir("mail")


def command(lab):
    return [lab.python, "-m", "tests.lab.smtp_sink", "--port", str(PORT), "--maildir", lab.path("mail")]


def ready(lab):
    return port_open(PORT)


def endpoints(lab):
    return {"host": "127.0.0.1", "port": PORT, "maildir": lab.path("mail")}
