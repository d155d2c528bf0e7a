"""A throwaway PKI for the TLS tests and the demo, made at test time: a CA,
the central's server certificate (localhost, 127.0.0.1), gateway client
certificates, and the bad ones (another CA, expired, wrong host)."""
import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
import ipaddress


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key, path: Path, password: bytes | None = None):
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    path.chmod(0o600)


class Authority:
    def __init__(self, directory: Path, name: str):
        self.directory = directory
        self.key = _key()
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                  content_commitment=False, key_encipherment=False,
                                                  data_encipherment=False, key_agreement=False,
                                                  encipher_only=False, decipher_only=False), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.pem = directory / f"{name}.pem"
        self.pem.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, stem: str, cn: str, server: bool, hosts=("localhost", "127.0.0.1"), days_valid=(-1, 365),
              password: bytes | None = None) -> tuple[Path, Path]:
        """Writes <stem>.pem (certificate) and <stem>.key (0600); returns both paths."""
        key = _key()
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(self.cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now + datetime.timedelta(days=days_valid[0]))
                   .not_valid_after(now + datetime.timedelta(days=days_valid[1]))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server
                                                         else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        if server:
            names = []
            for host in hosts:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    names.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        cert_path, key_path = self.directory / f"{stem}.pem", self.directory / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, key_path, password)
        return cert_path, key_path


def spki_pin(cert_path: Path) -> str:
    import base64
    import hashlib
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    der = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256//" + base64.b64encode(hashlib.sha256(der).digest()).decode()


class Pki:
    """Everything one test needs, in `directory`."""

    def __init__(self, directory: Path, facility: str = "131234567"):
        directory.mkdir(parents=True, exist_ok=True)
        self.ca = Authority(directory, "ca")
        self.other_ca = Authority(directory, "other-ca")
        self.server = self.ca.issue("server", "localhost", server=True)
        self.client_cn = f"gw-{facility}"
        self.client = self.ca.issue("client", self.client_cn, server=False)
        # The bad ones.
        self.server_other_ca = self.other_ca.issue("server-other-ca", "localhost", server=True)
        self.server_expired = self.ca.issue("server-expired", "localhost", server=True, days_valid=(-30, -1))
        self.server_wrong_host = self.ca.issue("server-wrong-host", "collector.example.jp", server=True,
                                               hosts=("collector.example.jp",))
        self.client_other_ca = self.other_ca.issue("client-other-ca", self.client_cn, server=False)
