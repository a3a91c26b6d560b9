"""An SMTP server (aiosmtpd) on port 2525 of every lab listen address storing every message under .lab/mail/;
it offers STARTTLS with the lab certificate (optional for clients)."""

from tests.lab.supervisor import port_open

NAME = "smtp"
ORDER = 30
PORT = 2525


def prepare(lab):
    lab.ensure_dir("mail")


def command(lab):
    return [lab.python, "-m", "tests.lab.smtp_sink", "--port", str(PORT), "--maildir", lab.path("mail")] + lab.tls_args()


def ready(lab):
    return port_open(PORT)


def endpoints(lab):
    from tests.lab.ca import DNS_NAME

    return {"host": "127.0.0.1", "lab_host": DNS_NAME, "port": PORT, "maildir": lab.path("mail"), "starttls": True,
            "ca_file": lab.ca()["ca_file"]}
