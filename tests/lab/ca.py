"""The lab's own certificate authority: made once per lab under <lab>/ca/, like a site's CA.

- ca.pem / ca.key: the CA (key 0600), kept for the life of the lab folder, so hosts that
  trust it keep trusting it across `make lab-down` / `make lab-up`.
- server.pem / server.key: the certificate every web-API emulator serves, signed by the
  CA, for DNS_NAME, localhost, 127.0.0.1 and the controller's bridge address. Re-issued
  when its names change or it is near expiry.
- bundle.pem: the controller's system store plus ca.pem, what the controller-side clients
  verify against (SSL_CERT_FILE / REQUESTS_CA_BUNDLE in the lab environment).

`python -m tests.lab.ca` prints the paths (and makes the files if missing).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The name the hosts reach the lab's services by (each host's /etc/hosts maps it to the bridge address).
DNS_NAME = "services.lab"
CONTROLLER_ADDRESS = "10.213.0.1"
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# The system store on a lab host (Debian), which holds the lab CA once the host is provisioned.
HOST_SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
CA_DAYS = 3650
SERVER_DAYS = 825


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _write(path, data, mode):
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path + ".tmp", mode)
    os.replace(path + ".tmp", path)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load(cert_path, key_path):
    with open(cert_path, "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    with open(key_path, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), None)
    return cert, key


def _make_ca(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sciops datasync lab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "datasync lab CA %s" % _now().strftime("%Y%m%d%H%M%S"))])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(minutes=5))
            .not_valid_after(_now() + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write(os.path.join(directory, "ca.key"), _key_pem(key), 0o600)
    _write(os.path.join(directory, "ca.pem"), cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert, key


def server_names(controller_address=CONTROLLER_ADDRESS):
    return [DNS_NAME, "localhost"], ["127.0.0.1", controller_address]


def _san(cert):
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return set(names.get_values_for_type(x509.DNSName)) | {str(a) for a in names.get_values_for_type(x509.IPAddress)}


def _server_current(directory, ca_cert, dns_names, addresses):
    try:
        cert, _key = _load(os.path.join(directory, "server.pem"), os.path.join(directory, "server.key"))
    except (OSError, ValueError):
        return False
    return (cert.issuer == ca_cert.subject and _san(cert) == set(dns_names) | set(addresses)
            and cert.not_valid_after_utc - _now() > datetime.timedelta(days=30))


def _make_server(directory, ca_cert, ca_key, dns_names, addresses):
    key = ec.generate_private_key(ec.SECP256R1())
    san = [x509.DNSName(name) for name in dns_names] + [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sciops datasync lab"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(minutes=5))
            .not_valid_after(_now() + datetime.timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write(os.path.join(directory, "server.key"), _key_pem(key), 0o600)
    _write(os.path.join(directory, "server.pem"), cert.public_bytes(serialization.Encoding.PEM), 0o644)


def paths(lab_root):
    directory = os.path.join(lab_root, "ca")
    return {"dir": directory, "ca_file": os.path.join(directory, "ca.pem"), "ca_key": os.path.join(directory, "ca.key"),
            "cert_file": os.path.join(directory, "server.pem"), "key_file": os.path.join(directory, "server.key"),
            "bundle_file": os.path.join(directory, "bundle.pem"), "dns_name": DNS_NAME}


def ensure(lab_root, controller_address=CONTROLLER_ADDRESS):
    """The lab CA, the server certificate and the controller bundle under <lab_root>/ca; returns paths()."""
    found = paths(lab_root)
    os.makedirs(found["dir"], mode=0o700, exist_ok=True)
    try:
        ca_cert, ca_key = _load(found["ca_file"], found["ca_key"])
    except (OSError, ValueError):
        ca_cert, ca_key = _make_ca(found["dir"])
    os.chmod(found["ca_key"], 0o600)
    dns_names, addresses = server_names(controller_address)
    if not _server_current(found["dir"], ca_cert, dns_names, addresses):
        _make_server(found["dir"], ca_cert, ca_key, dns_names, addresses)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    system = b""
    if os.path.isfile(SYSTEM_BUNDLE):
        with open(SYSTEM_BUNDLE, "rb") as handle:
            system = handle.read().rstrip(b"\n") + b"\n"
    bundle = system + ca_pem
    try:
        with open(found["bundle_file"], "rb") as handle:
            current = handle.read()
    except OSError:
        current = None
    if current != bundle:
        _write(found["bundle_file"], bundle, 0o644)
    # The directory holds the keys; the certificates in it must stay readable for clients.
    os.chmod(found["dir"], 0o755)
    return found


def main():
    lab_root = os.path.abspath(os.environ.get("DATASYNC_LAB_DIR") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), ".lab"))
    for key, value in sorted(ensure(lab_root).items()):
        print("%-12s %s" % (key, value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
