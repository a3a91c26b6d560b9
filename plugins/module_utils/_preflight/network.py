# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pre-flight checks of the services a job reaches. Private to sciops.datasync: not a public API.

- a web service: one GET of its URL through ``_core.http`` (TLS verified, no retry); any
  HTTP answer means reachable, since the job's own requests carry the credentials;
- the SMTP relay: ``_core.mail.smtp_session`` as the job's mail connects (TLS verified, a login
  when it has one), then the sender and the first recipient are offered and the envelope reset:
  nothing is sent;
- an SSH source: ``ssh ... true`` with the job's key and known_hosts (``_core.ssh``): the
  host key must be known and the login accepted (a forced command refusing ``true`` is fine);
- an rsync daemon: its ``@RSYNCD:`` greeting (the pools' login and listing follow it: ``_preflight.pools``);
- PVs: connect and read, as the experiment job does (``_experiment.epics.read_pvs``).
"""

from __future__ import annotations

import socket

from ansible_collections.sciops.datasync.plugins.module_utils._core.http import HttpClient, HttpError, HttpSettings, without_query
from ansible_collections.sciops.datasync.plugins.module_utils._core.mail import MailError, SmtpServer, smtp_endpoint, smtp_session
from ansible_collections.sciops.datasync.plugins.module_utils._core.rsync import escape_text
from ansible_collections.sciops.datasync.plugins.module_utils._core.ssh import SshConfigError, host_key_problem, host_label, ssh_argv
from ansible_collections.sciops.datasync.plugins.module_utils._experiment.epics import ca_environment, read_pvs
from ansible_collections.sciops.datasync.plugins.module_utils._preflight.rows import failed, ok

WEB = "HTTPS service reachable"
SMTP = "SMTP relay accepts the sender"
SSH = "SSH host key known, login accepted"
RSYNC = "rsync daemon reachable"
PVS = "PVs connect"


def check_web_service(name, url, ca_bundle=None, timeout=10):
    item = "%s %s" % (name, without_query(url))
    client = HttpClient(HttpSettings(validate_certs=True, ca_bundle=ca_bundle, timeout=timeout, retries=0), label=name)
    try:
        response = client.request("GET", url)
    except HttpError as exc:
        if "TLS verification" in exc.message:
            fix = ("put the CA that signed %s's certificate in the host's trust store or the job's ca_bundle; "
                   "check the URL's host name matches the certificate" % name)
        else:
            fix = "check the URL, that this host resolves its name and that a firewall lets it through"
        return failed(WEB, item, exc.message, fix)
    return ok(WEB, item, "TLS verified, HTTP %d" % response.status)


def check_smtp(options, sender=None, recipient=None):
    """The relay accepts MAIL FROM ``sender`` (and RCPT TO ``recipient``) as the job's mail would reach it."""
    import smtplib  # pylint: disable=import-outside-toplevel
    import ssl  # pylint: disable=import-outside-toplevel

    sender = sender or "datasync@%s" % socket.getfqdn()
    server = SmtpServer.from_options(options)
    fix = "check the relay's host, port and tls setting, and that it relays mail from %s for this host" % sender
    item = "%s from %s" % (server.host, sender)
    try:
        mode, port = smtp_endpoint(server)
        item = "%s:%d (%s) from %s" % (server.host, port, mode, sender)
        with smtp_session(server) as client:
            code, reply = client.mail(sender)
            if code != 250:
                raise MailError("the relay refused the sender %s: %d %s" % (sender, code, _text(reply)))
            if recipient:
                code, reply = client.rcpt(recipient)
                if code not in (250, 251):
                    raise MailError("the relay refused the recipient %s: %d %s" % (recipient, code, _text(reply)))
            client.rset()
    except MailError as exc:
        return failed(SMTP, item, str(exc), fix)
    except smtplib.SMTPAuthenticationError as exc:
        return failed(SMTP, item, "login refused: %d %s" % (exc.smtp_code, _text(exc.smtp_error)),
                      "check the user and password in %s" % server.credentials_file)
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        if isinstance(exc, ssl.SSLError):
            fix = "put the CA that signed the relay's certificate in the host's trust store or mail ca_bundle"
        return failed(SMTP, item, "%s: %s" % (exc.__class__.__name__, exc), fix)
    return ok(SMTP, item, "sender accepted%s%s" % (
        " and recipient %s" % recipient if recipient else "", ", TLS verified" if mode != "none" else ""))


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def check_ssh(runner, host, port, user, key_file, known_hosts, timeout=10):
    item = "%s@%s" % (user, host_label(host, port))
    try:
        argv = ssh_argv(host, user, key_file, port=port, known_hosts=known_hosts, connect_timeout=timeout)
    except SshConfigError as exc:
        return failed(SSH, item, str(exc), "install the job's key file and known_hosts (the role does)")
    result = runner.run(argv + [host, "true"])
    if result.rc != 255:
        return ok(SSH, item, "host key found in %s, login with %s accepted" % (known_hosts, key_file))
    stderr = " ".join((result.stderr or "").split())
    problem = host_key_problem(result.stderr, host, port, known_hosts)
    if problem:
        return failed(SSH, item, problem, "verify the source's host key with its administrators, then add it to %s "
                      "(the role's host keys variable)" % known_hosts)
    if "Permission denied" in stderr:
        return failed(SSH, item, "the source refused the login with %s: %s" % (key_file, stderr),
                      "authorize the public half of %s for %s on %s" % (key_file, user, host))
    return failed(SSH, item, "ssh could not connect: %s" % stderr, "check the host, port and network path to %s" % host)


def check_rsync_daemon(host, port, timeout=10):
    item = "%s:%d" % (host, port)
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            greeting = conn.makefile("rb").readline(200).decode("ascii", "replace").strip()
    except OSError as exc:
        return failed(RSYNC, item, "cannot connect to the rsync daemon at %s: %s" % (item, exc),
                      "check the host and port, and that the daemon runs and lets this host in")
    if not greeting.startswith("@RSYNCD:"):
        return failed(RSYNC, item, "%s did not greet as an rsync daemon ('%s')" % (item, escape_text(greeting[:60])),
                      "check the port: it must be the rsync daemon's (873 by default)")
    return ok(RSYNC, item, "greeted with %s" % escape_text(greeting[:100]))


def check_pvs(prefix, names, timeout=2.0, addr_list=None, auto_addr_list=None, server_port=None, repeater_port=None):
    """One row for the PVs of one prefix: every one connects and answers."""
    item = "%s{%s}" % (prefix, ",".join(names))
    environ = ca_environment(addr_list, auto_addr_list, server_port, repeater_port)
    values, errors = read_pvs(prefix, names, timeout=timeout, environ=environ)
    if errors:
        return failed(PVS, item, "; ".join(entry["reason"] for entry in errors),
                      "check the PV names and prefix against the IOC, and EPICS_CA_ADDR_LIST / ports for this host")
    return ok(PVS, item, "%d PVs connected and answered" % len(values))
