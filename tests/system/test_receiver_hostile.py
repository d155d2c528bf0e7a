"""medgw-receiver probed as a hostile client would probe it (issue 14), with
real mutual TLS (a throwaway PKI) and correctly signed objects: traversal
identifiers, completion races, header and size abuse, slow clients, descriptor
exhaustion, non-UTF-8 names, a decompression bomb, quarantine and the
operator's landing commands, and the receiver's log grepped for patient data.

Each numbered finding of the issue has a test named test_f<N>_...; run with
MEDGW_BINARY_DIR pointing at an older build to see which of them that build
fails."""
import base64
import hashlib
import json
import os
import re
import resource
import socket
import sqlite3
import ssl
import subprocess
import threading
import time
import unittest
import uuid
from pathlib import Path

from helpers import MEDGW, RECEIVER, SAMPLE, Receiver, TempDir, delivery_config, gateway_key, new_identity, run
from pki import Pki
from test_collect_ssmix2 import assert_no_patient_data, collect
from tus_client import (FACILITY, Entry, GatewayKey, Tus, build_object, cpu_seconds, encrypt, manifest, plain_tar,
                        raw_connections, signed, stored_file)

OTHER_FACILITY = "139999999"


def status_text(receiver: Receiver) -> str:
    return run(RECEIVER, "status", "-c", receiver.config, check=True).stdout


def facility_line(receiver: Receiver, facility: str = FACILITY) -> tuple[int, int]:
    """(highest seq, landed through) of a facility; (0, 0) before any object."""
    match = re.search(rf"facility {facility}: \d+ objects .* highest seq (\d+), landed through (\d+)", status_text(receiver))
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def wait_for(condition, timeout: float = 30, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def wait_landed_through(receiver: Receiver, seq: int, timeout: float = 60):
    return wait_for(lambda: facility_line(receiver)[1] >= seq, timeout,
                    f"landing through seq {seq}:\n{status_text(receiver)}\n{receiver.log.read_text()[-2000:]}")


def quarantined(receiver: Receiver) -> dict[int, str]:
    return {int(seq): reason for seq, reason in re.findall(r"QUARANTINED seq (\d+): (\w+)", status_text(receiver))}


class LimitedReceiver(Receiver):
    """medgw-receiver started with a given RLIMIT_NOFILE (soft = hard), as
    systemd's default of 1024 without LimitNOFILE."""

    def __init__(self, *args, nofile: int = 1024, **kwargs):
        super().__init__(*args, **kwargs)
        self.nofile = nofile

    def start(self):
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(RECEIVER), "-c", str(self.config)], stdout=subprocess.PIPE, stderr=log,
                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile)))
        line = self.process.stdout.readline().decode()
        self.process.stdout.close()
        if "listening on" not in line:
            raise AssertionError(f"medgw-receiver did not start: {line!r} {self.log.read_text()}")
        self.port = int(line.rsplit(" ", 1)[1])
        return self


class Hostile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp_holder = TempDir()
        cls.tmp = cls.tmp_holder.__enter__()
        cls.pki = Pki(cls.tmp / "pki")
        cls.identity, cls.recipient = new_identity(cls.tmp)
        cls.key = GatewayKey.generate()
        # A second facility (its own certificate and gateway key).
        cls.other_cert = cls.pki.ca.issue("client-other", f"gw-{OTHER_FACILITY}", server=False)
        cls.other_key = GatewayKey.generate()
        # Real patient IDs and names for the log checks.
        cls.sample = cls.tmp / "sample"
        run(SAMPLE, "--out", cls.sample, "--patients", "6", "--seed", "5", "--only", "ssmix2", check=True)
        rows = [l.split("\t") for l in (cls.sample / "patients.tsv").read_text(encoding="utf-8").splitlines()[1:]]
        cls.patients = [r[0] for r in rows]

    @classmethod
    def tearDownClass(cls):
        cls.tmp_holder.__exit__(None, None, None)

    def receiver(self, extra: str = "", landing: bool = True, cls=Receiver, idle_timeout: str = "10s",
                 **kwargs) -> Receiver:
        name = f"central-{self._testMethodName}-{time.monotonic_ns()}"
        other = (f'  - {{code: "{OTHER_FACILITY}", clients: [gw-{OTHER_FACILITY}], '
                 f"gateways: [{self.other_key.public_text()}]}}\n")
        receiver = cls(self.tmp / name, self.pki, [self.key.public_text()], landing=landing, identity=self.identity,
                       extra=other + extra, **kwargs)
        receiver.config.write_text(receiver.config.read_text().replace("idle_timeout: 10s", f"idle_timeout: {idle_timeout}"))
        receiver.start()
        self.addCleanup(receiver.kill, 15)
        return receiver

    def client(self, receiver: Receiver, cert=None) -> Tus:
        tus = Tus(receiver.port, self.pki, cert=cert)
        self.addCleanup(tus.close)
        return tus

    def small_object(self, seq: int, path: bytes = None, content: bytes = b"MSH|^~\\&|\r", **kwargs):
        path = path or f"{self.patients[0][:3]}/{self.patients[0][3:6]}/{self.patients[0]}/20240401/OMG-01/f{seq}".encode()
        return build_object(self.key, self.recipient, seq, [Entry(path, content)], **kwargs)

    # --- Finding 1: traversal through object_id ---

    def test_f1_traversal_object_id_refused_and_nothing_written_outside(self):
        receiver = self.receiver()
        tus = self.client(receiver)
        central = receiver.directory
        # store/<facility>/<seq>-<object_id>.age: 4 levels up is the test's folder.
        escape = "/../../../../escaped-".ljust(36, "x")
        into_other = f"/../../{OTHER_FACILITY}/9-".ljust(36, "y")
        for object_id in (escape, into_other, "../" * 12, "A" * 36, "0190f3a8-7c55-7ec4-9d8a-5E4ED6D5C1F2"):
            self.assertEqual(len(object_id), 36, object_id)
            obj = self.small_object(1, object_id=object_id)
            answer = tus.upload(obj)
            self.assertEqual(answer.status, 400, f"{object_id!r}: {answer}")
        self.assertFalse(list(central.glob("escaped-*")), "a file was written outside the store")
        self.assertFalse((central / "data" / "store" / OTHER_FACILITY).exists(), "another facility's store was written")
        self.assertIn("no objects received", status_text(receiver))
        # Identifiers in request targets are validated too.
        for target in ("/files/../../etc/passwd", "/files/%2e%2e", "/files/" + "a" * 31 + "/"):
            self.assertEqual(tus.request("HEAD", target).status, 404, target)
        self.assertEqual(tus.receipt("../../../receiver.db").status, 404)

    # --- Finding 2: a non-UTF-8 file name (CP932 file share), sent by the real gateway ---

    def test_f2_non_utf8_name_lands_byte_for_byte(self):
        data = self.tmp / f"hospital-{time.monotonic_ns()}"
        run(SAMPLE, "--out", data, "--patients", "4", "--seed", "9", "--only", "dpc", check=True)
        month = sorted(p for p in (data / "dpc").iterdir() if p.is_dir())[0]
        odd = os.fsencode(month) + b"/" + "様式1_メモ.txt".encode("cp932")
        with open(odd, "wb") as handle:
            handle.write(b"memo\r\n")
        state = self.tmp / f"gw-{time.monotonic_ns()}"
        state.mkdir()
        sources = f"  - {{name: dpc, type: dpc, path: {data / 'dpc'}, settle: 0s}}\n"
        config = delivery_config(state, self.recipient, sources, self.pki, port=1,
                                 extra=f"log: {{level: info, file: {state / 'medgw.log'}}}\n")
        self.assertEqual(collect(config).returncode, 0)
        receiver = Receiver(state / "central", self.pki, [gateway_key(config)], identity=self.identity).start()
        self.addCleanup(receiver.kill, 15)
        config = delivery_config(state, self.recipient, sources, self.pki, receiver.port,
                                 extra=f"log: {{level: info, file: {state / 'medgw.log'}}}\n")
        sent = run(MEDGW, "upload", "--once", "-c", config, timeout=300)
        self.assertEqual(sent.returncode, 0, sent.stdout + sent.stderr)
        # A later object (seq 2) must land too: landing does not stop there.
        (month / "EXTRA.txt").write_bytes(b"later\r\n")
        self.assertEqual(collect(config).returncode, 0)
        sent = run(MEDGW, "upload", "--once", "-c", config, timeout=300)
        self.assertEqual(sent.returncode, 0, sent.stdout + sent.stderr)
        highest, _ = facility_line(receiver)
        wait_landed_through(receiver, highest, timeout=60)
        landed = os.fsencode(receiver.landed() / "dpc" / month.name) + b"/" + "様式1_メモ.txt".encode("cp932")
        self.assertTrue(os.path.exists(landed), os.listdir(os.fsencode(receiver.landed() / "dpc" / month.name)))
        with open(landed, "rb") as handle:
            self.assertEqual(handle.read(), b"memo\r\n")
        self.assertTrue((receiver.landed() / "dpc" / month.name / "EXTRA.txt").exists())
        self.assertFalse(quarantined(receiver))
        assert_no_patient_data(self, receiver.log.read_text() + status_text(receiver), data / "patients.tsv")

    # --- Finding 3: two uploads of one object completing at once ---

    def test_f3_concurrent_completions_keep_the_object(self):
        receiver = self.receiver(landing=False)
        trials = 10
        for trial in range(trials):
            obj = build_object(self.key, self.recipient, trial + 1,
                               [Entry(f"a/b/c/file{trial}".encode(), os.urandom(300_000))])
            clients = [Tus(receiver.port, self.pki), Tus(receiver.port, self.pki)]
            locations = []
            for tus in clients:
                created = tus.create(obj)
                self.assertEqual(created.status, 201)
                location = created.header("location")
                self.assertEqual(tus.patch(location, 0, obj.data[:-1]).status, 204)
                locations.append(location)
            barrier = threading.Barrier(2)
            answers = [None, None]

            def finish(i):
                barrier.wait()
                answers[i] = clients[i].patch(locations[i], len(obj.data) - 1, obj.data[-1:])

            threads = [threading.Thread(target=finish, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for i in range(2):
                # The one told to ask again (503) finds the object stored.
                if answers[i].status == 503:
                    time.sleep(0.3)
                    head = clients[i].head(locations[i])
                    answers[i] = clients[i].patch(locations[i], int(head.header("upload-offset")),
                                                  obj.data[int(head.header("upload-offset")):])
            for tus in clients:
                tus.close()
            self.assertEqual([a.status for a in answers], [204, 204], f"trial {trial}: {answers}")
            stored = stored_file(receiver, obj)
            self.assertTrue(stored.exists(), f"trial {trial}: the stored object is gone")
            self.assertEqual(hashlib.sha256(stored.read_bytes()).hexdigest(), obj.sha256)
            self.assertEqual(self.client(receiver).receipt(obj.object_id).status, 200)
        self.assertFalse(list((receiver.directory / "data" / "uploads").glob("*.part")), "a loser's bytes were kept")

    # --- Finding 4: lock-out by idle connections, CPU spin on EMFILE ---

    def test_f4_idle_connections_neither_lock_out_nor_spin(self):
        # systemd's default without LimitNOFILE: 1024 descriptors.
        receiver = self.receiver(landing=False, cls=LimitedReceiver, nofile=1024)
        idle = raw_connections(receiver.port, 1100)
        self.addCleanup(lambda: [s.close() for s in idle])
        time.sleep(1)
        before = cpu_seconds(receiver.process.pid)
        time.sleep(3)
        busy = (cpu_seconds(receiver.process.pid) - before) / 3
        self.assertLess(busy, 0.25, f"the receiver used {busy:.0%} of a core holding idle connections")
        # A gateway still gets through, at once, while they are held.
        started = time.time()
        obj = self.small_object(1)
        tus = Tus(receiver.port, self.pki, timeout=20)
        self.addCleanup(tus.close)
        answer = tus.upload(obj)
        self.assertEqual(answer.status, 204, answer)
        self.assertLess(time.time() - started, 10)
        self.assertTrue(stored_file(receiver, obj).exists())
        self.assertIsNone(receiver.process.poll())

    def test_f4_unit_sets_limit_nofile(self):
        from helpers import SOURCE_DIR
        unit = (SOURCE_DIR / "systemd" / "medgw-receiver.service").read_text()
        match = re.search(r"^LimitNOFILE=(\d+)", unit, re.M)
        self.assertTrue(match, "medgw-receiver.service sets no LimitNOFILE")
        self.assertGreaterEqual(int(match.group(1)), 8192)

    def test_f4_handshake_and_idle_deadlines_reap_connections(self):
        receiver = self.receiver(landing=False, extra="handshake_timeout: 2s\n")
        silent = raw_connections(receiver.port, 3)
        time.sleep(4)
        for s in silent:
            s.settimeout(2)
            try:
                self.assertEqual(s.recv(1), b"", "an unauthenticated connection was kept past handshake_timeout")
            except ConnectionResetError:
                pass
            s.close()

    # --- Finding 5: patient data in the central's log ---

    def test_f5_landing_failure_logs_no_patient_data(self):
        receiver = self.receiver()
        tus = self.client(receiver)
        patient = self.patients[1]
        folder = f"{patient[:3]}/{patient[3:6]}/{patient}".encode()
        # seq 2 puts a file where seq 1 made a folder: it cannot land.
        first = build_object(self.key, self.recipient, 1, [Entry(folder + b"/20240401/OMG-01/a", b"a")])
        second = build_object(self.key, self.recipient, 2, [Entry(folder, b"b")])
        for obj in (first, second):
            self.assertEqual(tus.upload(obj).status, 204)
        wait_for(lambda: "receiver.landing" in receiver.log.read_text() and facility_line(receiver)[1] >= 1, 30)
        time.sleep(1)
        log = receiver.log.read_text()
        self.assertNotIn(patient, log, "a patient ID reached the receiver's log")
        assert_no_patient_data(self, log + status_text(receiver), self.sample / "patients.tsv")
        self.assertEqual(quarantined(receiver), {2: "path_conflict"})
        # The tag names the patient for whoever holds the receiver's key.
        tag = run(RECEIVER, "patient-tag", patient, "-c", receiver.config, check=True).stdout.strip()
        self.assertRegex(tag, r"^pt:[0-9a-f]{8}$")
        self.assertRegex(log, rf"event=receiver.landing_quarantined .*patient={tag}")

    # --- Finding 6: limits per facility, free space, decompression bombs ---

    def test_f6_open_uploads_and_bytes_in_flight_are_capped(self):
        receiver = self.receiver(landing=False)
        tus = self.client(receiver)
        answers = [tus.create(self.small_object(n + 1)).status for n in range(72)]
        self.assertIn(429, answers)
        self.assertEqual(answers.count(201), 64)  # max_open_uploads_per_facility's default
        # Declared sizes: never more than the disk can take (min_free kept).
        other = self.client(receiver, cert=self.other_cert)
        vfs = os.statvfs(receiver.directory)
        free = vfs.f_bavail * vfs.f_frsize
        accepted = 0
        for n in range(6):
            obj = signed(self.other_key, b"x", str(uuid.uuid4()), n + 1, OTHER_FACILITY)
            answer = other.create(obj, length=64 << 30)
            if answer.status == 201:
                accepted += 64 << 30
            else:
                self.assertIn(answer.status, (429, 507), answer)
                self.assertTrue(answer.header("retry-after"))
        self.assertLessEqual(accepted, min(free - (2 << 30), 128 << 30))
        self.assertIsNone(receiver.process.poll())

    def test_f6_decompression_bomb_refused_while_streaming(self):
        receiver = self.receiver()
        tus = self.client(receiver)
        root = receiver.landed()
        big = 512 << 20  # zeros: compresses to a few KiB
        zero_digest = hashlib.sha256(bytes(big)).hexdigest()
        # An honest manifest that declares the full size: refused by the ratio.
        honest_id = str(uuid.uuid4())
        plain = plain_tar(manifest([Entry(b"bomb/honest", None, size=big, sha256=zero_digest)], honest_id, 1),
                          [(b"ssmix2/bomb/honest", big)])
        honest = signed(self.key, encrypt(plain, self.recipient), honest_id, 1)
        self.assertLess(len(honest.data), 1 << 20)
        # A manifest that lies (5 bytes) about a member of 512 MiB.
        liar_id = str(uuid.uuid4())
        plain = plain_tar(manifest([Entry(b"bomb/liar", b"12345")], liar_id, 2), [(b"ssmix2/bomb/liar", big)])
        liar = signed(self.key, encrypt(plain, self.recipient), liar_id, 2)
        good = self.small_object(3)
        for obj in (honest, liar, good):
            self.assertEqual(tus.upload(obj).status, 204)
        wait_landed_through(receiver, 3)
        self.assertEqual(quarantined(receiver), {1: "ratio_exceeded", 2: "member_mismatch"})
        self.assertFalse((root / "ssmix2" / "bomb").exists())
        leftovers = [p for p in root.iterdir() if p.name.startswith(".")]
        self.assertFalse(leftovers, leftovers)

    # --- Finding 7: quarantine, retry/skip, errors after the rename, seq and size ranges ---

    def test_f7_bad_object_quarantined_landing_continues_and_retry_replays_in_order(self):
        receiver = self.receiver()
        tus = self.client(receiver)
        folder = b"001/234/0012345"
        x = b"x-content"
        objects = [
            build_object(self.key, self.recipient, 1, [Entry(folder + b"/x", x)]),
            build_object(self.key, self.recipient, 2, [Entry(folder, b"A")]),  # a file where a folder is
            build_object(self.key, self.recipient, 3, [Entry(folder + b"/x", change="delete",
                                                             sha256=hashlib.sha256(x).hexdigest(), size=len(x))]),
            build_object(self.key, self.recipient, 4, [Entry(folder, b"B", change="modify")]),
            # Not what its manifest says: quarantined for good.
            build_object(self.key, self.recipient, 5, [Entry(b"009/876/0098765/y", b"y")],
                         extra_members=[(b"ssmix2/unlisted", b"?")]),
            build_object(self.key, self.recipient, 6, [Entry(b"009/876/0098765/z", b"z")]),
        ]
        for obj in objects:
            self.assertEqual(tus.upload(obj).status, 204)
        wait_landed_through(receiver, 6)
        self.assertEqual(quarantined(receiver), {2: "path_conflict", 4: "path_conflict", 5: "member_unlisted"})
        self.assertTrue((receiver.landed() / "ssmix2/009/876/0098765/z").exists(), "landing stopped at a bad object")
        self.assertEqual(receiver.log.read_text().count("event=receiver.landing_quarantined"), 3)
        # The operator clears the folder (now empty: seq 3 deleted x) and retries 2.
        (receiver.landed() / "ssmix2" / folder.decode()).rmdir()
        retried = run(RECEIVER, "landing", "retry", "2", "--facility", FACILITY, "-c", receiver.config)
        self.assertEqual(retried.returncode, 0, retried.stderr)
        wait_for(lambda: set(quarantined(receiver)) == {5}, 30, "the retry")
        wait_landed_through(receiver, 6)
        # Replayed in order: seq 4's content wins over seq 2's.
        self.assertEqual((receiver.landed() / "ssmix2" / folder.decode()).read_bytes(), b"B")
        skipped = run(RECEIVER, "landing", "skip", "5", "--facility", FACILITY, "-c", receiver.config)
        self.assertEqual(skipped.returncode, 0, skipped.stderr)
        text = status_text(receiver)
        self.assertNotIn("QUARANTINED", text)
        self.assertIn("1 objects skipped", text)
        self.assertEqual(run(RECEIVER, "landing", "skip", "5", "--facility", FACILITY, "-c", receiver.config).returncode, 1)

    def test_f7_error_after_rename_does_not_leave_500s(self):
        receiver = self.receiver(landing=False)
        tus = self.client(receiver)
        obj = self.small_object(1, content=os.urandom(200_000))
        created = tus.create(obj)
        location = created.header("location")
        self.assertEqual(tus.patch(location, 0, obj.data[:-10]).status, 204)
        # Another process holds receiver.db's write lock across the last PATCH.
        db = sqlite3.connect(receiver.directory / "data" / "receiver.db", timeout=30, isolation_level=None,
                             check_same_thread=False)
        db.execute("BEGIN EXCLUSIVE")
        release = threading.Timer(11, lambda: db.execute("COMMIT"))
        release.start()
        statuses = []
        try:
            offset = len(obj.data) - 10
            for _ in range(40):
                try:
                    answer = tus.patch(location, offset, obj.data[offset:])
                except (ConnectionError, OSError, http_client_errors()):
                    tus.close()
                    answer = None
                if answer is not None:
                    statuses.append(answer.status)
                    if answer.status == 204:
                        break
                time.sleep(0.5)
                head = tus.head(location)
                statuses.append(head.status)
                self.assertEqual(head.status, 200, statuses)
                offset = int(head.header("upload-offset"))
                if offset == len(obj.data):
                    break
        finally:
            release.join()
            db.close()
        self.assertNotIn(500, statuses, statuses)
        self.assertTrue(stored_file(receiver, obj).exists(), statuses)
        self.assertEqual(tus.receipt(obj.object_id).status, 200)

    def test_f7_seq_out_of_range_refused_at_post(self):
        receiver = self.receiver(landing=False)
        tus = self.client(receiver)
        for seq in (2 ** 63, 2 ** 64, 0, "01", "-1", "1e3"):
            obj = signed(self.key, b"x" * 100, str(uuid.uuid4()), seq)
            answer = tus.create(obj)
            self.assertEqual(answer.status, 400, f"seq {seq}: {answer}")
            self.assertIn(b"seq", answer.body)
        self.assertEqual(tus.create(signed(self.key, b"x" * 100, str(uuid.uuid4()), 2 ** 63 - 1)).status, 201)
        self.assertIn("event=receiver.upload_refused", receiver.log.read_text())
        self.assertIsNone(receiver.process.poll())

    def test_f7_receiver_sizes_do_not_overflow(self):
        for key, value in (("max_upload", "16777217TiB"), ("max_upload", "99999999999999999999"),
                           ("expiration", "99999999999999999d")):
            directory = self.tmp / f"overflow-{time.monotonic_ns()}"
            receiver = Receiver(directory, self.pki, [self.key.public_text()], landing=False, extra=f"{key}: {value}\n")
            result = run(RECEIVER, "status", "-c", receiver.config)
            self.assertEqual(result.returncode, 2, f"{key}: {value} accepted:\n{result.stdout}")
            self.assertIn(key, result.stderr)
            self.assertRegex(result.stderr, r"receiver.yaml:\d+:\d+: ")

    # --- HEAD on a completed upload ---

    def test_head_on_completed_upload_reports_it_complete(self):
        receiver = self.receiver(landing=False)
        tus = self.client(receiver)
        obj = self.small_object(1, content=os.urandom(50_000))
        created = tus.create(obj)
        location = created.header("location")
        self.assertEqual(tus.patch(location, 0, obj.data).status, 204)
        head = tus.head(location)
        self.assertEqual(head.status, 200)
        self.assertEqual(head.header("upload-offset"), str(len(obj.data)))
        self.assertEqual(head.header("upload-length"), str(len(obj.data)))
        # Later PATCHes change nothing.
        stored = stored_file(receiver, obj).read_bytes()
        self.assertEqual(tus.patch(location, len(obj.data), b"more").status, 413)
        self.assertEqual(tus.patch(location, 0, obj.data).status, 409)
        self.assertEqual(tus.patch(location, len(obj.data), b"").status, 204)
        self.assertEqual(stored_file(receiver, obj).read_bytes(), stored)
        self.assertEqual(tus.receipt(obj.object_id).status, 200)

    def test_body_past_the_length_never_reads_as_complete(self):
        """A chunked PATCH (no Content-Length to refuse it by) that goes on past
        Upload-Length: 413, and HEAD never reports the upload complete while its
        object is not stored; the client resumes from HEAD's offset and stores it.
        Two sizes: one under the receiver's 64 KiB body block, one exactly it."""
        receiver = self.receiver(landing=False)
        for seq, size in ((1, 700), (2, 64 << 10)):
            tus = self.client(receiver)
            obj = signed(self.key, os.urandom(size), str(uuid.uuid4()), seq)
            location = tus.create(obj).header("location")
            connection = tus._connection()
            connection.request("PATCH", location, body=iter([obj.data, b"extra bytes"]), encode_chunked=True,
                               headers={"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Transfer-Encoding": "chunked",
                                        "Content-Type": "application/offset+octet-stream"})
            answer = connection.getresponse()
            answer.read()
            tus.close()
            self.assertEqual(answer.status, 413, f"{size} bytes")
            offset = int(tus.head(location).header("upload-offset"))
            self.assertLess(offset, size, f"{size} bytes: HEAD reports an upload complete whose object is not stored")
            self.assertEqual(tus.receipt(obj.object_id).status, 404)
            self.assertEqual(tus.patch(location, offset, obj.data[offset:]).status, 204)
            self.assertEqual(tus.receipt(obj.object_id).status, 200)
            self.assertEqual(stored_file(receiver, obj).read_bytes(), obj.data)

    # --- Header and size abuse, slow clients ---

    def test_header_and_size_abuse(self):
        receiver = self.receiver(landing=False)
        tus = self.client(receiver)
        obj = self.small_object(1)
        cases = {
            "no length": ({"Upload-Metadata": obj.metadata()}, 400),
            "negative length": ({"Upload-Length": "-5", "Upload-Metadata": obj.metadata()}, 400),
            "huge length": ({"Upload-Length": str(2 ** 64 + 1), "Upload-Metadata": obj.metadata()}, 400),
            "over max_upload": ({"Upload-Length": str(65 << 30), "Upload-Metadata": obj.metadata()}, 413),
            "bad base64": ({"Upload-Length": "10", "Upload-Metadata": "object_id !!!"}, 400),
            "repeated key": ({"Upload-Length": "10", "Upload-Metadata": obj.metadata() + ",seq MQ=="}, 400),
            "another facility": ({"Upload-Length": "10",
                                  "Upload-Metadata": obj.metadata(facility=OTHER_FACILITY)}, 403),
            "bad signature": ({"Upload-Length": "10",
                               "Upload-Metadata": obj.metadata(sig=base64.b64encode(bytes(64)).decode())}, 403),
            "short signature": ({"Upload-Length": "10", "Upload-Metadata": obj.metadata(sig="x" * 64)}, 400),
            "bad sha256": ({"Upload-Length": "10", "Upload-Metadata": obj.metadata(sha256="../" * 21 + "a")}, 400),
        }
        for name, (headers, expected) in cases.items():
            answer = tus.request("POST", "/files/", headers=headers)
            self.assertEqual(answer.status, expected, f"{name}: {answer}")
        created = tus.create(obj)
        location = created.header("location")
        self.assertEqual(tus.patch(location, 0, obj.data + b"extra").status, 413)
        self.assertEqual(tus.patch(location, 5, obj.data).status, 409)
        self.assertEqual(tus.patch(location, 0, obj.data, headers={"Content-Type": "text/plain"}).status, 415)
        self.assertEqual(tus.patch(location, 0, obj.data, headers={"Upload-Checksum": "md5 x"}).status, 400)
        self.assertEqual(tus.patch(location, 0, obj.data, headers={"Upload-Checksum": "sha256 AAAA"}).status, 460)
        self.assertEqual(tus.head(location).header("upload-offset"), "0")
        # A header far over any tus header: refused, the receiver goes on.
        answer = None
        try:
            answer = tus.request("OPTIONS", "/files/", headers={"X-Junk": "a" * 100_000})
        except (ConnectionError, OSError, http_client_errors()):
            pass
        self.assertTrue(answer is None or answer.status >= 400)
        tus.close()
        self.assertEqual(tus.upload(self.small_object(2)).status, 204)

    def test_slow_clients_are_cut_off(self):
        receiver = self.receiver(landing=False, idle_timeout="3s")
        context = ssl.create_default_context(cafile=str(self.pki.ca.pem))
        context.load_cert_chain(str(self.pki.client[0]), str(self.pki.client[1]))
        obj = self.small_object(1, content=os.urandom(200_000))
        tus = self.client(receiver)
        location = tus.create(obj).header("location")
        # A header that never ends; a PATCH body a byte every half second.
        slow_header = b"OPTIONS /files/ HTTP/1.1\r\nHost: localhost\r\nTus-Resumable: 1.0.0\r\n"
        slow_body = (f"PATCH {location} HTTP/1.1\r\nHost: localhost\r\nTus-Resumable: 1.0.0\r\n"
                     f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
                     f"Content-Length: {len(obj.data)}\r\n\r\n").encode()
        for prefix, trickle in ((b"", slow_header), (slow_body, obj.data)):
            with socket.create_connection(("127.0.0.1", receiver.port)) as raw:
                with context.wrap_socket(raw, server_hostname="localhost") as tls:
                    tls.sendall(prefix)
                    started = time.time()
                    closed = False
                    for i in range(60):
                        try:
                            tls.sendall(trickle[i:i + 1] or b"x")
                        except OSError:
                            closed = True
                            break
                        time.sleep(0.5)
                    self.assertTrue(closed, "a slow client was kept")
                    self.assertLess(time.time() - started, 15)
        head = tus.head(location)
        self.assertEqual(head.status, 200)
        self.assertLessEqual(int(head.header("upload-offset")), 60)
        # The upload goes on from what arrived.
        offset = int(head.header("upload-offset"))
        self.assertEqual(tus.patch(location, offset, obj.data[offset:]).status, 204)


def http_client_errors():
    import http.client
    return http.client.HTTPException


if __name__ == "__main__":
    unittest.main()
