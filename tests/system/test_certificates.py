"""Issue 22 end to end: a gateway (`medgw enroll`, `medgw run`) and the
reference central (`medgw-receiver` with ca:) on loopback, real TLS, real
processes. The gateway enrolls with a one-time ticket, renews its short-lived
certificate by itself at 2/3 of its lifetime while a large upload is running
(the upload finishes on its connection, later connections use the new
certificate, health stays 200, no restart), a revoked gateway is refused and
its renewal fails with the central's reason, and a replaced central.ca is
picked up without a restart.

MEDGW_RENEWAL_UPLOAD_MIB sets the upload's size (default 256; the note's run
used 1024)."""
import json
import os
import re
import signal
import threading
import time
import unittest
from pathlib import Path

from daemon_helpers import Daemon, wait_until
from helpers import MEDGW, SAMPLE, TempDir, delivery_config, gateway_key, new_identity, run
from test_daemon import metric
from test_enrollment import FACILITY, Central

SERVICE_BASE = 'status: {listen: "127.0.0.1:0"}\nlog: {level: info}\n'


class Gateway:
    """A hospital with a dpc export folder, its medgw.yaml and its enrollment."""

    def __init__(self, tmp: Path, validity: str, bandwidth: str, renew_at: str = "67%"):
        self.tmp = tmp
        self.data = tmp / "hospital"
        (self.data / "dpc").mkdir(parents=True)
        self.identity, self.recipient = new_identity(tmp)
        self.tls = tmp / "tls"
        self.tls.mkdir(mode=0o700)
        self.renew_at = renew_at
        self.bandwidth = bandwidth
        # The gateway key first (the central must know it; a first pass over
        # the empty export folder makes the state), then the central.
        self.config = self.write_config(port=1)
        run(MEDGW, "collect", "--once", "-c", self.config, check=True)
        self.central = Central(tmp / "c", validity=validity, gateway_keys=[gateway_key(self.config)])
        self.central.receiver.start()
        self.write_config(self.central.receiver.port)

    def write_config(self, port: int, ca: Path | None = None) -> Path:
        pki = self.central.pki if hasattr(self, "central") else None
        sources = f"  - {{name: dpc, type: dpc, path: {self.data / 'dpc'}, settle: 0s, scan_interval: 10s}}\n"
        config = delivery_config(self.tmp, self.recipient, sources, pki or _placeholder_pki(self.tmp), port,
                                 extra=SERVICE_BASE, cert=(self.tls / "client.pem", self.tls / "client.key"),
                                 ca=ca)
        text = config.read_text().replace("  chunk: 1MiB\n", f"  chunk: 4MiB\n  bandwidth: {self.bandwidth}\n"
                                                               f"  renew_at: {self.renew_at}\n")
        config.write_text(text)
        return config

    def enroll(self) -> str:
        ticket = self.tmp / "131234567.ticket"
        ticket.write_text(self.central.command("ticket", "--facility", FACILITY).stdout)
        result = run(MEDGW, "enroll", "-c", self.config, "--ticket-file", ticket)
        if result.returncode != 0:
            raise AssertionError(f"medgw enroll: {result.returncode}\n{result.stdout}\n{result.stderr}")
        return self.serial()

    def serial(self) -> str:
        return run("openssl", "x509", "-in", self.tls / "client.pem", "-noout", "-serial",
                   check=True).stdout.strip().split("=")[1]


_placeholders: dict = {}


def _placeholder_pki(tmp: Path):
    """Only to write a first config whose gateway key is read (no connection is made with it)."""
    from pki import Pki
    if tmp not in _placeholders:
        _placeholders[tmp] = Pki(tmp / "placeholder-pki")
    return _placeholders[tmp]


class HealthWatch:
    """Polls /healthz every 0.3 s in the background and keeps every status."""

    def __init__(self, daemon: Daemon):
        self.daemon = daemon
        self.statuses: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)

    def poll(self):
        while not self.stop.is_set():
            self.statuses.append(self.daemon.get("/healthz")[0])
            time.sleep(0.3)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def delivered(daemon: Daemon) -> float:
    return metric(daemon.get("/metrics")[1], "medgw_objects_delivered_total")


class RenewalDuringUpload(unittest.TestCase):
    def test_renewal_at_two_thirds_while_a_large_upload_runs(self):
        size_mib = int(os.environ.get("MEDGW_RENEWAL_UPLOAD_MIB", "256"))
        # The upload takes about 64 s; the certificate (valid from a minute
        # before it is issued) is due at 2/3 of 60 + 90 s: about 40 s after
        # enrollment, while the upload runs.
        with TempDir() as tmp:
            gw = Gateway(tmp, validity="90s", bandwidth=f"{max(1, size_mib // 64)}MiB")
            self.addCleanup(gw.central.receiver.kill, 15)  # never left running after the test
            first = gw.enroll()
            self.assertEqual(gw.central.tus_options((gw.tls / "client.pem", gw.tls / "client.key")), 204)
            self.assertEqual((gw.tls / "client.key").stat().st_mode & 0o077, 0)
            big = gw.data / "dpc" / "export-large.bin"
            with open(big, "wb") as out:
                for _ in range(size_mib):
                    out.write(os.urandom(1 << 20))
            daemon = Daemon(gw.config, tmp).start()
            try:
                with HealthWatch(daemon) as health:
                    wait_until(lambda: metric(daemon.get("/metrics")[1], "medgw_upload_sent_bytes_total") > (8 << 20),
                               120, "the large upload to be under way")
                    wait_until(lambda: "event=cert.renewed" in daemon.log_text(), 120, "the renewal")
                    sent_at_renewal = metric(daemon.get("/metrics")[1], "medgw_upload_sent_bytes_total")
                    self.assertLess(sent_at_renewal, size_mib << 20, "the renewal came after the upload")
                    self.assertEqual(delivered(daemon), 0)
                    second = gw.serial()
                    self.assertNotEqual(first, second)
                    wait_until(lambda: delivered(daemon) >= 1, 240, "the large upload to complete")
                    # Later connections use the new certificate: with the old one
                    # revoked, the next object still arrives.
                    gw.central.command("revoke", first)
                    time.sleep(1.5)
                    (gw.data / "dpc" / "export-small.bin").write_bytes(os.urandom(64 << 10))
                    wait_until(lambda: delivered(daemon) >= 2, 120, "an upload after the renewal")
                self.assertTrue(health.statuses)
                self.assertEqual(set(health.statuses), {200}, "health left 200")
                text = daemon.get("/metrics")[1]
                self.assertEqual(metric(text, "medgw_certificate_renewals_total"), 1)
                self.assertEqual(metric(text, "medgw_certificate_renewal_failures_total"), 0)
                self.assertGreater(metric(text, "medgw_certificate_last_renewal_timestamp_seconds"), time.time() - 600)
                self.assertIsNone(daemon.process.poll(), "the service restarted")
                objects = re.search(r"(\d+) objects", gw.central.receiver.status())
                self.assertEqual(int(objects.group(1)), 2)
                listing = gw.central.command("certs").stdout
                self.assertRegex(listing, rf"{first}\s+\S+\s+revoked\s+ticket")
                self.assertRegex(listing, rf"{second}\s+\S+\s+valid\s+renewal")
                self.assertIn("event=receiver.renewed", gw.central.receiver.log.read_text())
                for log in (daemon.log_text(), gw.central.receiver.log.read_text()):
                    self.assertNotIn("PRIVATE KEY", log)
                    self.assertNotRegex(log, r"ticket: \S{43}")
            finally:
                daemon.stop(signal.SIGTERM)


class RevocationAndCaReload(unittest.TestCase):
    def test_a_revoked_gateway_is_refused_and_a_new_ca_bundle_is_used_without_restart(self):
        with TempDir() as tmp:
            gw = Gateway(tmp, validity="1h", bandwidth="0", renew_at="95%")
            self.addCleanup(gw.central.receiver.kill, 15)  # never left running after the test
            serial = gw.enroll()
            (gw.data / "dpc" / "a.bin").write_bytes(os.urandom(32 << 10))
            daemon = Daemon(gw.config, tmp).start()
            try:
                wait_until(lambda: delivered(daemon) >= 1, 60, "the first upload")
                # A CA bundle with another CA added (a CA rotation): picked up, uploads go on.
                bundle = tmp / "ca-bundle.pem"
                bundle.write_bytes(gw.central.pki.other_ca.pem.read_bytes() + gw.central.pki.ca.pem.read_bytes())
                text = gw.config.read_text().replace(f"ca: {gw.central.pki.ca.pem}", f"ca: {bundle}")
                gw.config.write_text(text)
                daemon.send(signal.SIGHUP)
                wait_until(lambda: "event=config.reloaded" in daemon.log_text(), 20, "the reload")
                (gw.data / "dpc" / "b.bin").write_bytes(os.urandom(32 << 10))
                wait_until(lambda: delivered(daemon) >= 2, 60, "an upload with the new bundle")
                # The bundle's file replaced by one without the central's CA: the
                # next connections refuse the central, with no restart and no reload.
                time.sleep(1.1)  # a new mtime
                bundle.write_bytes(gw.central.pki.other_ca.pem.read_bytes())
                (gw.data / "dpc" / "c.bin").write_bytes(os.urandom(32 << 10))
                refused = daemon.log_text().count("event=upload.tls_refused")
                wait_until(lambda: daemon.log_text().count("event=upload.tls_refused") > refused, 60,
                           "an upload refused by the changed CA file")
                self.assertEqual(delivered(daemon), 2, "an upload went to a central the new CA file does not trust")
                bundle.write_bytes(gw.central.pki.ca.pem.read_bytes())
                wait_until(lambda: delivered(daemon) >= 3, 90, "the upload once the CA file is right again")
                # Revoked: refused at once, and the renewal fails with the central's reason.
                gw.central.command("revoke", serial)
                time.sleep(1.5)
                self.assertEqual(gw.central.tus_options((gw.tls / "client.pem", gw.tls / "client.key")), 401)
                gw.config.write_text(gw.config.read_text().replace("renew_at: 95%", "renew_at: 1%"))
                daemon.send(signal.SIGHUP)
                wait_until(lambda: "event=cert.renewal_failed" in daemon.log_text(), 30, "the refused renewal")
                line = next(l for l in daemon.log_text().splitlines() if "event=cert.renewal_failed" in l)
                self.assertIn("status=401", line)
                self.assertIn("revoked", line)
                self.assertEqual(gw.serial(), serial, "a refused renewal must leave the files alone")
                status = json.loads(daemon.get("/status")[1])
                self.assertIn("revoked", status["daemon"]["certificate"].get("last_failure", ""))
            finally:
                daemon.stop(signal.SIGTERM)


if __name__ == "__main__":
    unittest.main()
