"""medgw backup to the central's write-once backup endpoint (issue 16):
`backup.repository: https://…/backup/` against the real medgw-receiver over
mutual TLS on loopback. What the gateway's own certificate may and may not do
there is checked with the stock curl (nobody here wrote it); retention runs at
the central with no key; a receiver killed with SIGKILL in the middle of a
backup loses nothing."""
import os
import re
import signal
import subprocess
import time
import unittest
from pathlib import Path

from daemon_helpers import Daemon, wait_until
from helpers import MEDGW, RECEIVER, SAMPLE, Receiver, delivery_config, gateway_key, run
from pki import Pki
from test_backup import (SNAPSHOT_LINE, TempDir, clear_parts, keep_copy, recovery_identity, tree_state)
from test_collect_ssmix2 import assert_no_patient_data

FACILITY = "131234567"


def sources_of(data: Path) -> str:
    return (f"  - {{name: ssmix2, type: ssmix2, path: {data / 'ssmix2' / 'std'}, "
            f"extended_path: {data / 'ssmix2' / 'ext'}}}\n"
            f"  - {{name: dpc, type: dpc, path: {data / 'dpc'}}}\n"
            f"  - {{name: receipt, type: receipt, path: {data / 'receipt'}}}\n")


class Central:
    """A hospital's sample data, its recovery key, and a gateway config that
    backs up to a receiver's backup endpoint."""

    def __init__(self, tmp: Path, patients: int = 30, seed: int = 3):
        self.tmp = tmp
        self.pki = Pki(tmp / "pki")
        self.data = tmp / "hospital"
        run(SAMPLE, "--out", self.data, "--patients", patients, "--seed", seed, "--months", "2", check=True)
        self.identity, self.recipient = recovery_identity(tmp)
        # The gateway's signing key is made with its state (its first collection).
        first = delivery_config(tmp, self.recipient, sources_of(self.data), self.pki, port=1)
        run(MEDGW, "collect", "--once", "-c", first, check=True)
        self.key = gateway_key(first)
        self.area = tmp / "central" / "backups"

    def receiver(self, quota: str = "1GiB") -> Receiver:
        return Receiver(self.tmp / "central", self.pki, [self.key], landing=False,
                        extra=f"backup: {{dir: {self.area}, quota: {quota}}}\n")

    def config(self, port: int, central_extra: str = "", backup_extra: str = "", extra: str = "") -> Path:
        config = delivery_config(self.tmp, self.recipient, sources_of(self.data), self.pki, port,
                                 extra=(f"backup:\n  repository: https://localhost:{port}/backup/\n"
                                        f"  recipients: [{self.recipient}]\n{backup_extra}"
                                        f"log:\n  level: debug\n  file: {self.tmp / 'medgw.log'}\n" + extra))
        if central_extra:
            config.write_text(config.read_text().replace("  chunk: 1MiB\n", "  chunk: 1MiB\n" + central_extra))
        return config

    def repository(self) -> Path:
        return self.area / FACILITY

    def curl(self, port: int, method: str, name: str, body: Path | None = None, *extra: str) -> int:
        """The gateway's own certificate and key, from the stock curl: the
        HTTP status the endpoint answers."""
        cert, key = self.pki.client
        args = ["curl", "-sS", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", str(self.pki.ca.pem),
                "--cert", str(cert), "--key", str(key), "-X", method, *extra]
        if body is not None:
            args += ["--data-binary", f"@{body}"]
        args.append(f"https://localhost:{port}/backup/{name}")
        return int(subprocess.run(args, capture_output=True, text=True, check=True).stdout)


def backup_run(config: Path, test: unittest.TestCase) -> tuple[str, str]:
    result = run(MEDGW, "backup", "run", "-c", config)
    test.assertEqual(result.returncode, 0, result.stdout + result.stderr)
    return SNAPSHOT_LINE.search(result.stdout).group(1), result.stdout + result.stderr


def verify(repository: Path, identity: Path, test: unittest.TestCase) -> str:
    result = run(MEDGW, "backup", "verify", "--repository", repository, "--identity", identity)
    test.assertEqual(result.returncode, 0, result.stdout + result.stderr)
    return result.stdout + result.stderr


class BackupAtCentral(unittest.TestCase):
    def test_round_trip_write_once_and_retention_at_the_central(self):
        with TempDir() as tmp:
            central = Central(tmp)
            with central.receiver() as receiver:
                config = central.config(receiver.port)
                outputs = ""
                snapshots = []
                for round_number in range(2):
                    if round_number > 0:
                        run(SAMPLE, "--mutate", central.data, "--changes", "20", "--seed", "9", check=True)
                    snapshot, output = backup_run(config, self)
                    outputs += output
                    snapshots.append((snapshot, keep_copy(central.data, tmp / f"kept-{round_number}")))
                repository = central.repository()
                self.assertTrue((repository / "config").is_file())
                self.assertEqual(list((repository / "locks").iterdir()), [], "the run's lease was given back")

                # The central's folder is a repository the recovery key restores.
                for index, (snapshot, kept) in enumerate(snapshots):
                    target = tmp / f"restored-{index}"
                    result = run(MEDGW, "backup", "restore", "--repository", repository, "--identity",
                                 central.identity, "--snapshot", snapshot, "--target", target)
                    self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
                    self.assertEqual(tree_state(target), tree_state(kept), f"snapshot {index} differs")

                listing = run(RECEIVER, "backup", "list", "--facility", FACILITY, "-c", receiver.config)
                self.assertEqual(listing.returncode, 0, listing.stderr)
                for snapshot, _ in snapshots:
                    self.assertIn(snapshot, listing.stdout)
                outputs += listing.stdout
                # The gateway reads nothing back: it says where list/verify run.
                refused = run(MEDGW, "backup", "list", "-c", config)
                self.assertEqual(refused.returncode, 2)
                self.assertIn("medgw-receiver backup", refused.stderr)

                # Acceptance 2: the gateway's own certificate cannot overwrite,
                # delete or read back anything stored.
                pack = next(p for p in sorted((repository / "packs").rglob("*")) if p.is_file())
                pack_name = pack.relative_to(repository).as_posix()
                snapshot_name = f"snapshots/{snapshots[0][0]}.age"
                stored = {name: (repository / name).read_bytes() for name in (pack_name, snapshot_name, "config")}
                other = tmp / "other.bin"
                other.write_bytes(b"ransomware" * 1000)
                port = receiver.port
                self.assertEqual(central.curl(port, "PUT", pack_name, other), 409)
                self.assertEqual(central.curl(port, "PUT", snapshot_name, other), 409)
                self.assertEqual(central.curl(port, "PUT", "config", other), 409)
                self.assertEqual(central.curl(port, "PUT", pack_name, pack), 200, "the same bytes again are fine")
                for name in stored:
                    self.assertEqual(central.curl(port, "DELETE", name), 405, name)
                self.assertEqual(central.curl(port, "GET", pack_name), 403)
                self.assertEqual(central.curl(port, "GET", snapshot_name), 403)
                self.assertEqual(central.curl(port, "PUT", "../receiver.yaml", other), 404)
                self.assertEqual(central.curl(port, "PUT", "packs/../../receiver.yaml", other), 404)
                self.assertEqual(central.curl(port, "PUT", "snapshots/x.age", other), 404)
                self.assertEqual(central.curl(port, "PUT", "packs/ab/" + "cd" * 16, other), 404, "shard must match")
                self.assertEqual(central.curl(port, "PUT", "packs/ab/" + "ab" * 16, other, "-H",
                                              "Transfer-Encoding: chunked"), 411)
                for name, content in stored.items():
                    self.assertEqual((repository / name).read_bytes(), content, f"{name} changed")
                self.assertFalse((tmp / "central" / "receiver.yaml").read_bytes().startswith(b"ransomware"))
                self.assertIn("event=receiver.backup_refused", receiver.log.read_text())

                # Retention at the central, no key: the older snapshot of the
                # day goes, the newest stays whole.
                forget = run(RECEIVER, "backup", "forget", "--facility", FACILITY, "--keep-daily", "1", "-c",
                             receiver.config)
                self.assertEqual(forget.returncode, 0, forget.stdout + forget.stderr)
                self.assertIn(f"FORGOT {snapshots[0][0]}", forget.stdout)
                self.assertIn(f"KEPT {snapshots[1][0]}", forget.stdout)
                outputs += forget.stdout + verify(repository, central.identity, self)
                # The gateway's next run after retention completes, and is whole.
                snapshot, output = backup_run(config, self)
                outputs += output + verify(repository, central.identity, self)

                # No patient data at the central (log, clear parts) nor in any output.
                outputs += receiver.log.read_text() + clear_parts(repository) + (tmp / "medgw.log").read_text()
                assert_no_patient_data(self, outputs, central.data / "patients.tsv")
                # Nothing on the gateway decrypts.
                for path in [config, *(tmp / "state").rglob("*")]:
                    if path.is_file():
                        self.assertNotIn(b"AGE-SECRET-KEY-", path.read_bytes().upper(), path)

    def test_quota_then_a_receiver_killed_mid_backup(self):
        with TempDir() as tmp:
            central = Central(tmp, patients=40, seed=4)
            with central.receiver(quota="64KiB") as receiver:
                config = central.config(receiver.port)
                full = run(MEDGW, "backup", "run", "-c", config)
                self.assertEqual(full.returncode, 1, full.stdout + full.stderr)
                self.assertIn("quota", full.stderr)
                self.assertIn("event=receiver.backup_quota", receiver.log.read_text())
            # A larger quota; a slow line (central.bandwidth) so that the
            # receiver dies while a pack is on its way.
            receiver = central.receiver(quota="1GiB")
            receiver.start()
            try:
                config = central.config(receiver.port, central_extra="  bandwidth: 128KiB\n")
                backup = subprocess.Popen([str(MEDGW), "backup", "run", "-c", str(config)], stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True)
                incoming = central.repository() / "tmp"
                deadline = time.time() + 60
                while time.time() < deadline and not any(p.stat().st_size > 0 for p in incoming.glob("new-*")):
                    time.sleep(0.05)
                self.assertTrue(any(incoming.glob("new-*")), "no pack was on its way")
                receiver.kill(signal.SIGKILL)
                receiver.restart_on_same_port()  # the gateway retries, then goes on
                stdout, stderr = backup.communicate(timeout=300)
                if backup.returncode != 0:  # the retries ran out: the next run goes on
                    self.assertIn("repository_unreachable", stderr)
                    stdout = run(MEDGW, "backup", "run", "-c", config, check=True).stdout
                self.assertRegex(stdout, SNAPSHOT_LINE)
                self.assertEqual([p.name for p in incoming.glob("new-*")], [], "a half-received body stayed")
                verify(central.repository(), central.identity, self)
                target = tmp / "restored"
                result = run(MEDGW, "backup", "restore", "--repository", central.repository(), "--identity",
                             central.identity, "--target", target)
                self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
                self.assertEqual(tree_state(target), tree_state(keep_copy(central.data, tmp / "kept")))
            finally:
                receiver.kill(signal.SIGTERM)


    def test_a_scheduled_run_waits_for_central_window(self):
        """The schedule falls outside central.window: the run waits (nothing
        at the central) and starts once the window includes the time (here: a
        reloaded config)."""
        with TempDir() as tmp:
            central = Central(tmp, patients=5, seed=5)
            now = time.localtime()
            if now.tm_sec > 45:  # the job checks every 5 s: keep inside the minute
                time.sleep(61 - now.tm_sec)
                now = time.localtime()
            minute = now.tm_hour * 60 + now.tm_min
            clock = lambda m: f"{(m // 60) % 24:02d}:{m % 60:02d}"
            closed = f"  window: {clock(minute + 120)}-{clock(minute + 180)}\n"
            opened = f"  window: {clock(minute + 1440 - 60)}-{clock(minute + 60)}\n"
            with central.receiver() as receiver:
                config = central.config(receiver.port, central_extra=closed,
                                        backup_extra=f'  schedule: "{clock(minute)}"\n',
                                        extra='status: {listen: "127.0.0.1:0"}\n')
                self.assertEqual(run(MEDGW, "check-config", "-c", config).returncode, 0, config.read_text())
                with Daemon(config, tmp) as daemon:
                    time.sleep(8)  # more than one check of the job
                    self.assertIn('"runs_ok":0', daemon.get("/status")[1])
                    self.assertFalse((central.repository() / "config").exists(), "ran outside central.window")
                    config.write_text(config.read_text().replace(closed, opened))
                    daemon.send(signal.SIGHUP)
                    wait_until(lambda: '"runs_ok":1' in daemon.get("/status")[1], timeout=60,
                               what="the scheduled backup once the window opened")
                    self.assertEqual(daemon.stop(), 0)
                listing = run(RECEIVER, "backup", "list", "--facility", FACILITY, "-c", receiver.config, check=True)
                self.assertEqual(len(re.findall(r"^[0-9a-f]{8}-", listing.stdout, re.M)), 1, listing.stdout)


if __name__ == "__main__":
    unittest.main()
