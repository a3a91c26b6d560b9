"""The lab's services as the lab hosts see them: on the controller's bridge address, by the lab DNS
name, over TLS verified against each host's own system store, and refused by a store without the lab CA.

`make lab-up` boots the bridge and the hosts first, then the services, each listening on 127.0.0.1
and on 10.213.0.1 (never on a wildcard address); the web-API emulators serve HTTPS with a
certificate of the lab CA (.lab/ca/), which provisioning installed into every host's store.
"""

import json
import os
import socket
import struct
import subprocess
import textwrap

import pytest

from tests.lab import ca
from tests.lab.hosts.network import bridge_exists
from tests.lab.hosts.overlay import mounts_under
from tests.lab.hosts.processes import pids_mentioning

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="booting lab hosts needs root")

HOST = "portal1"
HTTPS_SERVICES = ("globus", "portal", "aps_dm", "aps_beamtime")
# A stock Debian store: the distribution's CAs without the site's (the lab's) own.
STOCK_STORE = "cat /usr/share/ca-certificates/mozilla/*.crt > /tmp/stock-store.pem"


@pytest.fixture(scope="module")
def lab_hosts(lab):
    lab.up(hosts=True)
    assert {name: state for name, _address, state in lab.host_status()}.get(HOST) in ("running", "degraded")
    return lab


def on_host(lab, script, name=HOST, env=""):
    """Run a python3 script on the host over ssh as the admin; returns the CompletedProcess."""
    argv = lab.host_lab().ssh_command(name, "sh", "-c", "%s python3 -" % env)
    return subprocess.run(argv, input=textwrap.dedent(script), capture_output=True, text=True, timeout=120,
                          check=False)


def https_probe(urls):
    """A script that GETs each url with the default SSL context and prints {url: status or error}."""
    return """
        import json, ssl, urllib.error, urllib.request
        found = {}
        for url in %r:
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    found[url] = response.status
            except urllib.error.HTTPError as exc:
                found[url] = exc.code  # TLS verified; the emulator answered
            except (urllib.error.URLError, OSError) as exc:
                found[url] = "error: %%s" %% (getattr(exc, "reason", None) or exc)
        print(json.dumps(found))
    """ % (list(urls),)


def lab_urls(lab):
    services = lab.endpoints()
    return [services[name]["host_url"] for name in HTTPS_SERVICES]


def listeners():
    out = subprocess.run(["ss", "-H", "-ltun"], capture_output=True, text=True, check=True).stdout
    return [line.split()[4] for line in out.splitlines()]


def test_every_service_listens_on_loopback_and_the_bridge_address_only(lab_hosts):
    local = listeners()
    for module in lab_hosts.services:
        # A service only the controller uses (prometheus: it reaches out to the hosts) has LOOPBACK_PORT instead.
        port = getattr(module, "PORT", None) or module.LOOPBACK_PORT
        wanted = {"127.0.0.1", lab_hosts.controller_address} if hasattr(module, "PORT") else {"127.0.0.1"}
        addresses = {entry.rsplit(":", 1)[0] for entry in local if entry.rsplit(":", 1)[1] == str(port)}
        assert wanted <= addresses, (module.NAME, addresses)
        assert not addresses & {"0.0.0.0", "*", "[::]"}, (module.NAME, addresses)


def test_hosts_hold_the_lab_ca_in_their_system_store_and_resolve_the_services_name(lab_hosts):
    with open(lab_hosts.ca()["ca_file"], encoding="utf-8") as handle:
        lab_ca = handle.read().strip()
    for name in ("portal1", "mirror1"):
        host = lab_hosts.host_lab().host(name)
        store = host.inside("cat", "/etc/ssl/certs/ca-certificates.crt").stdout
        assert lab_ca in store, name
        assert host.inside("getent", "hosts", ca.DNS_NAME).stdout.split()[0] == lab_hosts.controller_address


def test_a_host_reaches_each_web_api_over_https_verified_by_its_system_store(lab_hosts):
    urls = lab_urls(lab_hosts)
    urls += [url.replace(ca.DNS_NAME, lab_hosts.controller_address) for url in urls]  # the address is in the cert too
    probe = on_host(lab_hosts, https_probe(urls))
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert all(isinstance(status, int) and status < 500 for status in found.values()), found
    # Not just any answer: the Globus emulator's health route, through the host's default context.
    health = on_host(lab_hosts, """
        import json, urllib.request
        print(json.dumps(json.load(urllib.request.urlopen("https://%s:8701/_lab/health", timeout=10))))
    """ % ca.DNS_NAME)
    assert health.returncode == 0 and "counts" in json.loads(health.stdout), health.stderr


def test_a_store_without_the_lab_ca_refuses_the_emulators(lab_hosts):
    for env in ("SSL_CERT_FILE=/tmp/stock-store.pem SSL_CERT_DIR=/nonexistent",
                "SSL_CERT_FILE=/dev/null SSL_CERT_DIR=/nonexistent"):
        probe = on_host(lab_hosts, https_probe(lab_urls(lab_hosts)), env="%s; %s" % (STOCK_STORE, env))
        assert probe.returncode == 0, probe.stderr
        found = json.loads(probe.stdout)
        assert all("CERTIFICATE_VERIFY_FAILED" in str(status) for status in found.values()), found


def test_the_plain_tcp_services_answer_on_the_bridge_with_starttls_verified(lab_hosts):
    services = lab_hosts.endpoints()
    probe = on_host(lab_hosts, """
        import json, smtplib, socket, ssl
        found = {}
        for name, port in %r:
            with socket.create_connection(("%s", port), timeout=10) as connection:
                found[name] = connection.recv(64).decode(errors="replace")
        with smtplib.SMTP("%s", %d, timeout=10) as smtp:
            smtp.starttls(context=ssl.create_default_context())
            found["smtp_starttls"] = smtp.noop()[0]
        print(json.dumps(found))
    """ % ([("sshd", services["sshd"]["port"]), ("rsyncd", services["rsyncd"]["port"]),
            ("smtp", services["smtp"]["port"])], ca.DNS_NAME, ca.DNS_NAME, services["smtp"]["port"]))
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert found["sshd"].startswith("SSH-2.0-")
    assert found["rsyncd"].startswith("@RSYNCD:")
    assert found["smtp"].startswith("220 ")
    assert found["smtp_starttls"] == 250


def ca_search(pv, cid=7):
    """A Channel Access UDP search datagram (version + search, DONT_REPLY) for pv."""
    name = pv.encode() + b"\0"
    name += b"\0" * (-len(name) % 8)
    return struct.pack(">HHHHII", 0, 0, 0, 13, 0, 0) + struct.pack(">HHHHII", 6, len(name), 5, 13, cid, cid) + name


def found_in(reply, cid=7):
    while reply:
        command, size, _type, _count, _p1, p2 = struct.unpack(">HHHHII", reply[:16])
        if command == 6 and p2 == cid:
            return True
        reply = reply[16 + size:]
    return False


def test_the_ioc_answers_channel_access_searches_on_the_bridge_address(lab_hosts):
    ioc = lab_hosts.endpoints()["ioc"]
    pv = ioc["prefix"] + "UserName"
    # From the controller's side, bound to the bridge address.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((lab_hosts.controller_address, 0))
        sock.settimeout(5)
        sock.sendto(ca_search(pv), (lab_hosts.controller_address, ioc["port"]))
        assert found_in(sock.recvfrom(4096)[0])
    # From a host, as its clients will (EPICS_CA_ADDR_LIST=10.213.0.1, no auto address list).
    assert ioc["hosts_env"]["EPICS_CA_ADDR_LIST"] == lab_hosts.controller_address
    probe = on_host(lab_hosts, """
        import socket, struct
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(%r, ("%s", %d))
            reply = sock.recvfrom(4096)[0]
        while reply:
            command, size, _t, _c, _p1, cid = struct.unpack(">HHHHII", reply[:16])
            if command == 6 and cid == 7:
                print("found")
            reply = reply[16 + size:]
    """ % (ca_search(pv), ioc["hosts_env"]["EPICS_CA_ADDR_LIST"], ioc["port"]))
    assert probe.stdout.strip() == "found", probe.stderr


def test_lab_down_leaves_nothing_and_a_killed_lab_is_cleaned_up_by_the_next_up(lab_hosts):
    hosts_dir = lab_hosts.path("hosts")
    # Kill the lab as a crash would: a host's nspawn and a service, no down.
    host = lab_hosts.host_lab().host("mirror1")
    host.nspawn_process and os.kill(host.nspawn_process.pid, 9)
    os.kill(lab_hosts.pid("portal"), 9)
    lab_hosts.up(hosts=True)
    assert all(lab_hosts.running(module) for module in lab_hosts.services)
    assert {state for _name, _address, state in lab_hosts.host_status()} <= {"running", "degraded"}

    lab_hosts.down()
    assert mounts_under(hosts_dir) == []
    assert pids_mentioning(hosts_dir) == []
    assert not bridge_exists(lab_hosts.network.bridge)
    assert not any(lab_hosts.pid(module.NAME) for module in lab_hosts.services)
    assert not [entry for entry in listeners() if entry.startswith(lab_hosts.controller_address + ":")]
    # Up again for whatever runs next in this session.
    lab_hosts.up(hosts=True)
    assert all(lab_hosts.running(module) for module in lab_hosts.services)
