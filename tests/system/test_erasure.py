"""A withdrawal erases at the central (issue 19, acceptance 2): a patient opted
out after full delivery - SS-MIX2, DPC and UKE landed at medgw-receiver over
mutual TLS - is gone from the central's landed tree after the next pass, in
every source and every encoding (ID, DPC number, kana and kanji name); the
rewritten DPC and UKE files differ from what had landed only by the patient's
rows and receipts (receipts renumbered, GO recomputed); every other landed
file is byte for byte what it was and was not rewritten; the central's signed
erasure receipt verifies at the gateway (and here, independently, with the
receipt key) and `medgw optout check` says when the central erased them. No
patient data in any log, output or status of either side."""
import base64
import datetime
import json
import os
import re
import sqlite3
import unittest
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from helpers import MEDGW, SAMPLE, Receiver, TempDir, delivery_config, gateway_key, new_identity, run, snapshot
from pki import Pki
from test_collect_ssmix2 import assert_no_patient_data, collect
from test_delivery import all_sources, receipt_key_file, spooled, upload
from test_optout import check_uke_integrity, expected_uke, name_forms, patients, unique_patients


def files_under(root: Path) -> dict[bytes, bytes]:
    """{relative path: content} of every regular file under root."""
    out = {}
    base = os.fsencode(root)
    for directory, _dirs, names in os.walk(base):
        for name in names:
            full = os.path.join(directory, name)
            if os.path.isfile(full) and not os.path.islink(full):
                with open(full, "rb") as handle:
                    out[os.path.relpath(full, base)] = handle.read()
    return out


def stats_under(root: Path) -> dict[bytes, tuple[int, int]]:
    """{relative path: (inode, mtime ns)}: a file rewritten, even with the same bytes, shows."""
    out = {}
    base = os.fsencode(root)
    for directory, _dirs, names in os.walk(base):
        for name in names:
            full = os.path.join(directory, name)
            info = os.lstat(full)
            out[os.path.relpath(full, base)] = (info.st_ino, info.st_mtime_ns)
    return out


def marks_of(patient: dict) -> list[bytes]:
    """Everything of the patient that must not be found: ID, DPC number, names in every encoding."""
    return [patient["patient_id"].encode(), patient["dpc_id"].encode()] + name_forms(patient)


def erasure_statement(receipt: dict) -> bytes:
    fields = [receipt[k] for k in ("object_id", "seq", "facility", "erased_at", "patients", "ssmix2_folders",
                                   "files_rewritten", "dpc_rows", "receipts")]
    return ("medgw-erasure/1\n" + "".join(f"{f}\n" for f in fields)).encode()


class WithdrawalErasesAtTheCentral(unittest.TestCase):
    def test_opted_out_after_delivery_erased_in_every_source_with_a_signed_receipt(self):
        with TempDir() as tmp:
            data = tmp / "hospital"
            run(SAMPLE, "--out", data, "--patients", "30", "--seed", "31", "--months", "2", check=True)
            everyone = patients(data)
            dpc_bytes = b"".join(p.read_bytes() for p in (data / "dpc").rglob("*") if p.is_file())
            uke_bytes = b"".join(p.read_bytes() for p in (data / "receipt").rglob("*") if p.is_file())
            # A patient with data in every source, whose names nobody else shares.
            patient = next(p for p in unique_patients(everyone, len(everyone))
                           if p["dpc_id"].encode() in dpc_bytes and p["patient_id"].encode() in uke_bytes)
            pid = patient["patient_id"]
            optout = tmp / "optout.csv"
            optout.write_text("patient_id,dpc_id,kana_name,birth_date,requested_on\n")
            pki = Pki(tmp / "pki")
            identity, recipient = new_identity(tmp)
            extra = (f"policy: {{optout_file: {optout}}}\n"
                     f"log: {{level: debug, file: {tmp / 'medgw.log'}}}\n")
            config = delivery_config(tmp, recipient, all_sources(data), pki, port=1, extra=extra)
            self.assertEqual(collect(config).returncode, 0)
            with Receiver(tmp / "central", pki, [gateway_key(config)], identity=identity) as receiver:
                receipt_key = receipt_key_file(receiver, tmp)
                config = delivery_config(tmp, recipient, all_sources(data), pki, receiver.port,
                                         receipt_key=receipt_key, extra=extra)
                outputs = ""
                objects = spooled(config)
                sent = upload(config)
                self.assertEqual(sent.returncode, 0, sent.stdout + sent.stderr)
                receiver.wait_landed(objects)
                landed = receiver.landed()
                before = files_under(landed)
                before_stats = stats_under(landed)
                # Positive control: the same search finds the patient everywhere before.
                for source in ("ssmix2", "dpc", "receipt"):
                    blob = b"".join(v for k, v in before.items() if k.startswith(source.encode() + b"/"))
                    self.assertTrue(pid.encode() in blob or patient["dpc_id"].encode() in blob, source)
                self.assertTrue(any(form in b"".join(before.values()) for form in name_forms(patient)))

                # Opted out after delivery: one withdraw; not confirmed until the central has erased.
                optout.write_text("patient_id,dpc_id,kana_name,birth_date,requested_on\n"
                                  f"{pid},{patient['dpc_id']},{patient['kana_name']},{patient['birth_date']},"
                                  "2026-05-01\n")
                result = collect(config)
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertIn("1 newly opted-out patients withdrawn", result.stdout)
                pending = run(MEDGW, "optout", "check", pid, "-c", config, check=True).stdout
                self.assertIn("withdrawn, erasure not yet confirmed by the central", pending)
                more = spooled(config)
                sent = upload(config)
                self.assertEqual(sent.returncode, 0, sent.stdout + sent.stderr)
                receiver.wait_landed(objects + more)
                outputs += result.stdout + result.stderr + pending + sent.stdout + sent.stderr
                # Landing is asynchronous: unless the central had landed the withdraw object
                # by the end of that drain, its erasure receipt is asked for by the next one.
                if "withdrawals: 1 erasures confirmed by the central" not in sent.stdout:
                    self.assertIn("withdrawals: 0 erasures confirmed by the central, 1 not yet", sent.stdout)
                    confirmed = upload(config)
                    self.assertEqual(confirmed.returncode, 0, confirmed.stdout + confirmed.stderr)
                    self.assertIn("withdrawals: 1 erasures confirmed by the central", confirmed.stdout)
                    outputs += confirmed.stdout + confirmed.stderr
                # Confirmed once: not asked for again.
                again = upload(config)
                self.assertNotIn("withdrawals:", again.stdout)
                outputs += again.stdout + again.stderr

                after = files_under(landed)
                holding = self.check_erased(patient, before, after)
                after_stats = stats_under(landed)
                for path in after:
                    if path not in holding:
                        self.assertEqual(after_stats[path], before_stats[path], f"{path!r} was rewritten")

                # The receipt the gateway kept verifies with the central's key, here too.
                db = sqlite3.connect(f"file:{tmp / 'state' / 'state.db'}?mode=ro", uri=True)
                try:
                    rows = db.execute("SELECT erased_at, erasure_receipt FROM optout_register "
                                      "WHERE withdraw_seq IS NOT NULL").fetchall()
                finally:
                    db.close()
                self.assertEqual(len(rows), 1)
                receipt = json.loads(rows[0][1])
                self.assertEqual(receipt["erased_at"], rows[0][0])
                self.assertEqual(receipt["patients"], 1)
                pid_folder = f"{pid[:3]}/{pid[3:6]}/{pid}/".encode()
                trees = {k.split(b"/")[0] for k in before if k.split(b"/", 1)[1].startswith(pid_folder)}
                self.assertEqual(receipt["ssmix2_folders"], len(trees))
                self.assertGreater(receipt["dpc_rows"], 0)
                self.assertGreater(receipt["receipts"], 0)
                key = Ed25519PublicKey.from_public_bytes(
                    base64.b64decode(receipt_key.read_text().strip().removeprefix("ed25519:")))
                key.verify(base64.b64decode(receipt["signature"]), erasure_statement(receipt))
                self.assertNotIn(pid, rows[0][1])

                check = run(MEDGW, "optout", "check", pid, "-c", config, check=True).stdout
                today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
                self.assertIn(f"withdrawn, erased at the central on {receipt['erased_at'][:10]}", check)
                self.assertEqual(receipt["erased_at"][:10], today)
                status = receiver.status()
                gateway_status = run(MEDGW, "status", "-c", config, check=True).stdout
                self.assertIn("1 withdrawn after data was sent (1 confirmed erased at the central)", gateway_status)
                outputs += check + status + gateway_status
                outputs += (tmp / "medgw.log").read_text() + receiver.log.read_text()
                self.assertIn("receiver.erased", receiver.log.read_text())
                self.assertIn("upload.erasure_confirmed", (tmp / "medgw.log").read_text())
                assert_no_patient_data(self, outputs, data / "patients.tsv")
                for form in name_forms(patient):
                    self.assertFalse(form in outputs.encode(), "a name form of the patient is in an output")

    def check_erased(self, patient: dict, before: dict[bytes, bytes], after: dict[bytes, bytes]):
        pid = patient["patient_id"]
        blob = b"\n".join(after.values())
        for mark in marks_of(patient):
            # assertFalse, not assertNotIn: a failure must not print the landed tree.
            self.assertFalse(mark in blob, f"the landed tree still holds the patient: {mark!r}")
        folder = f"{pid[:3]}/{pid[3:6]}/{pid}/".encode()
        gone = {k for k in before if k.startswith((b"ssmix2/" + folder, b"ssmix2-ext/" + folder))}
        self.assertTrue(gone)
        self.assertEqual(set(after), set(before) - gone, "files appeared or vanished besides the patient's folders")
        holding = {k for k, v in before.items() if k not in gone and any(m in v for m in marks_of(patient))}
        self.assertTrue(any(k.startswith(b"dpc/") for k in holding) and any(k.startswith(b"receipt/") for k in holding))
        self.assertLessEqual({k.split(b"/")[0] for k in holding}, {b"dpc", b"receipt"})
        for path, content in after.items():
            if path not in holding:
                self.assertEqual(content, before[path], f"{path!r} changed, though it held nothing of the patient")
        for path in holding:
            if path.startswith(b"receipt/"):
                self.assertEqual(after[path], expected_uke(before[path], {pid}), path)
                check_uke_integrity(self, after[path])
            else:
                column = 2 if os.path.basename(path).startswith(b"Hn") else 1
                kept = [line for line in before[path].split(b"\r\n")
                        if len(line.split(b"\t")) <= column or line.split(b"\t")[column] != patient["dpc_id"].encode()]
                self.assertEqual(after[path], b"\r\n".join(kept), path)
        return holding


if __name__ == "__main__":
    unittest.main()
