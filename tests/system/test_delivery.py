"""Delivery (issue 7): medgw upload --once to medgw-receiver over mutual TLS on
loopback, with a throwaway PKI made at test time. The landed tree equals the
hospital's; TLS problems refuse before anything is sent; cuts, stalls and a
receiver killed mid-upload still land everything exactly once, re-sending at
most one chunk per fault."""
import json
import os
import re
import socket
import ssl
import threading
import time
import unittest
from pathlib import Path

from helpers import BINARY_DIR, MEDGW, RECEIVER, SAMPLE, SOURCE_DIR, Receiver, TempDir, delivery_config, gateway_key, new_identity, run, snapshot
from pki import Pki, spki_pin
from test_collect_ssmix2 import assert_no_patient_data, collect


def all_sources(data: Path, scan_interval: str = "") -> str:
    more = f", scan_interval: {scan_interval}" if scan_interval else ""
    return (f"  - {{name: ssmix2, type: ssmix2, path: {data / 'ssmix2' / 'std'}, "
            f"extended_path: {data / 'ssmix2' / 'ext'}, settle: 0s{more}}}\n"
            f"  - {{name: dpc, type: dpc, path: {data / 'dpc'}, settle: 0s{more}}}\n"
            f"  - {{name: receipt, type: receipt, path: {data / 'receipt'}, settle: 0s{more}}}\n")


def upload(config: Path, timeout: float = 300):
    return run(MEDGW, "upload", "--once", "-c", config, timeout=timeout)


def spooled(config: Path) -> int:
    import json
    status = json.loads(run(MEDGW, "status", "--json", "-c", config, check=True).stdout)
    return status["spool"]["ready_objects"] + status["spool"]["uploading_objects"]


def receipt_key_file(receiver: Receiver, directory: Path) -> Path:
    """The receiver's receipt public key, as the central's operators hand it out."""
    out = directory / "receipt.pub"
    out.write_text(run(RECEIVER, "receipt-key", "-c", receiver.config, check=True).stdout)
    return out


class EndToEnd(unittest.TestCase):
    def test_collected_uploaded_landed_identical(self):
        """Acceptance 1."""
        with TempDir() as tmp:
            data = tmp / "hospital"
            run(SAMPLE, "--out", data, "--patients", "40", "--seed", "21", "--months", "2", check=True)
            pki = Pki(tmp / "pki")
            identity, recipient = new_identity(tmp)
            # One opted-out patient with SS-MIX2 data only (DPC/UKE filtering has its own tests).
            uke = b"".join(p.read_bytes() for p in (data / "receipt").rglob("*") if p.is_file())
            dpc = b"".join(p.read_bytes() for p in (data / "dpc").rglob("*") if p.is_file())
            rows = [l.split("\t") for l in (data / "patients.tsv").read_text().splitlines()[1:]]
            opted = next(r for r in rows if r[0].encode() not in uke and r[1].encode() not in dpc)
            optout = tmp / "optout.csv"
            optout.write_text(f"patient_id\n{opted[0]}\n")
            config = delivery_config(tmp, recipient, all_sources(data), pki, port=1,
                                     extra=f"policy: {{optout_file: {optout}}}\nlog: {{level: info, file: {tmp / 'medgw.log'}}}\n")
            result = collect(config)
            self.assertEqual(result.returncode, 0, result.stderr)
            with Receiver(tmp / "central", pki, [gateway_key(config)], identity=identity) as receiver:
                receipt_key = receipt_key_file(receiver, tmp)
                config = delivery_config(tmp, recipient, all_sources(data), pki, receiver.port, receipt_key=receipt_key,
                                         extra=f"policy: {{optout_file: {optout}}}\nlog: {{level: info, file: {tmp / 'medgw.log'}}}\n")
                # With the central's pin (the right one): delivered.
                config.write_text(config.read_text().replace("  chunk: 1MiB\n", f"  chunk: 1MiB\n  pin: [\"{spki_pin(pki.server[0])}\"]\n"))
                objects = spooled(config)
                self.assertGreater(objects, 0)
                sent = upload(config)
                self.assertEqual(sent.returncode, 0, sent.stdout + sent.stderr)
                self.assertIn(f"{objects} objects delivered", sent.stdout)
                self.assertIn(f"receipts: {objects} verified", sent.stdout)
                self.assertEqual(spooled(config), 0)
                receiver.wait_landed(objects)
                landed = receiver.landed()
                folder = f"{opted[0][:3]}/{opted[0][3:6]}/{opted[0]}/".encode()
                expected = {k: v for k, v in snapshot(data / "ssmix2" / "std").items() if not k.startswith(folder)}
                self.assertEqual(snapshot(landed / "ssmix2"), expected)
                self.assertEqual(snapshot(landed / "ssmix2-ext"),
                                 {k: v for k, v in snapshot(data / "ssmix2" / "ext").items() if not k.startswith(folder)})
                self.assertEqual(snapshot(landed / "dpc"), snapshot(data / "dpc"))
                self.assertEqual(snapshot(landed / "receipt"), snapshot(data / "receipt"))

                # A round of changes (renames, deletions, new files) lands too.
                run(SAMPLE, "--mutate", data, "--changes", "30", "--seed", "3", check=True)
                self.assertEqual(collect(config).returncode, 0)
                more = spooled(config)
                sent = upload(config)
                self.assertEqual(sent.returncode, 0, sent.stdout + sent.stderr)
                receiver.wait_landed(objects + more)
                expected = {k: v for k, v in snapshot(data / "ssmix2" / "std").items() if not k.startswith(folder)}
                self.assertEqual(snapshot(landed / "ssmix2"), expected)
                status = receiver.status()
                self.assertIn("no gaps", status)
                gateway_status = run(MEDGW, "status", "-c", config, check=True).stdout
                self.assertIn(f"delivered: {objects + more} objects", gateway_status)
                outputs = sent.stdout + sent.stderr + gateway_status + (tmp / "medgw.log").read_text()
                outputs += receiver.log.read_text() + status
                assert_no_patient_data(self, outputs, data / "patients.tsv")


class TlsRefusals(unittest.TestCase):
    """Acceptance 3: each a clear error, and nothing sent."""

    @classmethod
    def setUpClass(cls):
        cls.tmp_holder = TempDir()
        cls.tmp = cls.tmp_holder.__enter__()
        data = cls.tmp / "hospital"
        run(SAMPLE, "--out", data, "--patients", "3", "--seed", "2", "--only", "ssmix2", check=True)
        cls.pki = Pki(cls.tmp / "pki")
        cls.identity, cls.recipient = new_identity(cls.tmp)
        cls.sources = (f"  - {{name: ssmix2, type: ssmix2, path: {data / 'ssmix2' / 'std'}, settle: 0s}}\n")
        config = delivery_config(cls.tmp, cls.recipient, cls.sources, cls.pki, port=1)
        assert collect(config).returncode == 0
        cls.key = gateway_key(config)

    @classmethod
    def tearDownClass(cls):
        cls.tmp_holder.__exit__(None, None, None)

    def refused(self, expect: str, server=None, **config_args):
        name = expect.replace(" ", "-")[:20]
        with Receiver(self.tmp / f"central-{name}-{time.monotonic_ns()}", self.pki, [self.key], landing=False,
                      server=server) as receiver:
            config = delivery_config(self.tmp, self.recipient, self.sources, self.pki, receiver.port, **config_args)
            before = spooled(config)
            result = upload(config, timeout=120)
            self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
            self.assertRegex(result.stderr, expect)
            self.assertEqual(spooled(config), before)
            self.assertIn("no objects received", receiver.status())
            self.assertFalse(list((receiver.directory / "data" / "uploads").glob("*")), "an upload was created")
            return result.stderr

    def test_server_certificate_from_another_ca(self):
        self.refused("TLS with the central failed", server=self.pki.server_other_ca)

    def test_wrong_hostname(self):
        self.refused("TLS with the central failed", server=self.pki.server_wrong_host)

    def test_expired_server_certificate(self):
        self.refused("TLS with the central failed", server=self.pki.server_expired)

    def test_pin_mismatch(self):
        wrong = spki_pin(self.pki.server_other_ca[0])
        config_extra = f"  pin: [\"{wrong}\"]\n"
        with Receiver(self.tmp / f"central-pin-{time.monotonic_ns()}", self.pki, [self.key], landing=False) as receiver:
            config = delivery_config(self.tmp, self.recipient, self.sources, self.pki, receiver.port)
            config.write_text(config.read_text().replace("  chunk: 1MiB\n", "  chunk: 1MiB\n" + config_extra))
            result = upload(config, timeout=120)
            self.assertEqual(result.returncode, 1)
            self.assertIn("TLS with the central failed", result.stderr)
            self.assertIn("no objects received", receiver.status())

    def test_client_certificate_from_another_ca(self):
        self.refused("TLS with the central failed", cert=self.pki.client_other_ca)

    def test_client_key_readable_by_others(self):
        cert, key = self.pki.ca.issue("client-open", self.pki.client_cn, server=False)
        key.chmod(0o644)
        stderr = self.refused("chmod", cert=(cert, key))
        self.assertIn(str(key), stderr)

    def test_receiver_refuses_a_client_without_certificate(self):
        with Receiver(self.tmp / f"central-nocert-{time.monotonic_ns()}", self.pki, [self.key], landing=False) as receiver:
            context = ssl.create_default_context(cafile=str(self.pki.ca.pem))
            with socket.create_connection(("127.0.0.1", receiver.port)) as raw:
                with self.assertRaises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
                    with context.wrap_socket(raw, server_hostname="localhost") as tls:
                        tls.sendall(b"OPTIONS /files/ HTTP/1.1\r\nHost: localhost\r\nTus-Resumable: 1.0.0\r\n\r\n")
                        if not tls.recv(100):
                            raise ConnectionResetError("closed")
            self.assertIn("no objects received", receiver.status())


class FaultProxy:
    """A TCP proxy on loopback between gateway and receiver that injects
    faults into the gateway's stream: it cuts connections after a few hundred
    KiB (mid-PATCH), and stalls one (forwards nothing for a while, then cuts).
    At most `limit` faults, so the run ends."""

    def __init__(self, target_port: int, limit: int = 6, stall: float = 2.0):
        import random
        self.random = random.Random(7)
        self.target_port = target_port
        self.limit = limit
        self.stall = stall
        self.cuts = 0
        self.stalls = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    @property
    def faults(self) -> int:
        return self.cuts + self.stalls

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self.lock:
                limit = self.random.randint(300_000, 1_500_000)
            threading.Thread(target=self.pipe, args=(client, upstream, limit), daemon=True).start()
            threading.Thread(target=self.pipe, args=(upstream, client, None), daemon=True).start()

    def pipe(self, source, sink, limit):
        sent = 0
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
                sent += len(data)
                if limit is not None and sent > limit:
                    with self.lock:
                        if self.faults >= self.limit:
                            limit = None
                            continue
                        stall = self.stalls == 0
                        if stall:
                            self.stalls += 1
                        else:
                            self.cuts += 1
                    if stall:
                        time.sleep(self.stall)
                    break
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.listener.close()


class Faults(unittest.TestCase):
    """Acceptance 2."""

    def test_cuts_stalls_and_a_receiver_killed_mid_upload(self):
        with TempDir() as tmp:
            data = tmp / "hospital"
            run(SAMPLE, "--out", data, "--patients", "120", "--seed", "8", "--months", "2", check=True)
            # A large export that does not compress: several MiB of objects, many chunks.
            (data / "dpc" / "export.bin").write_bytes(os.urandom(6 << 20))
            pki = Pki(tmp / "pki")
            identity, recipient = new_identity(tmp)
            config = delivery_config(tmp, recipient, all_sources(data), pki, port=1)
            self.assertEqual(collect(config).returncode, 0)
            receiver = Receiver(tmp / "central", pki, [gateway_key(config)], identity=identity,
                                extra="inject_503_every: 7\n").start()
            try:
                proxy = FaultProxy(receiver.port)
                config = delivery_config(tmp, recipient, all_sources(data), pki, proxy.port)
                # Small chunks so the cuts land mid-PATCH.
                config.write_text(config.read_text().replace("chunk: 1MiB", "chunk: 256KiB"))
                objects = spooled(config)
                total_sent = 0
                total_bytes = 0
                rounds = 0
                killed = False
                while spooled(config) > 0 and rounds < 20:
                    rounds += 1
                    process = __import__("subprocess").Popen(
                        [str(MEDGW), "upload", "--once", "-c", str(config)], stdout=-1, stderr=-1, text=True)
                    if not killed:
                        # Kill -9 the receiver once a body is arriving (mid-upload).
                        uploads = receiver.directory / "data" / "uploads"
                        deadline = time.time() + 20
                        while time.time() < deadline and not any(p.stat().st_size > 0 for p in uploads.glob("*.part")):
                            time.sleep(0.01)
                        self.assertIsNone(process.poll(), "the upload ended before the receiver could be killed")
                        receiver.kill(9)
                        killed = True
                        time.sleep(0.5)
                        receiver.restart_on_same_port()
                    out, err = process.communicate(timeout=300)
                    match = re.search(r"(\d+) objects delivered \((\d+) bytes\).* (\d+) bytes sent", out)
                    self.assertIsNotNone(match, out + err)
                    total_bytes += int(match.group(2))
                    total_sent += int(match.group(3))
                self.assertEqual(spooled(config), 0, "not everything was delivered")
                status = receiver.wait_landed(objects)
                self.assertIn(f"{objects} objects", status)
                self.assertIn("no gaps", status)
                landed = receiver.landed()
                self.assertEqual(snapshot(landed / "ssmix2"), snapshot(data / "ssmix2" / "std"))
                self.assertEqual(snapshot(landed / "dpc"), snapshot(data / "dpc"))
                self.assertEqual(snapshot(landed / "receipt"), snapshot(data / "receipt"))
                injected = receiver.log.read_text().count("receiver.fault_injected")
                faults = proxy.faults + injected + 1  # and the kill
                self.assertGreater(proxy.cuts, 2, "the proxy cut too few connections to prove anything")
                self.assertEqual(proxy.stalls, 1)
                self.assertGreater(injected, 0)
                resent = total_sent - total_bytes
                print(f"\nfaults: {faults} ({proxy.cuts} cuts, {proxy.stalls} stall, {injected} HTTP 503, 1 kill), "
                      f"bytes delivered {total_bytes}, "
                      f"sent {total_sent}, re-sent {resent} = {resent / faults:.0f} per fault (chunk 262144)")
                self.assertLessEqual(resent, faults * 262144)
                proxy.close()
            finally:
                receiver.kill(15)


class IndependentTusServer(unittest.TestCase):
    """Acceptance 4: any conforming tus server works (here @tus/server with its
    file store behind Node https requiring client certificates). It offers
    neither checksums nor receipts; the objects are delivered all the same."""

    def node_server_dir(self) -> Path:
        """tests/peers, where scripts/install-deps installs @tus/server (npm ci)."""
        import shutil
        peers = SOURCE_DIR / "tests" / "peers"
        if shutil.which("node") is None:
            self.skipTest("Node.js is not installed (scripts/install-deps installs it)")
        if not (peers / "node_modules" / "@tus" / "server").is_dir():
            self.skipTest("@tus/server is not installed in tests/peers (run scripts/install-deps)")
        return peers

    def test_delivery_to_tus_node_server(self):
        import hashlib
        import sqlite3
        import subprocess
        prefix = self.node_server_dir()
        with TempDir() as tmp:
            data = tmp / "hospital"
            run(SAMPLE, "--out", data, "--patients", "30", "--seed", "4", "--months", "1", check=True)
            (data / "dpc" / "export.bin").write_bytes(os.urandom(3 << 20))  # several pieces
            pki = Pki(tmp / "pki")
            identity, recipient = new_identity(tmp)
            store = tmp / "tus-files"
            store.mkdir()
            server = subprocess.Popen(["node", str(prefix / "tus_server.mjs"), str(pki.ca.pem), str(pki.server[0]),
                                       str(pki.server[1]), str(store)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      cwd=prefix, text=True)
            try:
                line = server.stdout.readline()
                self.assertIn("listening on", line, server.stderr.read() if server.poll() is not None else "")
                port = int(line.rsplit(" ", 1)[1])
                config = delivery_config(tmp, recipient, all_sources(data), pki, port)
                self.assertEqual(collect(config).returncode, 0)
                db = sqlite3.connect(f"file:{tmp / 'state' / 'state.db'}?mode=ro", uri=True)
                spooled_sha = {row[0] for row in db.execute("SELECT sha256 FROM objects")}
                db.close()
                self.assertGreater(len(spooled_sha), 1)
                result = upload(config)
                self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
                self.assertIn(f"{len(spooled_sha)} objects delivered", result.stdout)
                self.assertIn(f"{len(spooled_sha)} not offered by the server", result.stdout)
                self.assertEqual(spooled(config), 0)
                stored = {hashlib.sha256(p.read_bytes()).hexdigest() for p in store.iterdir()
                          if p.is_file() and not p.name.endswith(".json")}
                self.assertEqual(stored, spooled_sha)
            finally:
                server.terminate()
                server.wait(timeout=10)
                server.stdout.close()
                server.stderr.close()


class UnconfirmedReceipts(unittest.TestCase):
    """Issue 14: an object whose receipt does not verify is not delivered: it
    stays in the spool as unconfirmed (health degraded) until a valid receipt
    arrives or an operator decides (medgw spool release|resend)."""

    def test_a_receipt_that_does_not_verify_keeps_the_object(self):
        with TempDir() as tmp:
            data = tmp / "hospital"
            run(SAMPLE, "--out", data, "--patients", "6", "--seed", "8", "--months", "1", check=True)
            (data / "dpc" / "export.bin").write_bytes(os.urandom(9 << 20))  # an object of its own: two objects
            pki = Pki(tmp / "pki")
            identity, recipient = new_identity(tmp)
            sources = f"  - {{name: dpc, type: dpc, path: {data / 'dpc'}, settle: 0s}}\n"
            config = delivery_config(tmp, recipient, sources, pki, port=1)
            self.assertEqual(collect(config).returncode, 0)
            objects = spooled(config)
            self.assertGreaterEqual(objects, 2)
            with Receiver(tmp / "central", pki, [gateway_key(config)], identity=identity) as receiver:
                # The gateway was given another key than the central's: no receipt verifies.
                wrong = tmp / "wrong-receipt.pub"
                from cryptography.hazmat.primitives import serialization
                from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
                import base64
                raw = Ed25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.Raw,
                                                                            serialization.PublicFormat.Raw)
                wrong.write_text("ed25519:" + base64.b64encode(raw).decode() + "\n")
                config = delivery_config(tmp, recipient, sources, pki, receiver.port, receipt_key=wrong)
                sent = upload(config)
                self.assertEqual(sent.returncode, 1, sent.stdout + sent.stderr)
                self.assertIn(f"{objects} INVALID", sent.stdout)
                self.assertIn("stay in the spool as unconfirmed", sent.stderr)
                # Nothing left the spool; status names them.
                status = json.loads(run(MEDGW, "status", "--json", "-c", config, check=True).stdout)
                self.assertEqual(status["spool"]["unconfirmed_objects"], objects)
                self.assertEqual(status["delivered"]["objects"], 0)
                self.assertIn("UNCONFIRMED", run(MEDGW, "status", "-c", config, check=True).stdout)
                # Asked again at once (not yet due): nothing happens, nothing is sent again.
                again = upload(config)
                self.assertIn("0 objects delivered", again.stdout)
                self.assertEqual(spooled(config) + status["spool"]["unconfirmed_objects"], objects)
                # The operator's decisions.
                self.assertEqual(run(MEDGW, "spool", "release", "999", "-c", config).returncode, 1)
                released = run(MEDGW, "spool", "release", "1", "-c", config)
                self.assertEqual(released.returncode, 0, released.stderr)
                status = json.loads(run(MEDGW, "status", "--json", "-c", config, check=True).stdout)
                self.assertEqual(status["delivered"]["objects"], 1)
                resent = run(MEDGW, "spool", "resend", "2", "-c", config)
                self.assertEqual(resent.returncode, 0, resent.stderr)
                # With the right key the resent object is delivered and verified.
                config = delivery_config(tmp, recipient, sources, pki, receiver.port,
                                         receipt_key=receipt_key_file(receiver, tmp))
                fixed = upload(config)
                self.assertIn("1 objects delivered", fixed.stdout)
                self.assertIn("receipts: 1 verified", fixed.stdout)


class ConnectProxy:
    """A minimal HTTP CONNECT proxy on loopback; records what it was asked for."""

    def __init__(self):
        self.requests = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(client,), daemon=True).start()

    def serve(self, client):
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = client.recv(4096)
            if not chunk:
                client.close()
                return
            request += chunk
        line = request.split(b"\r\n", 1)[0].decode()
        self.requests.append(line)
        method, target, _ = line.split(" ", 2)
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            client.close()
            return
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection(("127.0.0.1" if host == "localhost" else host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pipe(source, sink):
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
            except OSError:
                pass
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        other = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
        other.start()
        pipe(client, upstream)
        other.join(timeout=30)
        client.close()
        upstream.close()

    def close(self):
        self.listener.close()


class OpenUploads(unittest.TestCase):
    """A gateway never opens more uploads than it sends at once (DrainOptions::
    parallel): the central refuses a facility's uploads beyond
    max_open_uploads_per_facility with 429 and Retry-After: 60, so one more
    would stall the whole drain for a minute. Objects waiting between their
    requests (POST answered, PATCH not started) once opened up to twice as many."""

    def test_many_small_objects_within_the_central_limit(self):
        spool_tool = BINARY_DIR / "bench" / "medgw-bench-spool"
        with TempDir() as tmp:
            pki = Pki(tmp / "pki")
            identity, recipient = new_identity(tmp)
            source = tmp / "export"
            for i in range(200):
                (source / f"{i // 50:02d}").mkdir(parents=True, exist_ok=True)
                (source / f"{i // 50:02d}" / f"{i:04d}.txt").write_bytes(os.urandom(300))
            config = delivery_config(tmp, recipient, f"  - {{name: dpc, type: dpc, path: {source}}}\n", pki, port=1)
            run(spool_tool, source, tmp / "state", recipient, "--files-per-object", "1", check=True)
            objects = spooled(config)
            self.assertEqual(objects, 200)
            # The limit equal to the gateway's parallel requests (32): one upload
            # more than it may open is refused.
            with Receiver(tmp / "central", pki, [gateway_key(config)], landing=False,
                          extra="max_open_uploads_per_facility: 32\n") as receiver:
                config = delivery_config(tmp, recipient, f"  - {{name: dpc, type: dpc, path: {source}}}\n", pki,
                                         receiver.port)
                sent = upload(config, timeout=600)
                self.assertEqual(sent.returncode, 0, sent.stdout + sent.stderr)
                self.assertIn(f"{objects} objects delivered", sent.stdout)
                self.assertEqual(spooled(config), 0)
                log = receiver.log.read_text()
                self.assertNotIn("receiver.upload_limited", log)
                self.assertNotIn("HTTP 429", sent.stdout + sent.stderr)


class UploaderOptions(unittest.TestCase):
    """central.proxy, central.window, central.key_password_file, and a permanent
    refusal moving an object to 'rejected'."""

    def gateway(self, tmp: Path, pki, port: int, extra_central: str = "", cert=None) -> Path:
        data = tmp / "hospital"
        if not data.exists():
            run(SAMPLE, "--out", data, "--patients", "4", "--seed", "6", "--only", "ssmix2", check=True)
        identity, recipient = new_identity(tmp) if not (tmp / "central.key").exists() else (tmp / "central.key", None)
        if recipient is None:
            recipient = run(MEDGW, "keys", "recipient", identity, check=True).stdout.strip()
        sources = f"  - {{name: ssmix2, type: ssmix2, path: {data / 'ssmix2' / 'std'}, settle: 0s}}\n"
        config = delivery_config(tmp, recipient, sources, pki, port, cert=cert)
        config.write_text(config.read_text().replace("  chunk: 1MiB\n", "  chunk: 1MiB\n" + extra_central))
        if not (tmp / "state").exists():
            self.assertEqual(collect(config).returncode, 0)
        return config

    def test_through_an_http_connect_proxy(self):
        with TempDir() as tmp:
            pki = Pki(tmp / "pki")
            config = self.gateway(tmp, pki, 1)
            proxy = ConnectProxy()
            with Receiver(tmp / "central", pki, [gateway_key(config)], landing=False) as receiver:
                config = self.gateway(tmp, pki, receiver.port, f"  proxy: http://127.0.0.1:{proxy.port}\n")
                result = upload(config)
                self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
                self.assertEqual(spooled(config), 0)
                self.assertIn(f"CONNECT localhost:{receiver.port} HTTP/1.1", proxy.requests)
            proxy.close()

    def test_outside_the_window_nothing_is_sent(self):
        with TempDir() as tmp:
            pki = Pki(tmp / "pki")
            config = self.gateway(tmp, pki, 1)
            now = time.localtime()
            start = (now.tm_hour + 2) % 24
            window = f"{start:02d}:00-{(start + 1) % 24:02d}:00"
            with Receiver(tmp / "central", pki, [gateway_key(config)], landing=False) as receiver:
                config = self.gateway(tmp, pki, receiver.port, f"  window: \"{window}\"\n")
                before = spooled(config)
                result = upload(config)
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertIn("outside the upload window", result.stdout)
                self.assertEqual(spooled(config), before)
                self.assertIn("no objects received", receiver.status())

    def test_an_encrypted_client_key_with_a_password_file(self):
        with TempDir() as tmp:
            pki = Pki(tmp / "pki")
            cert = pki.ca.issue("client-encrypted", pki.client_cn, server=False, password=b"s3cret-demo")
            password = tmp / "key-password"
            password.write_text("s3cret-demo\n")
            password.chmod(0o600)
            config = self.gateway(tmp, pki, 1)
            with Receiver(tmp / "central", pki, [gateway_key(config)], landing=False) as receiver:
                config = self.gateway(tmp, pki, receiver.port, f"  key_password_file: {password}\n", cert=cert)
                result = upload(config)
                self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
                self.assertEqual(spooled(config), 0)

    def test_a_permanent_refusal_moves_the_object_to_rejected(self):
        import json
        with TempDir() as tmp:
            pki = Pki(tmp / "pki")
            config = self.gateway(tmp, pki, 1)
            # The central maps this client certificate to another facility: 403 on every object.
            receiver = Receiver(tmp / "central", pki, [gateway_key(config)], landing=False)
            receiver.config.write_text(receiver.config.read_text().replace('code: "131234567"', 'code: "139999999"'))
            with receiver:
                config = self.gateway(tmp, pki, receiver.port)
                objects = spooled(config)
                result = upload(config)
                self.assertIn(f"{objects} rejected", result.stdout)
                status = json.loads(run(MEDGW, "status", "--json", "-c", config, check=True).stdout)
                self.assertEqual(status["spool"]["rejected_objects"], objects)
                self.assertIn("no objects received", receiver.status())


if __name__ == "__main__":
    unittest.main()
