"""The service (issue 8): `medgw run` driven as systemd would drive it, with a
NOTIFY_SOCKET the test reads, against medgw-receiver on loopback with a
throwaway PKI. Files added while it runs are delivered; SIGHUP reloads a valid
config and keeps the old one on a bad one; SIGTERM mid-upload stops cleanly
and the next start completes delivery; the watchdog is pinged; /healthz,
/metrics and /status say what is going on."""
import json
import os
import re
import shutil
import signal
import subprocess
import time
import unittest
from pathlib import Path

from daemon_helpers import Daemon, free_port, wait_until
from helpers import RECEIVER, SAMPLE, Receiver, TempDir, delivery_config, gateway_key, new_identity, run, snapshot
from pki import Pki
from test_collect_ssmix2 import assert_no_patient_data
from test_delivery import all_sources


def sources(data: Path, scan_interval: str = "10s") -> str:
    return all_sources(data, scan_interval)

SERVICE_BASE = 'status: {listen: "127.0.0.1:0"}\nlog: {level: info}\n'


class Site:
    """A generated hospital, a throwaway PKI, the central's age identity and a
    free port for the central; config() writes the service's medgw.yaml."""

    def __init__(self, tmp: Path, *sample_args: str):
        self.tmp = tmp
        self.data = tmp / "hospital"
        run(SAMPLE, "--out", self.data, *sample_args, check=True)
        self.pki = Pki(tmp / "pki")
        self.identity, self.recipient = new_identity(tmp)
        self.port = free_port()

    def config(self, source_lines: str | None = None, extra: str = "", **kwargs) -> Path:
        return delivery_config(self.tmp, self.recipient, source_lines or sources(self.data), self.pki, self.port,
                               extra=SERVICE_BASE + extra, **kwargs)


def landed_equals_source(receiver: Receiver, data: Path) -> bool:
    landed = receiver.landed()
    return (snapshot(landed / "ssmix2") == snapshot(data / "ssmix2" / "std")
            and snapshot(landed / "ssmix2-ext") == snapshot(data / "ssmix2" / "ext")
            and snapshot(landed / "dpc") == snapshot(data / "dpc")
            and snapshot(landed / "receipt") == snapshot(data / "receipt"))


def metric(text: str, name: str, labels: str = "") -> float:
    pattern = "^" + re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" (\S+)$"
    match = re.search(pattern, text, re.M)
    if not match:
        raise AssertionError(f"no {name}{{{labels}}} in /metrics")
    return float(match.group(1))


# The text exposition format 0.0.4, checked line by line (promtool does it
# too when installed).
METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE_LINE = re.compile(rf"^({METRIC_NAME})(?:\{{{LABEL}(?:,{LABEL})*\}})? (NaN|[+-]Inf|-?[0-9.]+(?:e[+-]?[0-9]+)?)$")


def check_exposition_format(test: unittest.TestCase, text: str) -> int:
    test.assertTrue(text.endswith("\n"))
    families: dict[str, str] = {}
    helped: set[str] = set()
    samples = 0
    current = None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            test.assertRegex(name, f"^{METRIC_NAME}$")
            test.assertNotIn(name, helped, f"HELP twice for {name}")
            helped.add(name)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            test.assertIn(kind, ("counter", "gauge"))
            test.assertNotIn(name, families, f"TYPE twice for {name}")
            test.assertIn(name, helped, f"TYPE before HELP for {name}")
            if kind == "counter":
                test.assertTrue(name.endswith("_total"), f"counter {name} must end in _total")
            families[name] = kind
            current = name
        else:
            match = SAMPLE_LINE.match(line)
            test.assertIsNotNone(match, f"not a valid sample line: {line!r}")
            test.assertEqual(match.group(1), current, f"sample {line!r} outside its family")
            if families[current] == "counter":
                test.assertGreaterEqual(float(match.group(2)), 0)
            samples += 1
    return samples


class Lifecycle(unittest.TestCase):
    def test_run_reload_stop_restart(self):
        """Acceptance 1, and the status endpoints on the way."""
        with TempDir() as tmp:
            site = Site(tmp, "--patients", "12", "--seed", "31", "--months", "1")
            data, pki, identity, port = site.data, site.pki, site.identity, site.port
            config = site.config()
            daemon = Daemon(config, tmp, watchdog_usec=1_000_000)
            daemon.start()
            try:
                # READY=1 came first (start waited for it); the watchdog is pinged from the loop.
                daemon.wait_message(lambda m: "WATCHDOG=1" in m, timeout=10)
                pings = sum("WATCHDOG=1" in m for m in daemon.messages)
                time.sleep(3.2)  # every 0.5 s: about 6
                daemon.read_messages(0.1)
                self.assertGreaterEqual(sum("WATCHDOG=1" in m for m in daemon.messages) - pings, 3)

                # No central yet: spooled, not delivered; health stays fine (failing < 30 min).
                wait_until(lambda: json.loads(daemon.get("/status")[1])["spool"]["ready_objects"] > 0, 60, "spooling")
                code, body = daemon.get("/healthz")
                self.assertEqual((code, body), (200, "ok\n"))

                with Receiver(tmp / "central", pki, [gateway_key(config)], identity=identity, port=port) as receiver:
                    wait_until(lambda: landed_equals_source(receiver, data), 120, "the first delivery")

                    # Files added while running are delivered.
                    run(SAMPLE, "--mutate", data, "--changes", "25", "--seed", "8", check=True)
                    wait_until(lambda: landed_equals_source(receiver, data), 120, "the changes to land")

                    # SIGHUP with a valid config: RELOADING=1 then READY=1; applied.
                    daemon.messages.clear()
                    config.write_text(config.read_text().replace("scan_interval: 10s", "scan_interval: 20s"))
                    daemon.send(signal.SIGHUP)
                    daemon.wait_message(lambda m: "RELOADING=1" in m)
                    daemon.wait_message(lambda m: "READY=1" in m)
                    wait_until(lambda: "event=config.reloaded" in daemon.log_text(), 10, "config.reloaded")

                    # SIGHUP with a broken config: logged with file:line, the old one stays in force.
                    good = config.read_text()
                    daemon.messages.clear()
                    config.write_text(good + "central_typo: 1\n")
                    daemon.send(signal.SIGHUP)
                    ready = daemon.wait_message(lambda m: "READY=1" in m)
                    self.assertIn("reload failed", ready)
                    wait_until(lambda: "event=config.reload_failed" in daemon.log_text(), 10, "config.reload_failed")
                    self.assertRegex(daemon.log_text(), rf"{re.escape(str(config))}:\d+:\d+")
                    self.assertIsNone(daemon.process.poll())
                    self.assertEqual(daemon.get("/healthz")[0], 200)
                    run(SAMPLE, "--mutate", data, "--changes", "10", "--seed", "9", check=True)
                    wait_until(lambda: landed_equals_source(receiver, data), 120, "delivery under the old config")
                    config.write_text(good)

                    # log.level and spool.* apply at a reload (no restart): at warn the passes are not logged.
                    offset = len(daemon.log_text())
                    daemon.messages.clear()
                    config.write_text(good.replace("log: {level: info}", "log: {level: warn}")
                                      + "spool: {max_bytes: 5GiB, min_free: 1GiB}\n")
                    daemon.send(signal.SIGHUP)
                    daemon.wait_message(lambda m: "READY=1" in m)
                    self.assertEqual(metric(daemon.get("/metrics")[1], "medgw_spool_max_bytes"), 5 << 30)
                    run(SAMPLE, "--mutate", data, "--changes", "5", "--seed", "10", check=True)
                    wait_until(lambda: landed_equals_source(receiver, data), 120, "delivery at log level warn")
                    quiet = daemon.log_text()[offset:]
                    self.assertNotIn("config.needs_restart", quiet)
                    after = quiet.split("event=config.reloading", 1)[1].split("\n", 1)[1]  # logged at info, before
                    self.assertNotIn("event=collect.pass_finished", after)
                    self.assertNotIn("level=info", after)
                    daemon.messages.clear()
                    config.write_text(good)
                    daemon.send(signal.SIGHUP)
                    daemon.wait_message(lambda m: "READY=1" in m)
                    wait_until(lambda: "event=collect.pass_finished" in daemon.log_text()[offset:], 60,
                               "passes logged again at info")

                    # /metrics and /status say what happened.
                    code, text = daemon.get("/metrics")
                    self.assertEqual(code, 200)
                    self.assertGreater(check_exposition_format(self, text), 40)
                    if shutil.which("promtool"):
                        checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                                                 text=True)
                        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)
                    delivered = metric(text, "medgw_objects_delivered_total")
                    self.assertGreater(delivered, 0)
                    self.assertEqual(metric(text, "medgw_healthy"), 1)
                    self.assertEqual(metric(text, "medgw_spool_objects", 'state="ready"'), 0)
                    self.assertEqual(metric(text, "medgw_config_reloads_total", 'result="failed"'), 1)
                    self.assertGreater(metric(text, "medgw_files_collected_total", 'source="ssmix2",change="new"'), 0)
                    self.assertGreater(metric(text, "medgw_certificate_expiry_seconds"), 300 * 86400)
                    self.assertGreater(metric(text, "medgw_last_upload_success_timestamp_seconds"), time.time() - 600)
                    status = json.loads(daemon.get("/status")[1])
                    self.assertTrue(status["daemon"]["healthy"])
                    self.assertEqual(status["delivered"]["objects"], delivered)
                    cli = json.loads(run(os.fspath(daemon_binary()), "status", "--json", "-c", config, check=True).stdout)
                    # The same document (free disk space moves between the two reads).
                    drop_free = lambda spool: {k: v for k, v in spool.items() if k != "free_bytes"}  # noqa: E731
                    self.assertEqual(drop_free(cli["spool"]), drop_free(status["spool"]))
                    self.assertEqual(set(cli), set(status) - {"daemon"})
                    self.assertEqual(daemon.get("/nothing")[0], 404)

                    # SIGTERM mid-upload: a large file, sent slowly.
                    config.write_text(good.replace("  chunk: 1MiB\n", "  chunk: 1MiB\n  bandwidth: 3MiB\n"))
                    reloaded = daemon.log_text().count("event=config.reloaded")
                    daemon.send(signal.SIGHUP)
                    wait_until(lambda: daemon.log_text().count("event=config.reloaded") > reloaded, 10, "bandwidth reload")
                    big = next((data / "ssmix2" / "ext").rglob("*/*/*/*/*"))
                    big = big.parent / "big-scan.bin" if big.is_file() else big / "big-scan.bin"
                    big.write_bytes(os.urandom(24 << 20))
                    before = metric(daemon.get("/metrics")[1], "medgw_upload_sent_bytes_total")
                    wait_until(lambda: metric(daemon.get("/metrics")[1], "medgw_upload_sent_bytes_total") > before + (4 << 20),
                               60, "the large upload to be under way")
                    daemon.messages.clear()
                    started = time.time()
                    self.assertEqual(daemon.stop(signal.SIGTERM), 0, daemon.log_text()[-2000:])
                    self.assertLess(time.time() - started, 20)
                    self.assertTrue(any("STOPPING=1" in m for m in daemon.messages) or "event=service.stopping" in daemon.log_text())
                    self.assertIn("event=service.stopped", daemon.log_text())
                    self.assertFalse(landed_equals_source(receiver, data))

                    # The next start completes delivery.
                    daemon.start()
                    wait_until(lambda: landed_equals_source(receiver, data), 120, "delivery after the restart")
                    self.assertIn("no gaps", receiver.status())
                    self.assertEqual(daemon.stop(signal.SIGTERM), 0)
                outputs = daemon.log_text() + receiver.log.read_text() + text + json.dumps(status)
                assert_no_patient_data(self, outputs, data / "patients.tsv")
            finally:
                daemon.stop(signal.SIGKILL)


    def test_change_hints_bring_the_next_pass_forward(self):
        """inotify: with a scan_interval of an hour, new files still land within seconds."""
        with TempDir() as tmp:
            site = Site(tmp, "--patients", "4", "--seed", "12", "--months", "1")
            config = site.config(sources(site.data, scan_interval="1h"))
            with Daemon(config, tmp) as daemon:
                with Receiver(tmp / "central", site.pki, [gateway_key(config)], identity=site.identity,
                              port=site.port) as receiver:
                    wait_until(lambda: landed_equals_source(receiver, site.data), 60, "the first delivery")
                    self.assertRegex(daemon.log_text(), r"event=hints\.watching .*directories=[1-9]")
                    run(SAMPLE, "--mutate", site.data, "--changes", "12", "--seed", "4", check=True)
                    started = time.time()
                    wait_until(lambda: landed_equals_source(receiver, site.data), 45,
                               "the changes to land long before the next scheduled pass (1h)")
                    print(f"\nchange hints: changes landed {time.time() - started:.1f} s after they were made "
                          f"(scan_interval 1h)", flush=True)


class Health(unittest.TestCase):
    """Acceptance 3: /healthz flips to 503 and back."""

    def test_spool_full_pauses_collection_and_resumes(self):
        with TempDir() as tmp:
            site = Site(tmp, "--patients", "6", "--seed", "41", "--months", "1")
            data = site.data
            pki, identity, port = site.pki, site.identity, site.port
            # Incompressible files, 20 MiB each: four will not fit a 64 MiB spool.
            ext_folder = next(p for p in (data / "ssmix2" / "ext").rglob("*") if p.is_dir() and not any(c.is_dir() for c in p.iterdir()))
            for i in range(5):
                (ext_folder / f"scan-{i}.bin").write_bytes(os.urandom(20 << 20))
            config = site.config(extra="spool: {max_bytes: 64MiB, min_free: 16MiB}\n")
            with Daemon(config, tmp) as daemon:
                def degraded():
                    code, body = daemon.get("/healthz")
                    return body if code == 503 and "spool" in body and "full" in body else None
                body = wait_until(degraded, 90, "/healthz 503 for a full spool")
                self.assertNotIn("certificate", body)
                text = daemon.get("/metrics")[1]
                self.assertEqual(metric(text, "medgw_healthy"), 0)
                self.assertLessEqual(metric(text, "medgw_spool_bytes"), 64 << 20)
                self.assertGreater(metric(text, "medgw_spool_bytes"), 20 << 20)
                self.assertGreater(metric(text, "medgw_collection_passes_total", 'source="ssmix2-ext",outcome="paused"'), 0)
                status = json.loads(daemon.get("/status")[1])["daemon"]
                self.assertFalse(status["healthy"])
                self.assertTrue(any("full" in problem for problem in status["problems"]), status)
                # The central comes back: uploads free room, collection resumes by itself, health recovers.
                with Receiver(tmp / "central", pki, [gateway_key(config)], identity=identity, port=port) as receiver:
                    wait_until(lambda: landed_equals_source(receiver, data), 180, "everything to land")
                    wait_until(lambda: daemon.get("/healthz")[0] == 200, 30, "/healthz 200 again")
                    self.assertIn("no gaps", receiver.status())
                self.assertIn("event=health.degraded", daemon.log_text())
                self.assertIn("event=health.ok", daemon.log_text())

    def test_a_file_larger_than_the_whole_spool_is_still_delivered(self):
        """Alone in an empty spool; refused, it would keep its source paused for ever."""
        with TempDir() as tmp:
            site = Site(tmp, "--patients", "2", "--seed", "43", "--only", "ssmix2")
            data = site.data
            ext_folder = next(p for p in (data / "ssmix2" / "ext").rglob("*") if p.is_dir() and not any(c.is_dir() for c in p.iterdir()))
            (ext_folder / "huge-scan.bin").write_bytes(os.urandom(70 << 20))
            sources = (f"  - {{name: ssmix2, type: ssmix2, path: {data / 'ssmix2' / 'std'}, "
                       f"extended_path: {data / 'ssmix2' / 'ext'}, settle: 0s, scan_interval: 10s}}\n")
            config = site.config(sources, extra="spool: {max_bytes: 64MiB, min_free: 16MiB}\n")
            with Daemon(config, tmp) as daemon, \
                    Receiver(tmp / "central", site.pki, [gateway_key(config)], identity=site.identity,
                             port=site.port) as receiver:
                wait_until(lambda: snapshot(receiver.landed() / "ssmix2-ext") == snapshot(data / "ssmix2" / "ext"),
                           180, "the large file to land")
                self.assertEqual(snapshot(receiver.landed() / "ssmix2"), snapshot(data / "ssmix2" / "std"))
                self.assertIn("event=spool.oversized_object", daemon.log_text())
                wait_until(lambda: daemon.get("/healthz")[0] == 200, 30, "/healthz 200 once it is delivered")
                self.assertIn("no gaps", receiver.status())

    def test_certificate_expired_and_expiring(self):
        with TempDir() as tmp:
            site = Site(tmp, "--patients", "2", "--seed", "5", "--only", "ssmix2")
            pki = site.pki
            expired = pki.ca.issue("client-expired", pki.client_cn, server=False, days_valid=(-60, -2))
            expiring = pki.ca.issue("client-expiring", pki.client_cn, server=False, days_valid=(-60, 5))
            source = f"  - {{name: ssmix2, type: ssmix2, path: {site.data / 'ssmix2' / 'std'}, settle: 0s}}\n"
            config = site.config(source, cert=expired)
            with Daemon(config, tmp) as daemon:
                code, body = daemon.get("/healthz")
                self.assertEqual(code, 503)
                self.assertRegex(body, r"certificate central.cert expired on \d{4}-\d\d-\d\d")
                self.assertLess(metric(daemon.get("/metrics")[1], "medgw_certificate_expiry_seconds"), 0)
                site.config(source, cert=expiring)
                daemon.send(signal.SIGHUP)
                wait_until(lambda: "expires in" in daemon.get("/healthz")[1], 10, "the expiring certificate")
                code, body = daemon.get("/healthz")
                self.assertEqual(code, 503)
                # renewed by the service (central.renew_at): the alarm comes 7 days before the end (or at a
                # sixth of the lifetime when that is shorter; here 65 days)
                self.assertRegex(body, r"certificate central.cert expires in (4|5) days")
                site.config(source)
                daemon.send(signal.SIGHUP)
                wait_until(lambda: daemon.get("/healthz")[0] == 200, 10, "/healthz 200 with a valid certificate")

    def test_source_unreachable_and_back(self):
        with TempDir() as tmp:
            site = Site(tmp, "--patients", "2", "--seed", "6", "--only", "ssmix2")
            std = site.data / "ssmix2" / "std"
            config = site.config(f"  - {{name: ssmix2, type: ssmix2, path: {std}, settle: 0s, scan_interval: 10s}}\n")
            with Daemon(config, tmp) as daemon:
                wait_until(lambda: metric(daemon.get("/metrics")[1], "medgw_source_files", 'source="ssmix2"') > 0, 30,
                           "a first pass")
                self.assertEqual(daemon.get("/healthz")[0], 200)
                std.rename(tmp / "unmounted")  # the share goes away
                body = wait_until(lambda: daemon.get("/healthz")[1] if "not a folder" in daemon.get("/healthz")[1] else None,
                                  30, "/healthz to name the source")
                self.assertIn("source ssmix2", body)
                self.assertEqual(daemon.get("/healthz")[0], 503)
                self.assertEqual(metric(daemon.get("/metrics")[1], "medgw_source_up", 'source="ssmix2"'), 0)
                (tmp / "unmounted").rename(std)
                wait_until(lambda: daemon.get("/healthz")[0] == 200, 90, "/healthz 200 once the share is back")


class KillCycles(unittest.TestCase):
    def test_kill_9_fifty_times_while_files_arrive_and_the_receiver_flaps(self):
        """Acceptance 2."""
        import random
        rng = random.Random(int(os.environ.get("MEDGW_KILL_SEED", time.time())))
        cycles = int(os.environ.get("MEDGW_KILL_CYCLES", "50"))
        with TempDir() as tmp:
            site = Site(tmp, "--patients", "30", "--seed", "77", "--months", "2")
            data, pki, identity, port = site.data, site.pki, site.identity, site.port
            config = site.config()
            config.write_text(config.read_text().replace("  chunk: 1MiB\n", "  chunk: 256KiB\n"))
            daemon = Daemon(config, tmp)
            daemon.start()
            receiver = Receiver(tmp / "central", pki, [gateway_key(config)], identity=identity, port=port).start()
            receiver_up = True
            kills = flaps = mutations = 0
            try:
                for cycle in range(cycles):
                    if rng.random() < 0.5:
                        run(SAMPLE, "--mutate", data, "--changes", str(rng.randint(3, 15)), "--seed", str(cycle), check=True)
                        mutations += 1
                    if rng.random() < 0.2:
                        if receiver_up:
                            receiver.kill(9)
                        else:
                            receiver.restart_on_same_port()
                        receiver_up = not receiver_up
                        flaps += 1
                    time.sleep(rng.uniform(0.05, 2.0))
                    daemon.stop(signal.SIGKILL)
                    kills += 1
                    daemon.start()
                if not receiver_up:
                    receiver.restart_on_same_port()
                wait_until(lambda: landed_equals_source(receiver, data), 300, "everything to land after the kills")
                status = receiver.status()
                match = re.search(r"(\d+) objects .* highest seq (\d+), landed through (\d+)", status)
                self.assertIsNotNone(match, status)
                self.assertEqual(match.group(1), match.group(2), "objects stored != highest seq: a duplicate or a gap")
                self.assertIn("no gaps", status)
                gateway = json.loads(run(daemon_binary(), "status", "--json", "-c", config, check=True).stdout)
                wait_until(lambda: json.loads(run(daemon_binary(), "status", "--json", "-c", config, check=True)
                                              .stdout)["spool"]["ready_objects"] == 0, 60, "an empty spool")
                self.assertEqual(gateway["spool"]["lost_objects"], 0)
                print(f"\nkill -9 cycles: {kills} kills, {flaps} receiver flaps, {mutations} rounds of new files; "
                      f"{match.group(1)} objects landed exactly once", flush=True)
                self.assertEqual(daemon.stop(signal.SIGTERM), 0)
            finally:
                daemon.stop(signal.SIGKILL)
                receiver.kill(9)


def daemon_binary() -> Path:
    from helpers import MEDGW
    return MEDGW


if __name__ == "__main__":
    unittest.main()
