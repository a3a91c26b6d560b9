"""An SMTP server (aiosmtpd) that stores every message it receives as an .eml file.

python -m tests.lab.smtp_sink --port 2525 --maildir .lab/mail
"""

import argparse
import asyncio
import os
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
    args = parser.parse_args()
    controller = Controller(StoreHandler(args.maildir), hostname="127.0.0.1", port=args.port)
    controller.start()
    try:
        asyncio.get_event_loop_policy().new_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
