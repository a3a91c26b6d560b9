"""Prometheus (the Debian package's server) on 127.0.0.1:9390, scraping node_exporter on every booted host.

The lab plays the site's monitoring team (docs/monitoring.md): each booted host gets the Debian
package prometheus-node-exporter (the .deb the controller's apt fetches; the hosts have no
package mirror), its textfile collector pointed at root's datasync metrics folder, and this
Prometheus scrapes them every 10 s as job ``node`` with the collection's alert rules loaded
(docs/monitoring/datasync.rules.yml). A test or the demo asks the HTTP API
(``endpoints()["api"]``), e.g. ``/api/v1/query?query=datasync_job_last_success_timestamp_seconds``.
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import signal
import subprocess

from tests.lab.supervisor import LabError, pid_alive, port_open

NAME = "prometheus"
ORDER = 90
# Not PORT: the supervisor would expect it on the bridge address too, and Prometheus listens
# on one address (127.0.0.1; it reaches out to the hosts, nothing reaches in).
LOOPBACK_PORT = 9390
NODE_EXPORTER_PORT = 9100
PACKAGE = "prometheus-node-exporter"
TEXTFILE_DIR = "/var/lib/datasync/metrics"
SCRAPE_INTERVAL = "10s"
NODE_ARGS = 'ARGS="--collector.textfile.directory=%s"\n' % TEXTFILE_DIR


def _hosts(lab):
    """{name: address} of the booted hosts, or {} (services-only lab)."""
    if not lab.bridge_ready() or not os.path.exists(lab.path("hosts", "ssh_config")):
        return {}
    return lab.network_document()["hosts"]


def _config(lab, hosts):
    """Prometheus's configuration: one target per host, its instance label the host's name."""
    rules = os.path.join(lab.repo, "docs", "monitoring", "datasync.rules.yml")
    targets = "".join('\n      - targets: ["%s:%d"]\n        labels: {instance: %s}' % (address, NODE_EXPORTER_PORT, name)
                      for name, address in sorted(hosts.items()))
    return ("global:\n  scrape_interval: %s\n  evaluation_interval: %s\nrule_files:\n  - %s\nscrape_configs:\n"
            "  - job_name: node\n    static_configs:%s\n" % (SCRAPE_INTERVAL, SCRAPE_INTERVAL, rules, targets or " []"))


def _package(lab):
    """The node_exporter .deb for the hosts (Debian 12, as the controller), fetched once with apt-get download."""
    folder = lab.ensure_dir("prometheus", "debs")
    found = sorted(glob.glob(os.path.join(folder, PACKAGE + "_*.deb")))
    if not found:
        subprocess.run(["apt-get", "download", "-q", PACKAGE], cwd=folder, check=True, capture_output=True)
        found = sorted(glob.glob(os.path.join(folder, PACKAGE + "_*.deb")))
    return found[-1]


def _ssh(lab, host, script, stdin=None):
    return subprocess.run(["ssh", "-F", lab.path("hosts", "ssh_config"), host, "sudo -n sh -c %s" % shlex.quote(script)],
                          input=stdin, capture_output=True, check=False, timeout=120)


def ensure_node_exporter(lab, host):
    """Install and configure node_exporter on ``host`` unless it already runs with the lab's textfile folder."""
    check = "dpkg-query -W -f='${Status}' %s 2>/dev/null | grep -q 'ok installed' && grep -qxF %s /etc/default/%s && " \
            "systemctl is-active -q %s && test -d %s" % (PACKAGE, shlex.quote(NODE_ARGS.strip()), PACKAGE, PACKAGE, TEXTFILE_DIR)
    if _ssh(lab, host, check).returncode == 0:
        return
    with open(_package(lab), "rb") as handle:
        deb = handle.read()
    script = ("set -e; t=$(mktemp); cat > \"$t\"; dpkg-query -W -f='${Status}' %s 2>/dev/null | grep -q 'ok installed' || "
              "DEBIAN_FRONTEND=noninteractive dpkg -i \"$t\" >/dev/null; rm -f \"$t\"; printf '%%s' %s > /etc/default/%s; "
              # A host without jobs has no metrics folder yet (the runtime role makes the same, root's 0755).
              "test -d %s || install -d -m 0755 %s; systemctl restart %s"
              % (PACKAGE, shlex.quote(NODE_ARGS), PACKAGE, TEXTFILE_DIR, TEXTFILE_DIR, PACKAGE))
    done = _ssh(lab, host, script, stdin=deb)
    if done.returncode != 0:
        raise LabError("node_exporter on %s: %s" % (host, done.stderr.decode(errors="replace").strip()))


def prepare(lab):
    if shutil.which("prometheus") is None:
        raise LabError("prometheus missing: install the Debian packages prometheus and prometheus-node-exporter (make system-deps)")
    folder = lab.ensure_dir("prometheus")
    lab.ensure_dir("prometheus", "data")
    hosts = _hosts(lab)
    for host in sorted(hosts):
        ensure_node_exporter(lab, host)
    path = os.path.join(folder, "prometheus.yml")
    text = _config(lab, hosts)
    try:
        with open(path, encoding="utf-8") as handle:
            changed = handle.read() != text
    except OSError:
        changed = True
    if changed:
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(path + ".tmp", path)
        pid = lab.pid(NAME)
        if pid and pid_alive(pid):
            os.kill(pid, signal.SIGHUP)  # Prometheus reloads its configuration


def command(lab):
    return ["prometheus", "--config.file=%s" % lab.path("prometheus", "prometheus.yml"),
            "--storage.tsdb.path=%s" % lab.path("prometheus", "data"), "--storage.tsdb.retention.time=2d",
            "--web.listen-address=127.0.0.1:%d" % LOOPBACK_PORT, "--web.enable-lifecycle"]


def ready(lab):
    return port_open(LOOPBACK_PORT)


def endpoints(lab):
    return {"url": "http://127.0.0.1:%d" % LOOPBACK_PORT, "api": "http://127.0.0.1:%d/api/v1" % LOOPBACK_PORT, "job": "node",
            "textfile_dir": TEXTFILE_DIR, "node_exporter_port": NODE_EXPORTER_PORT}
