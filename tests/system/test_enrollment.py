"""Issue 22, the central's half: medgw-receiver's enrollment service (EST,
RFC 7030, under /.well-known/est/) driven by the stock curl and openssl only,
as any client could: one-time tickets bound to a facility, renewal over mutual
TLS (and after expiry only within ca.grace, only for the newest
certificate), revocation refused at once on every path, the CRL, and hostile
requests that are refused with a clear reason while the receiver keeps
serving."""
import base64
import re
import subprocess
import time
import unittest
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from helpers import RECEIVER, Receiver, TempDir, run


def run_bytes(*args, input: bytes | None = None) -> bytes:
    result = subprocess.run([str(a) for a in args], capture_output=True, input=input)
    if result.returncode != 0:
        raise AssertionError(f"{args[0]} {args[1]} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout
from pki import Authority, Pki, _write_key

FACILITY = "131234567"
OTHER = "139999999"


def gateway_key_text() -> str:
    raw = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + base64.b64encode(raw).decode()


class Central:
    """A receiver with an issuing CA and two facilities."""

    def __init__(self, directory: Path, validity: str = "1h", grace: str = "1h", signer: Path | None = None,
                 gateway_keys: list[str] | None = None):
        self.directory = directory
        self.pki = Pki(directory / "pki", FACILITY)
        self.issuing = Authority(directory / "pki", "issuing-ca")
        self.issuing_key = directory / "pki" / "issuing-ca.key"
        _write_key(self.issuing.key, self.issuing_key)
        extra = (f'  - {{code: "{OTHER}", gateways: [{gateway_key_text()}]}}\n'
                 f"ca: {{cert: {self.issuing.pem}, validity: {validity}, grace: {grace}, "
                 + (f"command: 'sh {signer}'}}\n" if signer else f"key: {self.issuing_key}}}\n"))
        self.receiver = Receiver(directory / "central", self.pki, gateway_keys or [gateway_key_text()], landing=False,
                                 extra=extra)
        self.work = directory / "work"
        self.work.mkdir()
        self.counter = 0

    def url(self, path: str) -> str:
        return f"https://localhost:{self.receiver.port}{path}"

    def command(self, *args, check=True) -> subprocess.CompletedProcess:
        return run(RECEIVER, *args, "-c", self.receiver.config, check=check)

    def ticket(self, facility: str = FACILITY, valid: str | None = None) -> str:
        args = ["ticket", "--facility", facility] + (["--valid", valid] if valid else [])
        text = self.command(*args).stdout
        return re.search(r"^ticket: (\S+)$", text, re.M).group(1)

    def csr(self, cn: str | None = FACILITY, key: str = "ec") -> tuple[Path, Path]:
        """A new key and its CSR (base64 of DER), made by openssl req."""
        self.counter += 1
        stem = self.work / f"gw{self.counter}"
        options = {"ec": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
                   "rsa1024": ["-newkey", "rsa:1024"], "rsa2048": ["-newkey", "rsa:2048"]}[key]
        subject = f"/CN={cn}" if cn else "/O=medgw"
        der = run_bytes("openssl", "req", "-new", *options, "-nodes", "-keyout", f"{stem}.key", "-subj", subject,
                        "-outform", "DER")
        Path(f"{stem}.csr").write_text(base64.encodebytes(der).decode())
        return Path(f"{stem}.csr"), Path(f"{stem}.key")

    def curl(self, path: str, *args, cert: tuple[Path, Path] | None = None, body: Path | None = None,
             user: str | None = None) -> tuple[int, bytes]:
        """(status, body) of one request; --cacert only: no system CAs."""
        out = self.work / "answer"
        command = ["curl", "-sS", "--cacert", str(self.pki.ca.pem), "-o", str(out), "-w", "%{http_code}"]
        if cert:
            command += ["--cert", str(cert[0]), "--key", str(cert[1])]
        if user:
            command += ["--user", user]
        if body:
            command += ["-H", "Content-Type: application/pkcs10", "--data-binary", f"@{body}"]
        result = subprocess.run(command + list(args) + [self.url(path)], capture_output=True)
        return int(result.stdout or b"0"), out.read_bytes() if out.exists() else b""

    def enroll(self, ticket: str, cn: str = FACILITY, facility: str = FACILITY) -> tuple[Path, Path]:
        """A certificate from a ticket by curl + openssl (docs/certificates.md)."""
        csr, key = self.csr(cn)
        status, answer = self.curl("/.well-known/est/simpleenroll", body=csr, user=f"{facility}:{ticket}")
        if status != 200:
            raise AssertionError(f"simpleenroll: {status} {answer!r}")
        return self.store_answer(answer, key)

    def reenroll(self, cert: tuple[Path, Path]) -> tuple[int, bytes, tuple[Path, Path] | None]:
        csr, key = self.csr()
        status, answer = self.curl("/.well-known/est/simplereenroll", cert=cert, body=csr)
        return status, answer, self.store_answer(answer, key) if status == 200 else None

    def store_answer(self, answer: bytes, key: Path) -> tuple[Path, Path]:
        pem = run_bytes("openssl", "pkcs7", "-inform", "DER", "-print_certs", input=base64.decodebytes(answer))
        certs = re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n", pem, re.S)
        leaf = key.with_suffix(".pem")
        leaf.write_bytes(certs[0])
        return leaf, key

    def serial(self, cert: tuple[Path, Path]) -> str:
        return run("openssl", "x509", "-in", cert[0], "-noout", "-serial", check=True).stdout.strip().split("=")[1]

    def tus_options(self, cert) -> int:
        return self.curl("/files/", "-X", "OPTIONS", "-H", "Tus-Resumable: 1.0.0", cert=cert)[0]


class EnrollmentService(unittest.TestCase):
    def setUp(self):
        self.temp = TempDir()
        self.central = Central(self.temp.__enter__())
        self.central.receiver.start()

    def tearDown(self):
        self.central.receiver.kill(15)
        self.temp.__exit__(None, None, None)

    def assert_no_secrets_logged(self, *tickets: str):
        log = self.central.receiver.log.read_text()
        for ticket in tickets:
            self.assertNotIn(ticket, log)
        self.assertNotIn("PRIVATE KEY", log)

    def test_stock_tools_enroll_once_and_the_certificate_works(self):
        c = self.central
        status, cacerts = c.curl("/.well-known/est/cacerts")
        self.assertEqual(status, 200)
        ca_pem = run_bytes("openssl", "pkcs7", "-inform", "DER", "-print_certs", input=base64.decodebytes(cacerts))
        self.assertIn(c.issuing.pem.read_bytes().strip(), ca_pem)
        ticket = c.ticket()
        cert = c.enroll(ticket)
        text = run("openssl", "x509", "-in", cert[0], "-noout", "-subject", "-ext", "extendedKeyUsage,basicConstraints",
                   check=True).stdout
        self.assertRegex(text, rf"subject=O ?= ?medgw gateway, CN ?= ?{FACILITY}")
        self.assertIn("TLS Web Client Authentication", text)
        self.assertIn("CA:FALSE", text)
        run("openssl", "verify", "-CAfile", c.issuing.pem, cert[0], check=True)
        # The new certificate is a facility's client at once (tus OPTIONS: 204).
        self.assertEqual(c.tus_options(cert), 204)
        # A ticket works once.
        csr, _ = c.csr()
        status, answer = c.curl("/.well-known/est/simpleenroll", body=csr, user=f"{FACILITY}:{ticket}")
        self.assertEqual((status, answer.strip()), (401, b"the ticket was used already (it works once): "
                                                          b"ask the central's operator for a new one"))
        listing = c.command("certs").stdout
        self.assertRegex(listing, rf"{FACILITY}\s+{c.serial(cert)}\s+\S+\s+valid\s+ticket")
        # No client certificate: only the enrollment service.
        self.assertEqual(c.tus_options(None), 401)
        self.assert_no_secrets_logged(ticket)

    def test_hostile_requests_are_refused_with_a_reason_and_the_ticket_survives(self):
        c = self.central
        ticket = c.ticket()
        refused = []

        def attempt(body: Path, user: str | None, expect: int, reason: str, *extra):
            status, answer = c.curl("/.well-known/est/simpleenroll", *extra, body=body, user=user)
            self.assertEqual(status, expect, answer)
            self.assertIn(reason, answer.decode())
            refused.append(answer)

        csr, _ = c.csr()
        attempt(csr, None, 401, "HTTP Basic")
        attempt(c.csr(cn=OTHER)[0], f"{OTHER}:{ticket}", 401, "another facility")
        attempt(csr, f"{FACILITY}:{'A' * 43}", 401, "not known")
        attempt(c.csr(cn=OTHER)[0], f"{FACILITY}:{ticket}", 400, f"names CN={OTHER}")
        attempt(c.csr(key="rsa1024")[0], f"{FACILITY}:{ticket}", 400, "at least 2048")
        garbage = c.work / "garbage"
        garbage.write_text(base64.b64encode(b"\x30\x82garbage" * 20).decode())
        attempt(garbage, f"{FACILITY}:{ticket}", 400, "not a PKCS#10")
        not_base64 = c.work / "not-base64"
        not_base64.write_text("this is !!! not base64")
        attempt(not_base64, f"{FACILITY}:{ticket}", 400, "not base64")
        big = c.work / "big"
        big.write_text("A" * (20 << 10))
        status, _ = c.curl("/.well-known/est/simpleenroll", body=big, user=f"{FACILITY}:{ticket}")
        self.assertEqual(status, 413)
        # A signature that does not verify: one byte of the signature flipped.
        good = base64.decodebytes(c.csr()[0].read_bytes())
        forged = c.work / "forged"
        forged.write_text(base64.b64encode(good[:-3] + bytes([good[-3] ^ 1]) + good[-2:]).decode())
        attempt(forged, f"{FACILITY}:{ticket}", 400, "does not verify")
        # None of that used the ticket up; an RSA 2048 key is accepted.
        csr, key = c.csr(key="rsa2048")
        status, answer = c.curl("/.well-known/est/simpleenroll", body=csr, user=f"{FACILITY}:{ticket}")
        self.assertEqual(status, 200, answer)
        cert = c.store_answer(answer, key)
        self.assertEqual(c.tus_options(cert), 204)
        # An expired ticket.
        late = c.ticket(valid="1s")
        time.sleep(1.5)
        attempt(c.csr()[0], f"{FACILITY}:{late}", 401, "expired")
        # Wrong methods and names.
        self.assertEqual(c.curl("/.well-known/est/simpleenroll")[0], 405)
        self.assertEqual(c.curl("/.well-known/est/../files/", "--path-as-is")[0], 404)
        self.assertEqual(c.curl("/.well-known/est/serverkeygen", "-X", "POST")[0], 404)
        self.assert_no_secrets_logged(ticket, late)
        self.assertRegex(c.receiver.log.read_text(), r"event=receiver\.enroll_refused")

    def test_renewal_then_revocation_is_refused_at_once_everywhere(self):
        c = self.central
        first = c.enroll(c.ticket())
        status, answer, second = c.reenroll(first)
        self.assertEqual(status, 200, answer)
        self.assertNotEqual(c.serial(first), c.serial(second))
        listing = c.command("certs").stdout
        self.assertRegex(listing, rf"{c.serial(first)}\s+\S+\s+superseded")
        self.assertRegex(listing, rf"{c.serial(second)}\s+\S+\s+valid\s+renewal")
        # A renewal cannot change the facility.
        csr, _ = c.csr(cn=OTHER)
        status, answer = c.curl("/.well-known/est/simplereenroll", cert=second, body=csr)
        self.assertEqual(status, 400, answer)
        # Revoke the newest: refused within the second, on tus and enrollment.
        out = c.command("revoke", c.serial(second).lower()).stdout
        self.assertIn("revoked", out)
        deadline = time.time() + 3
        while c.tus_options(second) != 401 and time.time() < deadline:
            time.sleep(0.2)
        self.assertEqual(c.tus_options(second), 401)
        status, answer, _ = c.reenroll(second)
        self.assertEqual(status, 401)
        self.assertIn(b"revoked", answer)
        self.assertEqual(c.tus_options(first), 204)  # the other one is not revoked
        c.command("revoke", "--facility", FACILITY)
        deadline = time.time() + 3
        while c.tus_options(first) != 401 and time.time() < deadline:
            time.sleep(0.2)
        self.assertEqual(c.tus_options(first), 401)
        # The CRL lists both, signed by the issuing CA.
        status, crl = c.curl("/.well-known/est/crl")
        self.assertEqual(status, 200)
        crl_file = c.work / "crl.der"
        crl_file.write_bytes(crl)
        text = run("openssl", "crl", "-inform", "DER", "-in", crl_file, "-noout", "-text", check=True).stdout
        for cert in (first, second):
            self.assertIn(c.serial(cert), text.replace(":", "").upper())
        run("openssl", "crl", "-inform", "DER", "-in", crl_file, "-noout", "-CAfile", c.issuing.pem, check=True)
        self.assertTrue((c.receiver.directory / "data" / "crl.pem").exists())
        self.assertRegex(c.command("certs").stdout, rf"{c.serial(first)}\s+\S+\s+revoked")
        # A new ticket brings the facility back.
        third = c.enroll(c.ticket())
        self.assertEqual(c.tus_options(third), 204)
        self.assertRegex(c.receiver.log.read_text(), r"event=receiver\.certificate_revoked")


class ExternalSigner(unittest.TestCase):
    """ca.command: the central's own CA (here the stock openssl) signs; what
    it prints is checked before a gateway gets it."""

    def test_the_command_signs_and_a_wrong_answer_is_refused(self):
        with TempDir() as directory:
            signer = directory / "signer.sh"
            c = Central(directory, signer=signer)

            def sign_as(cn: str):
                signer.write_text(f"exec openssl x509 -req -CA {c.issuing.pem} -CAkey {c.issuing_key} -days 1 "
                                  f"-subj \"/CN={cn}\" 2>/dev/null\n")

            with c.receiver:
                ticket = c.ticket()
                sign_as("139999999")  # a signer that gets the facility wrong
                csr, _ = c.csr()
                status, answer = c.curl("/.well-known/est/simpleenroll", body=csr, user=f"{FACILITY}:{ticket}")
                self.assertEqual(status, 503, answer)
                signer.write_text("exit 1\n")
                status, answer = c.curl("/.well-known/est/simpleenroll", body=csr, user=f"{FACILITY}:{ticket}")
                self.assertEqual(status, 503, answer)
                sign_as("$MEDGW_FACILITY")
                cert = c.enroll(ticket)  # the failures did not use the ticket up
                run("openssl", "verify", "-CAfile", c.issuing.pem, cert[0], check=True)
                self.assertEqual(c.tus_options(cert), 204)
                self.assertEqual(c.curl("/.well-known/est/crl")[0], 404)  # no key: no CRL
                self.assertIn("ca.command", c.receiver.log.read_text())


class RenewalAfterExpiry(unittest.TestCase):
    def test_only_the_newest_renews_and_only_within_grace(self):
        with TempDir() as directory:
            c = Central(directory, validity="4s", grace="4s")
            with c.receiver:
                first = c.enroll(c.ticket())
                status, answer, second = c.reenroll(first)
                self.assertEqual(status, 200, answer)
                time.sleep(5.2)
                # Both expired now; the receiver refuses them for uploads.
                self.assertEqual(c.tus_options(second), 401)
                status, answer, _ = c.reenroll(first)
                self.assertEqual(status, 401)
                self.assertIn(b"not the facility's newest", answer)
                status, answer, third = c.reenroll(second)
                self.assertEqual(status, 200, answer)
                self.assertEqual(c.tus_options(third), 204)
                time.sleep(9)  # past validity (4s) and grace (4s)
                status, answer, _ = c.reenroll(third)
                self.assertEqual(status, 401)
                self.assertIn(b"longer than ca.grace", answer)


if __name__ == "__main__":
    unittest.main()
