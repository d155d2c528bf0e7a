"""The DICOM source (issue 20) in receive mode, with real peers: dcmtk's
`storescu` as the modality/PACS sending to `medgw run`, and medgw-receiver
landing what medgw spooled. Instances are compared by the SHA-256 of their
data set (the bytes after the file meta group, which a receiver writes
itself; dicom_tools.py).

MEDGW_DICOM_CT_MIB sets the size of the multi-frame CT (300 by default;
scripts/test lowers it under the sanitizers)."""
import json
import os
import re
import signal
import time
import unittest
from pathlib import Path

import dicom_scu as scu
import dicom_tools as dt
from daemon_helpers import Daemon, free_port, wait_until
from helpers import (MEDGW, Receiver, TempDir, committed_objects, delivery_config, gateway_key, new_identity,
                     open_object, run)
from pki import Pki

CT_MIB = int(os.environ.get("MEDGW_DICOM_CT_MIB", "300"))
FACILITY = "131234567"


def dicom_source(port: int, settle: str = "2s", extra: str = "") -> str:
    return (f'  - {{name: pacs, type: dicom, listen: "127.0.0.1:{port}", ae_title: MEDGW, allow: [PACS01], '
            f"settle: {settle}, scan_interval: 10s{extra}}}\n")


def ct_frames(mib: int) -> int:
    return max(1, mib * (1 << 20) // (512 * 512 * 2))


def stored_ok(test: unittest.TestCase, completed, count: int):
    statuses = dt.store_statuses(completed)
    test.assertEqual(statuses, [0] * count, completed.stdout[-2000:] + completed.stderr[-4000:])


def sent_entries(state: Path, identity: Path, live: bool = False) -> list[tuple[dict, bytes]]:
    """Every DICOM entry of every object still in the spool, with its content
    (live: while the daemon runs, see committed_objects)."""
    out = []
    for file in committed_objects(state, live):
        manifest, members = open_object(file, identity)
        for entry in manifest["entries"]:
            if entry["source"] == "pacs":
                out.append((entry, members[f"pacs/{entry['path']}".encode()]))
    return out


def metric(daemon: Daemon, name: str) -> int:
    _, text = daemon.get("/metrics")
    match = re.search(rf'^{name}{{source="pacs"}} (\d+)$', text, re.M)
    return int(match.group(1)) if match else -1


class ReceiveAndLand(unittest.TestCase):
    """Acceptance 1: storescu -> medgw run -> the central, every instance byte for byte, by study."""

    def test_studies_land_byte_for_byte_grouped_by_study(self):
        with TempDir() as tmp:
            pki = Pki(tmp / "pki")
            identity, recipient = new_identity(tmp)
            port = free_port()
            ct_study, ct_sop = dt.new_uid(), dt.new_uid()
            ct_file = dt.make_ct(tmp / "in" / "ct.dcm", "P1001", "Dicom^Ichiro", ct_study, dt.new_uid(), ct_sop,
                                 ct_frames(CT_MIB))
            cr_files, cr_study = dt.make_study(tmp / "in" / "cr", "P1002", "Dicom^Jiro", 5, kind="cr")
            sr_files, sr_study = dt.make_study(tmp / "in" / "sr", "P1003", "Dicom^Saburo", 1, kind="sr")
            expected = {ct_sop: ("P1001", ct_study, dt.dataset_sha256(ct_file))}  # sop -> (patient, study, sha)
            for pid, files, study in (("P1002", cr_files, cr_study), ("P1003", sr_files, sr_study)):
                for path, sop in files:
                    expected[sop] = (pid, study, dt.dataset_sha256(path))

            log = tmp / "medgw.log"
            extra = f"status: {{listen: \"127.0.0.1:0\"}}\nlog: {{level: info, file: {log}}}\n"
            config = delivery_config(tmp, recipient, dicom_source(port), pki, 1, extra=extra)
            self.assertEqual(run(MEDGW, "collect", "--once", "-c", config).returncode, 0)
            with Receiver(tmp / "central", pki, [gateway_key(config)], identity=identity) as receiver:
                config = delivery_config(tmp, recipient, dicom_source(port), pki, receiver.port, extra=extra)
                with Daemon(config, tmp) as daemon:
                    files = [ct_file] + [p for p, _ in cr_files] + [p for p, _ in sr_files]
                    started = time.monotonic()
                    sent = dt.storescu(port, files)
                    seconds = time.monotonic() - started
                    stored_ok(self, sent, len(files))
                    size = sum(f.stat().st_size for f in files)
                    print(f"\n  storescu -> medgw: {size / 2**20:.0f} MiB in {seconds:.1f} s", flush=True)
                    # Three studies, three objects (one per study), all landed.
                    receiver.wait_landed(3, timeout=300)
                    self.assertEqual(metric(daemon, "medgw_dicom_instances_stored_total"), len(files))
                landed_root = receiver.landed() / "pacs"
                landed = {p.stem: p for p in landed_root.rglob("*.dcm")}
                self.assertEqual(set(landed), set(expected))
                for sop, (pid, study, digest) in expected.items():
                    path = landed[sop]
                    self.assertEqual(path.relative_to(landed_root).parts[:2], (pid, study), "not grouped by study")
                    self.assertEqual(dt.dataset_sha256(path), digest, f"instance {sop} changed on its way")
                self.assertIn(ct_sop, dt.dcmdump(landed[ct_sop], "+P", "0008,0018"))
                # The CR patient opts out: the withdrawal removes their folder at the central (invariant 8).
                optout = tmp / "optout.csv"
                optout.write_text("patient_id\nP1002\n")
                config.write_text(config.read_text() + f"policy: {{optout_file: {optout}}}\n")
                with Daemon(config, tmp):
                    receiver.wait_landed(4, timeout=120)
                self.assertFalse((landed_root / "P1002").exists(), "the withdrawn patient's images stayed")
                self.assertTrue((landed_root / "P1001").is_dir() and (landed_root / "P1003").is_dir())
                text = log.read_text() + receiver.log.read_text()
                self.assertIn("dicom.association_released", text)
                for phi in ("P1001", "P1002", "P1003", "Dicom^", "Ichiro", "Jiro", "Saburo"):
                    self.assertNotIn(phi, text, "patient data in a log")


class CrashAndSpoolFull(unittest.TestCase):
    """Acceptance 3: kill -9 during a study and the PACS sending again: no loss,
    no duplicate; a full spool answers A700 until uploads free room."""

    def test_kill_during_a_study_then_resend_loses_nothing_and_sends_nothing_twice(self):
        with TempDir() as tmp:
            identity, recipient = new_identity(tmp)
            port = free_port()
            mib = max(16, CT_MIB // 4)
            files, study = dt.make_study(tmp / "in", "P3001", "Crash^Taro", 12, kind="cr")
            ct_sop = dt.new_uid()
            ct = dt.make_ct(tmp / "in" / "ct.dcm", "P3001", "Crash^Taro", study, dt.new_uid(), ct_sop, ct_frames(mib))
            paths = [p for p, _ in files[:6]] + [ct] + [p for p, _ in files[6:]]
            digests = {dt.dataset_sha256(p) for p in paths}
            config = delivery_config(tmp, recipient, dicom_source(port, settle="3s"), _NoPki(), 1,
                                     extra="status: {listen: \"127.0.0.1:0\"}\n")
            daemon = Daemon(config, tmp).start()
            incoming = tmp / "state" / "dicom" / "pacs"
            try:
                # Six instances of the study are stored, then the large one is half sent when medgw is killed.
                stored_ok(self, dt.storescu(port, paths[:6]), 6)
                with scu.Scu(port) as client:
                    self.assertEqual(client.associate([(dt.ENHANCED_CT_IMAGE_STORAGE, [dt.EXPLICIT_VR_LITTLE_ENDIAN])])
                                     ["type"], "accept")
                    client.send_command(1, scu.c_store_rq(dt.ENHANCED_CT_IMAGE_STORAGE, ct_sop))
                    data = scu.dataset_of(ct)
                    for at in range(0, len(data) // 2, 64000):
                        client.send_raw(scu.p_data(1, data[at:at + 64000], command=False, last=False))
                    wait_until(lambda: any(p.stat().st_size > (1 << 20) for p in (incoming / "incoming").iterdir()),
                               30, "the large instance arriving")
                    daemon.stop(signal.SIGKILL)
            finally:
                daemon.stop(signal.SIGKILL)
            # The PACS sends the whole study again to the restarted gateway.
            with Daemon(config, tmp) as daemon:
                stored_ok(self, dt.storescu(port, paths), len(paths))
                wait_until(lambda: len(sent_entries(tmp / "state", identity, live=True)) >= len(paths), 60, "the study spooled")
                # And once more after the study was sent: nothing new goes.
                stored_ok(self, dt.storescu(port, paths), len(paths))
                time.sleep(14)  # settle and one more pass
                entries = sent_entries(tmp / "state", identity)
            self.assertEqual(len(entries), len(paths), "an instance was sent twice or lost")
            self.assertEqual({dt.dataset_sha256(content) for _, content in entries}, digests)
            self.assertEqual(len({e["meta"]["sop_instance_uid"] for e, _ in entries}), len(paths))
            self.assertEqual(list((incoming / "incoming").iterdir()), [], "a partial instance was left behind")

    def test_full_spool_answers_a700_then_accepts_once_uploads_drained_it(self):
        with TempDir() as tmp:
            pki = Pki(tmp / "pki")
            identity, recipient = new_identity(tmp)
            port, central_port = free_port(), free_port()
            big = dt.make_ct(tmp / "in" / "big.dcm", "P4001", "Full^Hanako", dt.new_uid(), dt.new_uid(), dt.new_uid(),
                             ct_frames(72))
            later, _ = dt.make_study(tmp / "in" / "later", "P4002", "Full^Jiro", 2, kind="cr")
            extra = "status: {listen: \"127.0.0.1:0\"}\nspool: {max_bytes: 64MiB}\n"
            config = delivery_config(tmp, recipient, dicom_source(port, settle="1s"), pki, central_port, extra=extra)
            self.assertEqual(run(MEDGW, "collect", "--once", "-c", config).returncode, 0)
            key = gateway_key(config)
            with Daemon(config, tmp) as daemon:
                stored_ok(self, dt.storescu(port, [big]), 1)
                time.sleep(1.5)  # the receiver's view of the spool is at most a second old
                refused = dt.storescu(port, [p for p, _ in later])
                self.assertEqual(dt.store_statuses(refused), [0xA700, 0xA700], refused.stderr[-3000:])
                self.assertGreaterEqual(metric(daemon, "medgw_dicom_instances_refused_no_room_total"), 2)
                wait_until(lambda: "A700" in daemon.get("/healthz")[1], 30, "health to say A700")
                with Receiver(tmp / "central", pki, [key], identity=identity, port=central_port) as receiver:
                    receiver.wait_landed(1, timeout=180)
                    time.sleep(1.5)
                    stored_ok(self, dt.storescu(port, [p for p, _ in later]), 2)
                    receiver.wait_landed(2, timeout=120)
                    self.assertEqual(len(list((receiver.landed() / "pacs").rglob("*.dcm"))), 3)


class Policy(unittest.TestCase):
    """Acceptance 4: an opted-out patient and one whose notice period has not
    passed never leave; the held one goes once eligible."""

    def test_opted_out_and_not_yet_eligible_never_leave(self):
        with TempDir() as tmp:
            identity, recipient = new_identity(tmp)
            port = free_port()
            people = {"P5001": ("Ok^Ichiro", "20260205"), "P5002": ("Optout^Jiro", "20260205"),
                      "P5003": ("Waiting^Saburo", "20260325")}
            files = {}
            for pid, (name, day) in people.items():
                files[pid], _ = dt.make_study(tmp / "in" / pid, pid, name, 2, kind="cr", study_date=day)
            optout = tmp / "optout.csv"
            optout.write_text("patient_id\nP5002\n")
            extra = (f"status: {{listen: \"127.0.0.1:0\"}}\n"
                     f"policy: {{optout_file: {optout}, notice: {{start: \"2026-01-30\", wait: 30d}}}}\n"
                     f"log: {{level: debug, file: {tmp / 'medgw.log'}}}\n")
            config = delivery_config(tmp, recipient, dicom_source(port, settle="1s"), _NoPki(), 1, extra=extra)
            staging = tmp / "state" / "dicom" / "pacs"
            with Daemon(config, tmp, env={"MEDGW_TEST_TODAY": "2026-03-31"}):
                every = [p for pid in people for p, _ in files[pid]]
                stored_ok(self, dt.storescu(port, every), len(every))
                wait_until(lambda: sent_entries(tmp / "state", identity, live=True), 40, "the eligible study spooled")
                wait_until(lambda: not any((staging / "studies").iterdir()), 30, "every study judged")
                time.sleep(11)
                entries = sent_entries(tmp / "state", identity)
            self.assertEqual({e["meta"]["patient_id"] for e, _ in entries}, {"P5001"})
            self.assertEqual(len(entries), 2)
            # The opted-out patient's instances are gone from staging; the waiting one's are kept.
            held = list((staging / "sending").rglob("*.dcm"))
            self.assertEqual(len(held), 2)
            status = run(MEDGW, "status", "-c", config, check=True).stdout
            self.assertIn("0 instances staged in 0 studies settling; 2 in 1 studies being spooled or held", status)
            self.assertTrue(all(b"P5003" in p.read_bytes() for p in held))
            blob = b"".join(content + json.dumps(e).encode() for e, content in entries)
            blob += b"".join(f.read_bytes() for f in committed_objects(tmp / "state"))
            for phi in (b"P5002", b"Optout", b"P5003", b"Waiting"):
                self.assertNotIn(phi, blob)
            logs = (tmp / "medgw.log").read_text() + (tmp / "daemon.log").read_text()
            for phi in ("P5001", "P5002", "P5003", "Ichiro", "Optout", "Waiting"):
                self.assertNotIn(phi, logs, "patient data in a log")
            # A month later the waiting patient is eligible: sent once, then staging is empty.
            with Daemon(config, tmp, env={"MEDGW_TEST_TODAY": "2026-05-01"}):
                wait_until(lambda: len(sent_entries(tmp / "state", identity, live=True)) == 4, 40, "the held study sent")
            self.assertEqual(list((staging / "sending").rglob("*.dcm")), [])
            self.assertEqual({e["meta"]["patient_id"] for e, _ in sent_entries(tmp / "state", identity)},
                             {"P5001", "P5003"})


class PollOrthanc(unittest.TestCase):
    """Acceptance 2: poll mode against a real Orthanc (Debian's, on loopback):
    what storescu stored there is collected once each, byte for byte as
    Orthanc's /instances/{id}/file gives it."""

    def test_studies_stored_in_orthanc_are_collected_once_each_with_orthancs_bytes(self):
        with TempDir() as tmp, dt.Orthanc(directory=tmp / "orthanc") as orthanc:
            identity, recipient = new_identity(tmp)
            ct_study = dt.new_uid()
            ct = dt.make_ct(tmp / "in" / "ct.dcm", "P7001", "Poll^Ichiro", ct_study, dt.new_uid(), dt.new_uid(),
                            ct_frames(max(8, CT_MIB // 8)))
            cr, _ = dt.make_study(tmp / "in" / "cr", "P7002", "Poll^Jiro", 3, kind="cr")
            sr, _ = dt.make_study(tmp / "in" / "sr", "P7003", "Poll^Saburo", 1, kind="sr")
            stored_ok(self, orthanc.store([ct] + [p for p, _ in cr] + [p for p, _ in sr]), 5)
            source = (f"  - {{name: pacs, type: dicom, mode: poll, url: \"{orthanc.url}/\", settle: 1s, "
                      "scan_interval: 10s}\n")
            config = delivery_config(tmp, recipient, source, _NoPki(), 1, extra=f"log: {{level: info, file: {tmp / 'medgw.log'}}}\n")

            def collect() -> list[tuple[dict, bytes]]:
                result = run(MEDGW, "collect", "--once", "-c", config)
                self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
                return sent_entries(tmp / "state", identity)

            self.assertEqual(collect(), [], "studies spooled before they settled")
            time.sleep(1.5)
            entries = collect()
            self.assertEqual(len(entries), 5)
            orthanc_files = {dt.hashlib.sha256(orthanc.instance_file(i)).hexdigest() for i in orthanc.instances()}
            self.assertEqual({dt.hashlib.sha256(content).hexdigest() for _, content in entries}, orthanc_files)
            self.assertEqual({e["sha256"] for e, _ in entries}, orthanc_files)
            self.assertEqual(len(committed_objects(tmp / "state")), 3, "one object per study")
            time.sleep(1.5)
            self.assertEqual(len(collect()), 5, "collected twice")
            # A new study at the PACS: only it comes next.
            later, _ = dt.make_study(tmp / "in" / "later", "P7004", "Poll^Shiro", 2, kind="cr")
            stored_ok(self, orthanc.store([p for p, _ in later]), 2)
            collect()
            time.sleep(1.5)
            entries = collect()
            self.assertEqual(len(entries), 7)
            self.assertEqual(len({e["meta"]["sop_instance_uid"] for e, _ in entries}), 7)
            # Orthanc down: the pass fails with a reason naming the host, never a patient.
            orthanc.stop()
            failed = run(MEDGW, "collect", "--once", "-c", config)
            self.assertNotEqual(failed.returncode, 0)
            self.assertIn("127.0.0.1", failed.stderr)
            text = failed.stderr + (tmp / "medgw.log").read_text()
            for phi in ("P7001", "P7002", "Poll^", "Ichiro"):
                self.assertNotIn(phi, text)


class Config(unittest.TestCase):
    """check-config: each mode names what it needs."""

    def test_each_mode_needs_its_keys(self):
        with TempDir() as tmp:
            _, recipient = new_identity(tmp)
            for source, complaint in (
                    ('{name: pacs, type: dicom, listen: "0.0.0.0:11112"}', "allow: must name at least one"),
                    ("{name: pacs, type: dicom, allow: [PACS01]}", "listen: mode receive needs"),
                    ("{name: pacs, type: dicom, mode: poll}", "url: mode poll needs"),
                    ('{name: pacs, type: dicom, listen: "0.0.0.0:99999", allow: [PACS01]}', "port must be"),
                    ('{name: pacs, type: dicom, listen: "0.0.0.0:104", allow: ["TOO_LONG_AE_TITLE_X"]}', "1-16"),
            ):
                config = delivery_config(tmp, recipient, f"  - {source}\n", _NoPki(), 1)
                result = run(MEDGW, "check-config", "-c", config)
                self.assertEqual(result.returncode, 2, source)
                self.assertIn(complaint, result.stderr, source)


class BadInput(unittest.TestCase):
    """Acceptance 5 and the SCP's hostile-client cases, through a raw client
    (dicom_scu.py): each refusal has its status and a PHI-free reason, and
    the receiver goes on serving."""

    def test_malformed_data_sets_and_hostile_peers_are_refused_and_the_scp_keeps_serving(self):
        with TempDir() as tmp:
            identity, recipient = new_identity(tmp)
            port = free_port()
            log = tmp / "medgw.log"
            config = delivery_config(tmp, recipient, dicom_source(port, settle="1h"), _NoPki(), 1,
                                     extra=f"status: {{listen: \"127.0.0.1:0\"}}\nlog: {{level: info, file: {log}}}\n")
            path = dt.make_cr(tmp / "in" / "ok.dcm", "P6001", "Hostile^Taro", dt.new_uid(), dt.new_uid(), sop := dt.new_uid())
            good = scu.dataset_of(path)
            cr = dt.CR_IMAGE_STORAGE
            explicit = [dt.EXPLICIT_VR_LITTLE_ENDIAN]
            # A group 0002 element at the start of the data set (it would override the transfer syntax).
            meta_inside = dt.element(0x00020010, "UI", "1.2.840.10008.1.2") + good
            cases = {
                "garbage": (sop, b"this is not a DICOM data set at all, only text" * 40, 0xC000),
                "truncated": (sop, good[: len(good) // 2], 0xC000),
                "empty": (sop, b"", 0xC000),
                "other instance": (dt.new_uid(), good, 0xA900),
                "meta element inside": (sop, meta_inside, 0xC000),
            }
            with Daemon(config, tmp) as daemon:
                for name, (command_uid, data, expected) in cases.items():
                    with scu.Scu(port) as client:
                        self.assertEqual(client.associate([(cr, explicit)])["type"], "accept")
                        answer = client.c_store(1, cr, command_uid, data)
                        self.assertEqual(answer["status"], expected, f"{name}: {answer}")
                        self.assertTrue(answer["comment"], f"{name}: no reason given")
                        self.assertTrue(client.release())
                with scu.Scu(port) as client:
                    answer = client.associate([(cr, ["1.2.3.4.5.6"]), ("1.2.840.10008.5.1.4.1.2.1.1", explicit),
                                               (dt.CT_IMAGE_STORAGE, explicit)])
                    self.assertEqual([answer["contexts"][i][0] for i in (1, 3, 5)], [4, 3, 0])
                    # A CR on the CT context: 0x0122 (SOP class not supported there).
                    self.assertEqual(client.c_store(5, cr, sop, good)["status"], 0x0122)
                    self.assertTrue(client.release())
                for called, calling, reason in (("OTHER", "PACS01", 7), ("MEDGW", "INTRUDER", 3)):
                    with scu.Scu(port, called=called, calling=calling) as client:
                        answer = client.associate([(cr, explicit)])
                        self.assertEqual((answer["type"], answer.get("reason")), ("reject", reason))
                with scu.Scu(port) as client:  # a PDU longer than the SCP announced
                    self.assertEqual(client.associate([(cr, explicit)])["type"], "accept")
                    client.send_raw(scu.pdu(scu.P_DATA, b"\0" * (262144 + 1)))
                    ended = client.read_pdu(timeout=10)
                    self.assertTrue(ended is None or ended[0] == scu.ABORT, ended)
                # A flood: 8 idle associations hold every slot, the next is rejected at once (transient).
                # Each idle one is seen held (no reject within 0.3 s) before the next: the association
                # aborted just above may hold its slot a moment after its peer saw the abort.
                idle = []
                give_up = time.monotonic() + 60
                try:
                    while len(idle) < 8:
                        connection = scu.Scu(port).connect()
                        if connection.sends_nothing_within(0.3):
                            idle.append(connection)
                            continue
                        connection.close()
                        self.assertLess(time.monotonic(), give_up, "the SCP kept rejecting idle connections")
                        time.sleep(0.1)
                    with scu.Scu(port) as client:
                        answer = client.associate([(cr, explicit)])
                        self.assertEqual((answer["type"], answer.get("result"), answer.get("reason")), ("reject", 2, 2))
                finally:
                    for connection in idle:
                        connection.close()
                time.sleep(1)
                # Still serving.
                stored_ok(self, dt.storescu(port, [path]), 1)
                self.assertGreaterEqual(metric(daemon, "medgw_dicom_instances_refused_invalid_total"), 6)
                self.assertGreaterEqual(metric(daemon, "medgw_dicom_associations_rejected_total"), 3)
            staged = list((tmp / "state" / "dicom" / "pacs" / "studies").rglob("*.dcm"))
            self.assertEqual(len(staged), 1)
            self.assertEqual(dt.dataset_sha256(staged[0]), dt.dataset_sha256(path))
            self.assertEqual(list((tmp / "state" / "dicom" / "pacs" / "incoming").iterdir()), [])
            text = log.read_text()
            self.assertIn("dicom.instance_refused", text)
            for phi in ("P6001", "Hostile", "Taro"):
                self.assertNotIn(phi, text)


class _NoPki:
    """central.* for a gateway that never reaches a central (files need not exist)."""
    ca = type("Ca", (), {"pem": Path("/nonexistent/ca.pem")})
    client = (Path("/nonexistent/client.pem"), Path("/nonexistent/client.key"))


if __name__ == "__main__":
    unittest.main()
