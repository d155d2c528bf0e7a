"""SS-MIX2 collection driven through `medgw collect --once`, checked the way
the central sees it: every spooled object decrypted with the real `age` CLI,
unpacked, and its manifest replayed; the replay must equal the tree."""
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest
from pathlib import Path

from helpers import (MEDGW, SAMPLE, Central, TempDir, new_identity, open_object, committed_objects, run, snapshot,
                     testdata_dir, write_gateway_config)

NHO_0000001 = "000/000/0000001/20000401"
MUTATE_COUNTS = re.compile(r"(\d+) new, (\d+) updated, (\d+) deleted \((\d+) renames, (\d+) new files\)")


def collect(config: Path) -> subprocess.CompletedProcess:
    return run(MEDGW, "collect", "--once", "-c", config)


def status_json(config: Path) -> dict:
    return json.loads(run(MEDGW, "status", "--json", "-c", config, check=True).stdout)


def source_lines(settle: str = "0s", extended: Path | None = None, root: Path = Path("/nonexistent")) -> str:
    text = f"  - name: ssmix2\n    type: ssmix2\n    path: {root}\n    settle: {settle}\n"
    if extended is not None:
        text += f"    extended_path: {extended}\n"
    return text


class NhoSample(unittest.TestCase):
    """Acceptance 1: the public NHO sample storage."""

    def test_all_files_collected_byte_identical_with_the_deliberate_errors_flagged(self):
        root = testdata_dir() / "ssmix2-nho" / "sampleData"
        with TempDir() as tmp:
            identity, recipient = new_identity(tmp)
            config = write_gateway_config(tmp, recipient, source_lines(root=root),
                                          extra=f"log:\n  level: debug\n  file: {tmp / 'medgw.log'}\n")
            first = collect(config)
            self.assertEqual(first.returncode, 0, first.stderr)
            self.assertIn("ssmix2: 22 files seen: 22 new, 0 changed, 0 renamed, 0 deleted", first.stdout)

            central = Central(identity)
            central.apply_new(tmp / "state")
            self.assertEqual(central.tree("ssmix2"), snapshot(root))
            # Byte for byte, through a real tar of the decrypted object.
            unpacked = tmp / "unpacked"
            unpacked.mkdir()
            for file in committed_objects(tmp / "state"):
                plain = tmp / "object.tar"
                run("age", "-d", "-i", identity, "-o", plain, file, check=True)
                run("tar", "--zstd", "-xf", plain, "-C", unpacked, check=True)
            self.assertEqual(run("diff", "-r", unpacked / "ssmix2", root).returncode, 0)

            # The deliberate errors of patient 0000001, each as its kind.
            manifest, _ = open_object(committed_objects(tmp / "state")[0], identity)
            meta = {e["path"]: e["meta"] for e in manifest["entries"]}
            misplaced = meta[f"{NHO_0000001}/ADT-31/9999013_20110630_OMP-11_123456789012345_20110701113813225_01_1"]
            self.assertIn("encoding_invalid", misplaced["anomalies"])  # 0xFB 0xFC: not ISO-2022-JP
            for kind in ("patient_folder_mismatch", "prefix_folder_mismatch", "date_folder_mismatch",
                         "type_folder_mismatch"):
                self.assertIn(kind, misplaced["anomalies"])  # a 9999013 file under 0000001's ADT-31 folder
            flag0 = meta[f"{NHO_0000001}/OMP-11/0000001_20000401_OMP-11_123456789012346_20110701113813226_01_0"]
            self.assertIn("condition_flag_0", flag0["anomalies"])
            valid = meta[f"{NHO_0000001}/OMP-11/0000001_20000401_OMP-11_123456789012345_20110701113813225_01_1"]
            self.assertNotIn("condition_flag_0", valid["anomalies"])
            self.assertEqual(valid["message_type"], "RAS^O17")
            # What the file name states (patient, date, type, ...) is the
            # member's name, not repeated in the meta (medgw-object/2).
            self.assertEqual(valid["storage"], "standard")
            self.assertFalse({"patient_id", "care_date", "data_type", "order_no", "timestamp"} & set(valid))
            # A clean file of the sample: decoded, parsed, no anomalies.
            clean = meta["999/901/9999013/20111120/ADT-22/9999013_20111120_ADT-22_999999999999999_20111220224447339_01_1"]
            self.assertEqual(clean["message_type"], "ADT^A01")
            self.assertNotIn("anomalies", clean)

            # status counts the kinds; nothing names a patient.
            document = status_json(config)
            collection = document["sources"][0]["collections"][0]
            self.assertEqual(collection["indexed_files"], 22)
            self.assertEqual(collection["anomalies"]["encoding_invalid"], 1)
            self.assertEqual(collection["anomalies"]["condition_flag_0"], 1)
            self.assertEqual(collection["anomalies"]["type_folder_mismatch"], 1)
            self.assertEqual(collection["last_pass"]["outcome"], "finished")
            text = run(MEDGW, "status", "-c", config, check=True).stdout
            self.assertIn("encoding_invalid 1", text)

            again = collect(config)
            self.assertEqual(again.returncode, 0, again.stderr)
            self.assertIn("0 new, 0 changed, 0 renamed, 0 deleted", again.stdout)
            self.assertEqual(len(committed_objects(tmp / "state")), 1, "an unchanged re-scan made an object")

            outputs = first.stdout + first.stderr + again.stdout + again.stderr + text + str(document)
            outputs += (tmp / "medgw.log").read_text()
            for secret in ("9999013", "0000001", "12345678", "山田", "患者", "ヤマダ", "カンジャ"):
                self.assertNotIn(secret, outputs, "patient data in an output")


class GeneratedTree(unittest.TestCase):
    """Acceptance 2: three --mutate rounds, plus deletions, copies and edits."""

    def test_three_mutation_rounds_replay_to_the_tree(self):
        with TempDir() as tmp:
            data = tmp / "hospital"
            run(SAMPLE, "--out", data, "--patients", "60", "--seed", "5", "--only", "ssmix2", check=True)
            std, ext = data / "ssmix2" / "std", data / "ssmix2" / "ext"
            identity, recipient = new_identity(tmp)
            config = write_gateway_config(tmp, recipient, source_lines(root=std, extended=ext),
                                          extra=f"log:\n  level: debug\n  file: {tmp / 'medgw.log'}\n")
            central = Central(identity)
            outputs = ""

            result = collect(config)
            outputs += result.stdout + result.stderr
            self.assertEqual(result.returncode, 0, result.stderr)
            counts = central.apply_new(tmp / "state")
            self.assertEqual(central.tree("ssmix2"), snapshot(std))
            self.assertEqual(central.tree("ssmix2-ext"), snapshot(ext))
            self.assertEqual(counts["content"], len(snapshot(std)) + len(snapshot(ext)))

            rng = random.Random(11)
            for round_number in range(1, 4):
                mutated = run(SAMPLE, "--mutate", data, "--changes", "40", "--seed", str(round_number), check=True)
                added, updated, deleted, renames, new_files = map(int, MUTATE_COUNTS.search(mutated.stdout).groups())
                self.assertGreater(renames, 0)
                # By hand: a deletion, a copy to a new name with the original
                # removed, an edit in place, a touch (metadata only), and one
                # deletion in the extended storage.
                files = sorted(p for p in std.rglob("*") if p.is_file())
                gone, copied, edited, touched = rng.sample(files, 4)
                gone.unlink()
                shutil.copy2(copied, copied.with_name(copied.name + ".copy"))
                copied.unlink()
                with open(edited, "ab") as handle:
                    handle.write(b"\r")
                os.utime(touched, (time.time() - 100000, time.time() - 100000))
                ext_files = sorted(p for p in ext.rglob("*") if p.is_file())
                rng.choice(ext_files).unlink()

                result = collect(config)
                outputs += result.stdout + result.stderr
                self.assertEqual(result.returncode, 0, result.stderr)
                counts = central.apply_new(tmp / "state")
                with self.subTest(round=round_number):
                    self.assertEqual(central.tree("ssmix2"), snapshot(std))
                    self.assertEqual(central.tree("ssmix2-ext"), snapshot(ext))
                    self.assertEqual(counts, {"content": new_files + 1, "rename": renames + 1, "delete": 2},
                                     result.stdout)
                    self.assertIn(f"ssmix2: ", result.stdout)
                    self.assertIn(f"{new_files} new, 1 changed, {renames + 1} renamed, 1 deleted, 1 touched",
                                  result.stdout)

                before = len(committed_objects(tmp / "state"))
                unchanged = collect(config)
                outputs += unchanged.stdout + unchanged.stderr
                self.assertEqual(unchanged.returncode, 0, unchanged.stderr)
                self.assertEqual(len(committed_objects(tmp / "state")), before, "an unchanged re-scan made an object")

            # No content was sent twice.
            self.assertEqual(len(central.content_entries), len(set(central.content_entries)))
            outputs += (tmp / "medgw.log").read_text()
            outputs += run(MEDGW, "status", "-c", config, check=True).stdout
            assert_no_patient_data(self, outputs, data / "patients.tsv")


def assert_no_patient_data(test: unittest.TestCase, text: str, patients_tsv: Path):
    lines = patients_tsv.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    checked = 0
    for line in lines[1:]:
        row = dict(zip(header, line.split("\t")))
        for column, value in row.items():
            if column in ("sex", "birth_date") or len(value) < 4:
                continue
            test.assertNotIn(value, text, f"patients.tsv {column} found in an output")
            checked += 1
    test.assertGreater(checked, 0)


class Settle(unittest.TestCase):
    """Acceptance 3: a file grown slowly by another process is sent only complete."""

    def test_growing_file_collected_once_complete(self):
        with TempDir() as tmp:
            root = tmp / "std"
            folder = root / "999" / "901" / "9999013" / "20111220" / "OMG-01"
            folder.mkdir(parents=True)
            target = folder / "9999013_20111220_OMG-01_000201101200100_20111220224447339_-_1"
            identity, recipient = new_identity(tmp)
            config = write_gateway_config(tmp, recipient, source_lines(settle="1s", root=root))
            writer = subprocess.Popen([sys.executable, "-c", (
                "import sys, time\n"
                "with open(sys.argv[1], 'ab', buffering=0) as f:\n"
                "    for i in range(30):\n"
                "        f.write(b'OBX|%d|ST|||growing line of the message|\\r' % i)\n"
                "        time.sleep(0.1)\n"), str(target)])
            passes = 0
            try:
                while writer.poll() is None:
                    result = collect(config)
                    self.assertEqual(result.returncode, 0, result.stderr)
                    passes += 1
                    # While it grows, the file waits.
                    if writer.poll() is None:
                        self.assertEqual(committed_objects(tmp / "state"), [], "a growing file was sent")
            finally:
                writer.wait(timeout=30)
            self.assertGreaterEqual(passes, 2)
            time.sleep(1.3)
            result = collect(config)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn("1 new", result.stdout)
            central = Central(identity)
            central.apply_new(tmp / "state")
            self.assertEqual(central.tree("ssmix2"), snapshot(root))
            self.assertEqual(len(central.content_entries), 1)
            expected = b"".join(b"OBX|%d|ST|||growing line of the message|\r" % i for i in range(30))
            self.assertEqual(target.read_bytes(), expected)
            self.assertEqual(central.content_entries[0][2], hashlib.sha256(expected).hexdigest())


class Unreadable(unittest.TestCase):
    """Permission errors are counted, logged without patient data, and what was
    collected from a folder that became unreadable is not taken as deleted.
    Run as an unprivileged user (root reads everything): as `nobody` via
    setpriv when the tests run as root."""

    def as_user(self, *args) -> subprocess.CompletedProcess:
        prefix = []
        if os.geteuid() == 0:
            prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
        return run(*prefix, *args)

    def test_unreadable_folder_and_file(self):
        with TempDir() as tmp:
            tmp.chmod(0o755)
            root = tmp / "std"
            shutil.copytree(testdata_dir() / "ssmix2-nho" / "sampleData", root)
            identity, recipient = new_identity(tmp)
            identity.chmod(0o644)
            config = write_gateway_config(tmp, recipient, source_lines(root=root))
            (tmp / "state").mkdir()
            if os.geteuid() == 0:
                shutil.chown(tmp / "state", "nobody", "nogroup")
            first = self.as_user(MEDGW, "collect", "--once", "-c", config)
            self.assertEqual(first.returncode, 0, first.stderr)
            self.assertIn("22 new", first.stdout)

            patient = root / "999" / "901" / "9999013"
            locked_file = root / "000/000/0000001/20000401/OMP-11/0000001_20000401_OMP-11_123456789012345_20110701113813225_01_1"
            new_file = patient / "20111220" / "OMG-01" / "9999013_20111220_OMG-01_000201101200101_20111220224447339_-_1"
            new_file.write_bytes((patient / "20111220" / "OMG-01").iterdir().__next__().read_bytes() + b"\r")
            os.utime(locked_file, (time.time(), time.time()))  # changed: must be read again
            locked_file.chmod(0o000)
            (patient / "20111220").chmod(0o000)
            try:
                second = self.as_user(MEDGW, "collect", "--once", "-c", config)
            finally:
                (patient / "20111220").chmod(0o755)
                locked_file.chmod(0o644)
            self.assertEqual(second.returncode, 0, second.stderr)
            self.assertIn("0 deleted", second.stdout)  # the unreadable folder's files are not gone
            self.assertIn("1 unreadable", second.stdout)
            self.assertIn("1 unreadable, 0 vanished", second.stdout)  # the folder, in the walk counters
            for secret in ("9999013", "0000001", "患者"):
                self.assertNotIn(secret, second.stdout + second.stderr)

            third = self.as_user(MEDGW, "collect", "--once", "-c", config)
            self.assertEqual(third.returncode, 0, third.stderr)
            central = Central(identity)
            central.apply_new(tmp / "state")
            self.assertEqual(central.tree("ssmix2"), snapshot(root))


class KillDuringCollect(unittest.TestCase):
    """Acceptance 4: kill -9 at random points of collect passes."""

    TRIALS = int(os.environ.get("MEDGW_KILL_TRIALS", "100"))

    def test_kill_9_at_random_points(self):
        with TempDir() as tmp:
            data = tmp / "hospital"
            run(SAMPLE, "--out", data, "--patients", "400", "--seed", "9", "--only", "ssmix2", check=True)
            std, ext = data / "ssmix2" / "std", data / "ssmix2" / "ext"
            identity, recipient = new_identity(tmp)
            # Small objects, so a pass builds many and kills land between them too.
            config = write_gateway_config(tmp, recipient, source_lines(root=std, extended=ext))
            command = [str(MEDGW), "collect", "--once", "-c", str(config)]
            started = time.monotonic()
            first = subprocess.run(command, capture_output=True, text=True)
            full_pass = time.monotonic() - started
            self.assertEqual(first.returncode, 0, first.stderr)
            # Start again from nothing: the kills must hit the big first pass too.
            shutil.rmtree(tmp / "state")
            rng = random.Random(3)
            killed = 0
            estimate = full_pass
            for trial in range(self.TRIALS):
                if trial % 3 == 1:
                    run(SAMPLE, "--mutate", data, "--changes", "25", "--seed", str(100 + trial), check=True)
                if trial % 7 == 3:
                    files = sorted(p for p in std.rglob("*") if p.is_file())
                    for victim in rng.sample(files, 3):
                        victim.unlink()
                process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                started = time.monotonic()
                time.sleep(rng.uniform(0, estimate * 1.1))
                if process.poll() is None:
                    process.send_signal(signal.SIGKILL)
                    killed += 1
                _, err = process.communicate(timeout=120)
                if process.returncode == 0:
                    estimate = time.monotonic() - started  # the next pass is probably as long
                if process.returncode not in (0, -signal.SIGKILL):
                    self.fail(f"trial {trial}: exit {process.returncode}: {err.decode(errors='replace')}")
            self.assertGreaterEqual(killed, self.TRIALS // 2, "too few kills landed inside a pass")
            final = subprocess.run(command, capture_output=True, text=True)
            self.assertEqual(final.returncode, 0, final.stderr)
            central = Central(identity)
            central.apply_new(tmp / "state")
            self.assertEqual(central.tree("ssmix2"), snapshot(std))
            self.assertEqual(central.tree("ssmix2-ext"), snapshot(ext))
            self.assertEqual(len(central.content_entries), len(set(central.content_entries)), "content sent twice")
            print(f"\nkill -9 trials: {self.TRIALS}, killed mid-pass: {killed}, full pass {full_pass:.2f}s, "
                  f"objects: {len(central.seen_objects)}, files: {len(central.files)}", file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
