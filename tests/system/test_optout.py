"""Patient-level policy through `medgw collect --once` (issue 6): opted-out
patients' data never reaches an object, in any encoding; filtered DPC and UKE
copies differ from the hospital's files only by their rows and receipts and
still pass the integrity rules; opting out after data was sent withdraws it
once; taking a patient off the list collects everything of theirs again."""
import os
import shutil
import unittest
from pathlib import Path

from helpers import MEDGW, SAMPLE, Central, TempDir, committed_objects, new_identity, open_object, run, snapshot, \
    write_gateway_config
from test_collect_ssmix2 import assert_no_patient_data, collect


def patients(data: Path) -> list[dict]:
    lines = (data / "patients.tsv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def name_forms(patient: dict) -> list[bytes]:
    """A patient's names as they can appear in HL7 (family^given), receipts
    (full-width space) and anywhere else, in UTF-8, CP932 and ISO-2022-JP."""
    forms = []
    for name in (patient["kanji_name"], patient["kana_name"]):
        for text in (name, name.replace("\u3000", "^"), name.replace("\u3000", "")):
            for encoding in ("utf-8", "cp932", "iso2022_jp"):
                forms.append(text.encode(encoding))
    return forms


def everything_sent(state: Path, identity: Path) -> bytes:
    """Every manifest and every member of every object, as one blob."""
    blob = []
    for file in committed_objects(state):
        manifest, members = open_object(file, identity)
        blob.append(repr(manifest).encode())
        blob.extend(members.values())
    return b"\n".join(blob)


def unique_patients(everyone: list[dict], count: int) -> list[dict]:
    """Patients whose names nobody else shares (so a name found is theirs)."""
    kanji = [p["kanji_name"] for p in everyone]
    kana = [p["kana_name"] for p in everyone]
    chosen = [p for p in everyone if kanji.count(p["kanji_name"]) == 1 and kana.count(p["kana_name"]) == 1]
    return chosen[1:1 + count]


def sources(data: Path) -> str:
    return (f"  - {{name: ssmix2, type: ssmix2, path: {data / 'ssmix2' / 'std'}, "
            f"extended_path: {data / 'ssmix2' / 'ext'}, settle: 0s}}\n"
            f"  - {{name: dpc, type: dpc, path: {data / 'dpc'}, settle: 0s}}\n"
            f"  - {{name: receipt, type: receipt, path: {data / 'receipt'}, settle: 0s}}\n")


def folder(patient_id: str) -> bytes:
    return f"{patient_id[:3]}/{patient_id[3:6]}/{patient_id}/".encode()


def expected_uke(original: bytes, charts: set[str]) -> bytes:
    """The receipt file without the receipts of `charts`, renumbered, GO
    recomputed (domain.md §3.4) - written here independently of medgw."""
    lines = original.split(b"\r\n")
    out, number, dropping = [], 0, False
    count = points = 0
    receipt_points, has_ho, has_ko = 0, False, False

    def close():
        nonlocal points, receipt_points, has_ho, has_ko
        if not dropping:
            points += receipt_points
        receipt_points, has_ho, has_ko = 0, False, False

    for line in lines:
        fields = line.split(b",")
        record = fields[0]
        if record == b"RE":
            close()
            dropping = fields[13].decode() in charts
            if dropping:
                continue
            number += 1
            fields[1] = str(number).encode()
            out.append(b",".join(fields))
            continue
        if record == b"GO":
            close()
            fields[1], fields[2] = str(count).encode(), str(points).encode()
            out.append(b",".join(fields))
            dropping = False
            continue
        if dropping:
            continue
        if record in (b"HO", b"KO"):
            count += 1
            if record == b"HO" and not has_ho:
                has_ho, receipt_points = True, int(fields[5])
            elif record == b"KO" and not has_ho and not has_ko:
                receipt_points = int(fields[5])
            has_ko = has_ko or record == b"KO"
        out.append(line)
    return b"\r\n".join(out)


def check_uke_integrity(test: unittest.TestCase, content: bytes):
    lines = [l for l in content.split(b"\r\n") if l and l != b"\x1a"]
    test.assertTrue(lines[0].startswith(b"IR,") and lines[-1].startswith(b"GO,"))
    numbers = [int(l.split(b",")[1]) for l in lines if l.startswith(b"RE,")]
    test.assertEqual(numbers, list(range(1, len(numbers) + 1)))
    insurance = sum(1 for l in lines if l.startswith((b"HO,", b"KO,")))
    go = lines[-1].split(b",")
    test.assertEqual(int(go[1]), insurance)


class OptOut(unittest.TestCase):
    def test_opted_out_patients_are_nowhere_and_the_rest_is_exact(self):
        """Acceptance 2."""
        with TempDir() as tmp:
            data = tmp / "hospital"
            run(SAMPLE, "--out", data, "--patients", "60", "--seed", "11", "--months", "2", check=True)
            everyone = patients(data)
            # Chosen so that the test proves something: two with DPC rows, and
            # receipts among them (DPC is for inpatients, receipts for visits).
            dpc_bytes = b"".join(p.read_bytes() for p in (data / "dpc").rglob("*") if p.is_file())
            uke_bytes = b"".join(p.read_bytes() for p in (data / "receipt").rglob("*") if p.is_file())
            candidates = unique_patients(everyone, len(everyone))
            with_dpc = [p for p in candidates if p["dpc_id"].encode() in dpc_bytes]
            with_uke = [p for p in candidates if p["patient_id"].encode() in uke_bytes and p not in with_dpc[:2]]
            self.assertGreaterEqual(len(with_dpc), 2)
            self.assertGreaterEqual(len(with_uke), 1)
            opted = [with_uke[0], with_dpc[0], with_dpc[1]]
            optout = tmp / "optout.csv"
            # One by patient ID only, one with its DPC number, one with name and birth date too; in CP932.
            optout.write_bytes(("patient_id,dpc_id,kana_name,birth_date,requested_on\r\n"
                                f"{opted[0]['patient_id']},,,,2026-04-01\r\n"
                                f"{opted[1]['patient_id']},{opted[1]['dpc_id']},,,\r\n"
                                f"{opted[2]['patient_id']},{opted[2]['dpc_id']},{opted[2]['kana_name']},"
                                f"{opted[2]['birth_date']},2026-04-02\r\n").encode("cp932"))
            # Without a DPC number, the patient ID is taken as the DPC number;
            # the generator's differ, so DPC rows of opted[0] stay (documented).
            identity, recipient = new_identity(tmp)
            config = write_gateway_config(tmp, recipient, sources(data),
                                          extra=f"policy: {{optout_file: {optout}}}\n"
                                                f"log:\n  level: debug\n  file: {tmp / 'medgw.log'}\n")
            result = collect(config)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn("policy:", result.stdout)

            sent = everything_sent(tmp / "state", identity)
            for patient in opted:
                # assertFalse, not assertNotIn: a failure must not print everything sent.
                self.assertFalse(patient["patient_id"].encode() in sent, "an opted-out patient ID was sent")
                for form in name_forms(patient):
                    self.assertFalse(form in sent, f"a name form of an opted-out patient was sent: {form!r}")
            for patient in opted[1:]:
                self.assertFalse(patient["dpc_id"].encode() in sent, "an opted-out DPC number was sent")
            # Positive control: the same search finds a patient who did not opt out.
            control = [p for p in unique_patients(everyone, 10) if p not in opted][0]
            self.assertTrue(control["patient_id"].encode() in sent)
            self.assertTrue(any(form in sent for form in name_forms(control)))

            central = Central(identity)
            central.apply_new(tmp / "state")
            excluded = tuple(folder(p["patient_id"]) for p in opted)
            for label, root in (("ssmix2", data / "ssmix2" / "std"), ("ssmix2-ext", data / "ssmix2" / "ext")):
                expected = {k: v for k, v in snapshot(root).items() if not k.startswith(excluded)}
                self.assertEqual(central.tree(label), expected, label)

            dpc_ids = {p["dpc_id"] for p in opted[1:]}
            dpc_files = snapshot(data / "dpc")
            self.assertEqual(set(central.tree("dpc")), set(dpc_files))
            changed = 0
            for path in dpc_files:
                original = (data / "dpc" / os.fsdecode(path)).read_bytes()
                column = 2 if os.path.basename(path).startswith(b"Hn") else 1
                kept = [line for line in original.split(b"\r\n")
                        if len(line.split(b"\t")) <= column or line.split(b"\t")[column].decode("cp932", "replace") not in dpc_ids]
                expected = b"\r\n".join(kept)
                self.assertEqual(central.members[("dpc", path)], expected, path)
                changed += expected != original
            self.assertGreater(changed, 0, "no DPC file held rows of the opted-out patients: the test proves nothing")

            charts = {p["patient_id"] for p in opted}
            uke_files = snapshot(data / "receipt")
            removed_any = False
            for path in uke_files:
                original = (data / "receipt" / os.fsdecode(path)).read_bytes()
                got = central.members[("receipt", path)]
                self.assertEqual(got, expected_uke(original, charts), path)
                check_uke_integrity(self, got)
                removed_any = removed_any or got != original
            self.assertTrue(removed_any, "no receipt of the opted-out patients: the test proves nothing")

            status = run(MEDGW, "status", "-c", config, check=True).stdout
            self.assertIn("opt-out list", status)
            self.assertIn("3 patients", status)
            self.assertIn("files of opted-out patients", status)

            # optout check: off a terminal, only the keyed hash.
            check = run(MEDGW, "optout", "check", opted[0]["patient_id"], "-c", config, check=True).stdout
            self.assertIn("EXCLUDED", check)
            self.assertRegex(check, r"pt:[0-9a-f]{8}")
            self.assertIn("line 2", check)
            other = run(MEDGW, "optout", "check", control["patient_id"], "-c", config, check=True).stdout
            self.assertIn("not excluded", other)

            outputs = result.stdout + result.stderr + status + check + other + (tmp / "medgw.log").read_text()
            assert_no_patient_data(self, outputs, data / "patients.tsv")

    def test_opting_out_later_withdraws_once_and_taking_back_resumes(self):
        """Acceptance 3."""
        with TempDir() as tmp:
            data = tmp / "hospital"
            run(SAMPLE, "--out", data, "--patients", "30", "--seed", "12", "--only", "ssmix2", check=True)
            patient = unique_patients(patients(data), 1)[0]
            pid = patient["patient_id"]
            optout = tmp / "optout.csv"
            optout.write_text("patient_id,requested_on\n")
            identity, recipient = new_identity(tmp)
            src = (f"  - {{name: ssmix2, type: ssmix2, path: {data / 'ssmix2' / 'std'}, "
                   f"extended_path: {data / 'ssmix2' / 'ext'}, settle: 0s}}\n")
            config = write_gateway_config(tmp, recipient, src, extra=f"policy: {{optout_file: {optout}}}\n")
            std = data / "ssmix2" / "std"
            central = Central(identity)
            self.assertEqual(collect(config).returncode, 0)
            central.apply_new(tmp / "state")
            self.assertEqual(central.tree("ssmix2"), snapshot(std))

            # Opt out: one withdraw, nothing new of theirs.
            optout.write_text(f"patient_id,requested_on\n{pid},2026-05-01\n")
            result = collect(config)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn("1 newly opted-out patients withdrawn", result.stdout)
            central.apply_new(tmp / "state")
            self.assertEqual(central.withdrawn, [pid])
            patient_folder = std / os.fsdecode(folder(pid))
            some_file = sorted(p for p in patient_folder.rglob("*") if p.is_file())[0]
            arrived = some_file.with_name(some_file.name.replace("_1", "_1", 1) + "0")  # a new name
            shutil.copy(some_file, arrived)
            for _ in range(2):  # again: no second withdraw, nothing of theirs
                result = collect(config)
                self.assertEqual(result.returncode, 0, result.stderr)
                central.apply_new(tmp / "state")
            self.assertEqual(central.withdrawn, [pid])
            self.assertFalse([k for k in central.files if k[1].startswith(folder(pid))])

            # Taken off the list: everything of theirs again, the new file too.
            optout.write_text("patient_id,requested_on\n")
            result = collect(config)
            self.assertEqual(result.returncode, 0, result.stderr)
            central.apply_new(tmp / "state")
            self.assertEqual(central.tree("ssmix2"), snapshot(std))
            self.assertIn(os.fsencode(arrived.relative_to(std)), central.tree("ssmix2"))
            self.assertEqual(central.tree("ssmix2-ext"), snapshot(data / "ssmix2" / "ext"))
            self.assertEqual(central.withdrawn, [pid])

    def test_collection_window_skips_older_dates_and_months(self):
        with TempDir() as tmp:
            data = tmp / "hospital"
            run(SAMPLE, "--out", data, "--patients", "20", "--seed", "5", "--months", "3", check=True)
            identity, recipient = new_identity(tmp)
            config = write_gateway_config(tmp, recipient, sources(data), extra="policy: {since: \"2026-03-01\"}\n")
            result = collect(config)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn("files before policy.since not sent", result.stdout)
            central = Central(identity)
            central.apply_new(tmp / "state")

            def kept(path: bytes) -> bool:
                parts = path.split(b"/")
                return not (len(parts) > 4 and parts[3].isdigit() and parts[3] < b"20260301")

            for label, root in (("ssmix2", data / "ssmix2" / "std"), ("ssmix2-ext", data / "ssmix2" / "ext")):
                tree = snapshot(root)
                expected = {k: v for k, v in tree.items() if kept(k)}
                self.assertLess(len(expected), len(tree), "the window excluded nothing: the test proves nothing")
                if label == "ssmix2":
                    self.assertTrue(any(k.split(b"/")[3] == b"-" for k in expected), "'-' folders must be kept")
                self.assertEqual(central.tree(label), expected, label)
            # DPC and receipts: month folders (a receipt's is its billing month) before 202603 skipped.
            for label in ("dpc", "receipt"):
                tree = snapshot(data / label)
                expected = {k: v for k, v in tree.items() if k.split(b"/")[0] >= b"202603"}
                self.assertLess(len(expected), len(tree))
                self.assertEqual(central.tree(label), expected, label)
            self.assertIn("collecting data from 2026-03-01", run(MEDGW, "status", "-c", config, check=True).stdout)

    def test_a_broken_list_stops_collection_and_names_the_line(self):
        with TempDir() as tmp:
            data = tmp / "hospital"
            run(SAMPLE, "--out", data, "--patients", "5", "--seed", "3", "--only", "ssmix2", check=True)
            optout = tmp / "optout.csv"
            optout.write_text("patient_id,dpc_id\n2300000000,\n2300000003,12X\n")
            identity, recipient = new_identity(tmp)
            config = write_gateway_config(tmp, recipient, sources(data),
                                          extra=f"policy: {{optout_file: {optout}}}\n")
            result = collect(config)
            self.assertEqual(result.returncode, 1)
            self.assertIn(f"{optout}:3:", result.stderr)
            self.assertNotIn("12X", result.stderr)
            self.assertFalse((tmp / "state" / "spool").exists() and list((tmp / "state" / "spool").glob("*.age")))
            optout.unlink()
            result = collect(config)
            self.assertEqual(result.returncode, 1)
            self.assertIn("cannot read the opt-out list", result.stderr)


if __name__ == "__main__":
    unittest.main()
