"""medgw-sample output checked with tools nobody here wrote: Python's
iso2022_jp and cp932 codecs, Python's `hl7` package (Debian python3-hl7), and
an independent implementation of the UKE GO rules (domain.md §3.4)."""
import hashlib
import re
import unittest
from collections import defaultdict

import hl7

from helpers import SAMPLE, TempDir, run

GRAMMAR = re.compile(r"^([^_]+)_(\d{8}|-)_([A-Z]{3}(?:-\d{2})?)_(\d{1,15})_(\d{14,17})_([^_]+)_([012])$")


def tree_digest(root):
    return sorted((str(p.relative_to(root)), hashlib.sha256(p.read_bytes()).hexdigest())
                  for p in root.rglob("*") if p.is_file())


def uke_totals(data: bytes):
    """Returns (receipts, count, points, go) computed independently, or raises."""
    assert data.endswith(b"\r\n\x1a"), "UKE must end with CR LF and 0x1A"
    lines = data[:-1].split(b"\r\n")
    assert lines[-1] == b"", "last record must end with CR LF"
    records = [line.split(b",") for line in lines[:-1]]
    assert records[0][0] == b"IR" and records[-1][0] == b"GO", "IR first, GO last"
    assert sum(r[0] == b"IR" for r in records) == 1 and sum(r[0] == b"GO" for r in records) == 1
    receipts, count, points = 0, 0, 0
    current = None
    for record in records[1:-1]:
        kind = record[0]
        if kind == b"RE":
            if current is not None:
                points += current["ho"] if current["ho"] is not None else (current["ko"] or 0)
            receipts += 1
            assert int(record[1]) == receipts, f"RE number {record[1]} after {receipts - 1}"
            current = {"ho": None, "ko": None}
        elif kind in (b"HO", b"KO"):
            count += 1
            value = int(record[5] or b"0")
            key = "ho" if kind == b"HO" else "ko"
            if current[key] is None:
                current[key] = value
        elif kind in (b"SI", b"IY"):
            days = sum(int(x) for x in record[13:44] if x)
            assert days == int(record[6]), "sum of days must equal the count"
    if current is not None:
        points += current["ho"] if current["ho"] is not None else (current["ko"] or 0)
    go = records[-1]
    return receipts, count, points, (int(go[1]), int(go[2]), go[3].decode())


class SampleData(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = TempDir()
        tmp = cls._tmp.__enter__()
        cls.tree = tmp / "seed7"
        run(SAMPLE, "--out", cls.tree, "--patients", 200, "--seed", 7, check=True)
        cls.again = tmp / "seed7-again"
        run(SAMPLE, "--out", cls.again, "--patients", 200, "--seed", 7, "--threads", 1, check=True)
        cls.other = tmp / "seed8"
        run(SAMPLE, "--out", cls.other, "--patients", 200, "--seed", 8, check=True)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.__exit__(None, None, None)

    def test_same_seed_same_bytes_other_seed_other_bytes(self):
        first = tree_digest(self.tree)
        self.assertGreater(len(first), 2000)
        self.assertEqual(first, tree_digest(self.again))
        other = tree_digest(self.other)
        self.assertNotEqual(first, other)
        self.assertFalse(set(h for _, h in first) & set(h for _, h in other) - {
            hashlib.sha256(b"section { margin: 1em; }\n").hexdigest()})

    def test_ssmix2_paths_decode_and_parse(self):
        storage = self.tree / "ssmix2" / "std"
        files = [p for p in storage.rglob("*") if p.is_file()]
        self.assertGreater(len(files), 2000)
        message_types = set()
        delimiter_in_kanji = set()
        for path in files:
            parts = path.relative_to(storage).parts
            self.assertEqual(len(parts), 6, path)
            match = GRAMMAR.match(parts[5])
            self.assertIsNotNone(match, path)
            pid, date, data_type = match.group(1), match.group(2), match.group(3)
            self.assertEqual((parts[0], parts[1], parts[2], parts[3], parts[4]),
                             (pid[0:3], pid[3:6], pid, date, data_type), path)
            raw = path.read_bytes()
            text = raw.decode("iso2022_jp")  # raises on anything outside ISO-2022-JP
            for run_bytes in re.findall(rb"\x1b\$B(.*?)\x1b\(B", raw, re.S):
                delimiter_in_kanji.update(chr(b) for b in run_bytes if chr(b) in "|^~\\&")
            message = hl7.parse(text.rstrip("\r"))
            msh = message.segment("MSH")
            self.assertEqual(str(msh[12]), "2.5")
            message_types.add((data_type, str(msh[9][0][0]), str(msh[9][0][1])))
            pid_segment = message.segment("PID")
            self.assertEqual(str(pid_segment[3][0][0]), pid, f"PID-3 of {path}")
        self.assertEqual(len(message_types), 36)
        self.assertEqual(delimiter_in_kanji, set("|^~\\&"))

    def test_condition_flags_tell_a_consistent_history(self):
        items = defaultdict(list)
        for path in (self.tree / "ssmix2" / "std").rglob("*"):
            if path.is_file():
                fields = path.name.split("_")
                items[tuple(fields[0:4])].append((fields[4], fields[6]))
        updated = deleted = 0
        for key, versions in items.items():
            flags = [flag for _, flag in sorted(versions)]
            self.assertLessEqual(flags.count("1"), 1, key)
            if "0" in flags:
                self.assertNotIn("1", flags, key)
                deleted += 1
            elif "2" in flags:
                self.assertEqual(flags[-1], "1", key)  # the newest version is current
                updated += 1
        self.assertGreater(updated, 10)
        self.assertGreater(deleted, 5)

    def test_receipts_pass_the_go_rules(self):
        files = sorted((self.tree / "receipt").rglob("RECEIPTC.UKE"))
        self.assertEqual(len(files), 3)
        for path in files:
            data = path.read_bytes()
            data[:-1].decode("cp932")
            receipts, count, points, go = uke_totals(data)
            self.assertGreater(receipts, 20)
            self.assertEqual(go, (count, points, "99"), path)

    def test_mutate_applies_renames_updates_and_deletions(self):
        with TempDir() as tmp:
            tree = tmp / "tree"
            run(SAMPLE, "--out", tree, "--patients", 40, "--seed", 3, "--only", "ssmix2", check=True)
            storage = tree / "ssmix2" / "std"
            before = {p.relative_to(storage): p.read_bytes() for p in storage.rglob("*") if p.is_file()}
            result = run(SAMPLE, "--mutate", tree, "--changes", 60, "--seed", 2, check=True)
            match = re.search(r"(\d+) new, (\d+) updated, (\d+) deleted \((\d+) renames, (\d+) new files\)", result.stdout)
            self.assertIsNotNone(match, result.stdout)
            added, updated, deleted, renames, new_files = map(int, match.groups())
            self.assertEqual(added + updated + deleted, 60)
            self.assertTrue(added and updated and deleted, result.stdout)
            after = {p.relative_to(storage): p.read_bytes() for p in storage.rglob("*") if p.is_file()}
            gone = set(before) - set(after)
            appeared = set(after) - set(before)
            self.assertEqual(len(gone), renames)
            self.assertEqual(len(appeared), renames + new_files)
            # A rename keeps the content: only the flag (last character) changes.
            renamed_contents = {before[p] for p in gone}
            for path in gone:
                twins = [q for q in appeared if str(q)[:-1] == str(path)[:-1] and after[q] == before[path]]
                self.assertEqual(len(twins), 1, path)
            self.assertEqual(len(renamed_contents), len(gone))
            for path in appeared:
                self.assertTrue(GRAMMAR.match(path.name), path)
                hl7.parse(after[path].decode("iso2022_jp").rstrip("\r"))
            # Untouched files are byte-identical.
            for path in set(before) & set(after):
                self.assertEqual(before[path], after[path])

    def test_patients_list_names_every_patient(self):
        rows = (self.tree / "patients.tsv").read_text().splitlines()
        self.assertEqual(len(rows), 201)
        ids = {row.split("\t")[0] for row in rows[1:]}
        folders = {p.name for p in (self.tree / "ssmix2" / "std").glob("*/*/*")}
        self.assertTrue(folders <= ids)


if __name__ == "__main__":
    unittest.main()
