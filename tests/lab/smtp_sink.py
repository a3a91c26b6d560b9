"""An SMTP server (aiosmtpd) that stores every message it receives as an .eml file.

python -m tests.lab.smtp_sink --port 2525 --maildir .lab/mail [--bind ADDRESS ...] [--tls-cert C --tls-key K]

It listens on each --bind address (127.0.0.1 unless told) and, given a certificate, offers
STARTTLS (not required: plain clients still deliver).
"""

import argparse
import asyncio
import os
import ssl
import time

from aiosmtpd.controller import Controller


class StoreHandler:
    def __init__(self, maildir):
        self.maildir = maildir
        os.makedirs(maildir, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        stamp = "%.6f" % time.time()
        base = os.path.join(self.maildir, "%s-%d" % (stamp, os.getpid()))
        header = "X-Lab-Envelope-From: %s\r\nX-Lab-Envelope-To: %s\r\n" % (envelope.mail_from, ", ".join(envelope.rcpt_tos))
        content = envelope.original_content or envelope.content
        with open(base + ".tmp", "wb") as handle:
            handle.write(header.encode() + content)
        os.replace(base + ".tmp", base + ".eml")
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--bind", action="append", default=None)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    args = parser.parse_args()
    options = {}
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        options = {"tls_context": context, "require_starttls": False}
    handler = StoreHandler(args.maildir)
    controllers = [Controller(handler, hostname=address, port=args.port, **options)
                   for address in args.bind or ["127.0.0.1"]]
    for controller in controllers:
        controller.start()
    try:
        asyncio.get_event_loop_policy().new_event_loop().run_forever()
    finally:
        for controller in controllers:
            controller.stop()


if __name__ == "__main__":
    main()
