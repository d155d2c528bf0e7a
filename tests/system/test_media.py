"""medgw export-media (issue 17), acceptance 1, 3 (MediaFromBackup) and 4, checked with tools
nobody here wrote: xorriso reads the ISO's Rock Ridge and Joliet trees, the
stock age CLI and tar restore the raw storage, Python's cryptography checks
the manifest's Ed25519 signature."""
import base64
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import unittest
import zlib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from helpers import MEDGW, run
from media_helpers import PASSPHRASE, age_decrypt, back_up_and_lose_the_sources, export, iso_files, make_hospital, tree


def check_manifest(test: unittest.TestCase, root: Path):
    """MANIFEST.JSON lists every other file with its size and SHA-256, and
    MANIFEST.SIG is a valid Ed25519 signature of its statement."""
    manifest_bytes = (root / "MANIFEST.JSON").read_bytes()
    signature = json.loads((root / "MANIFEST.SIG").read_text())
    digest = hashlib.sha256(manifest_bytes).hexdigest()
    test.assertEqual(signature["manifest_sha256"], digest)
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(signature["signer"].removeprefix("ed25519:")))
    key.verify(base64.b64decode(signature["signature"]), f"medgw-media/1\n{digest}\n".encode())  # raises if bad
    manifest = json.loads(manifest_bytes)
    listed = {}
    for entry in manifest["files"]:
        path = entry["path"].encode() if "path" in entry else base64.b64decode(entry["path_base64"])
        listed[path] = entry
    on_media = {p: c for p, c in tree(root).items() if p not in (b"MANIFEST.JSON", b"MANIFEST.SIG")}
    test.assertEqual(set(listed), set(on_media))
    for path, content in on_media.items():
        test.assertEqual(listed[path]["sha256"], hashlib.sha256(content).hexdigest(), path)
        test.assertEqual(listed[path]["size"], len(content), path)
    return manifest


class MediaFromSources(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="medgw-media-")
        cls.dir = Path(cls.tmp.name)
        cls.hospital = make_hospital(cls.dir)
        cls.expected = {}  # raw storage as it must come back: "<label>/<path>" -> content
        for label, root in (("nho", cls.hospital["nho"]), ("gen", cls.hospital["gen_std"]),
                            ("gen-ext", cls.hospital["gen_ext"])):
            for path, content in tree(root).items():
                cls.expected[label.encode() + b"/" + path] = content

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def export(self, out: Path, *extra) -> subprocess.CompletedProcess:
        return export(self.hospital, out, *extra)

    def test_unencrypted_iso_keeps_every_name_under_rock_ridge_and_joliet(self):
        iso = self.dir / "clear.iso"
        result = self.export(iso, "--no-encrypt")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("NOT encrypted", result.stdout)
        self.assertEqual(stat.S_IMODE(iso.stat().st_mode), 0o600)
        expected = sorted("/SSMIX2/" + p.decode() for p in self.expected)
        self.assertGreater(len(expected), 400)
        self.assertTrue(any(len(p.rsplit("/", 1)[1]) > 64 for p in expected))  # longer than plain Joliet allows
        for mode in ("nojoliet", "norock"):  # Rock Ridge, then Joliet
            listed = sorted(p for p in iso_files(iso, mode) if p.startswith("/SSMIX2/"))
            self.assertEqual(listed, expected, mode)
        # The plain ISO 9660 tree cuts them: the check above would see it.
        self.assertNotEqual(sorted(p for p in iso_files(iso, "ecma119") if p.startswith("/SSMIX2/")), expected)
        self.assertIn("README.TXT", " ".join(iso_files(iso, "norock")))
        readme_dir = self.dir / "clear-extracted"
        run("xorriso", "-osirrox", "on", "-indev", iso, "-extract", "/", readme_dir, check=True)
        readme = (readme_dir / "README.TXT").read_text(encoding="utf-8-sig")
        self.assertIn("暗号化されていません", readme)
        self.assertIn("NOT encrypted", readme)
        check_manifest(self, readme_dir)
        verified = run(MEDGW, "export-media", "-c", self.hospital["config"], "--verify", iso)
        self.assertEqual(verified.returncode, 0, verified.stderr)

    def test_encrypted_iso_holds_no_patient_data_and_restores_with_age(self):
        iso = self.dir / "encrypted.iso"
        result = self.export(iso)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(stat.S_IMODE(iso.stat().st_mode), 0o644)
        files = iso_files(iso, "norock")
        self.assertEqual(files, sorted(files, key=files.index))
        for required in ("/INDEX.HTM", "/README.TXT", "/MANIFEST.JSON", "/MANIFEST.SIG", "/SSMIX2.TAR.AGE",
                         "/DATA/KEY.JS", "/VIEWER/APP.JS"):
            self.assertIn(required, files)
        extracted = self.dir / "encrypted-extracted"
        run("xorriso", "-osirrox", "on", "-indev", iso, "-extract", "/", extracted, check=True)
        secrets = {"9999013", "0000001", "カンジャ", "太郎", "19480405"}
        for row in self.hospital["patients"]:
            secrets |= {row[0], row[2], row[3], row[2].replace("\u3000", ""), row[3].replace("\u3000", "")}
        encoded = {s.encode("utf-8") for s in secrets} | {s.encode("iso2022_jp") for s in secrets if not s.isascii()}
        for path, content in tree(extracted).items():
            for secret in encoded:
                self.assertNotIn(secret, path, path)
                self.assertNotIn(secret, content, f"{path!r} holds patient data")
        check_manifest(self, extracted)
        self.assertEqual(run(MEDGW, "export-media", "-c", self.hospital["config"], "--verify", iso).returncode, 0)

        plain_tar = self.dir / "restored.tar"
        self.assertEqual(age_decrypt(extracted / "SSMIX2.TAR.AGE", plain_tar), 0)
        restored = self.dir / "restored"
        restored.mkdir()
        run("tar", "-xf", plain_tar, "-C", restored, check=True)
        self.assertEqual(tree(restored), self.expected)
        wrong = self.dir / "wrong.tar"
        self.assertNotEqual(age_decrypt(extracted / "SSMIX2.TAR.AGE", wrong, "not the passphrase"), 0)

        # A changed file is found.
        (extracted / "DATA" / "KEY.JS").write_text("window.__medgw_media = {};\n")
        tampered = run(MEDGW, "export-media", "-c", self.hospital["config"], "--verify", extracted)
        self.assertEqual(tampered.returncode, 1)
        self.assertIn("changed: DATA/KEY.JS", tampered.stderr)

    def test_zip_for_usb_sticks(self):
        out = self.dir / "media.zip"
        result = self.export(out)
        self.assertEqual(result.returncode, 0, result.stderr)
        unpacked = self.dir / "zip-extracted"
        shutil.unpack_archive(out, unpacked)
        check_manifest(self, unpacked)
        self.assertEqual(run(MEDGW, "export-media", "-c", self.hospital["config"], "--verify", out).returncode, 0)

    def test_a_list_of_patients_and_a_period(self):
        ids = self.dir / "ids.txt"
        ids.write_text("# the NHO sample's patient\n9999013\n")
        out = self.dir / "subset"
        result = self.export(out, "--format", "dir", "--no-encrypt", "--patients", ids,
                        "--since", "2011-12-01")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout, r"patients: +1\n")
        self.assertRegex(result.stdout, r"out_of_period \d+")
        raw = sorted(p.decode() for p in tree(out / "SSMIX2"))
        self.assertTrue(raw and all(p.startswith("nho/999/901/9999013/") for p in raw), raw)
        self.assertTrue(all(p.split("/")[4] == "-" or p.split("/")[4] >= "20111201" for p in raw), raw)

    def test_from_a_backup_snapshot_the_same_storage(self):
        """--from backup (issue 16): the latest snapshot, read with the
        recovery identity made by the stock age-keygen, gives the raw storage
        the live sources give, and the signed manifest names the snapshot."""
        tmp = self.dir / "from-backup"
        (tmp / "repository").mkdir(parents=True)
        key = tmp / "recovery.key"
        run("age-keygen", "-o", key, check=True)
        recipient = run("age-keygen", "-y", key, check=True).stdout.strip()
        config = tmp / "medgw.yaml"
        config.write_text(self.hospital["config"].read_text() +
                          f"backup: {{repository: {tmp / 'repository'}, recipients: [{recipient}]}}\n")
        backup = run(MEDGW, "backup", "run", "-c", config, check=True)
        snapshot = backup.stdout.split()[1].rstrip(":")
        live = export({**self.hospital, "config": config}, tmp / "live", "--format", "dir", "--no-encrypt")
        self.assertEqual(live.returncode, 0, live.stderr)
        backed = run(MEDGW, "export-media", "-c", config, "--out", tmp / "backed", "--format", "dir", "--no-encrypt",
                     "--from", "backup", "--identity", key)
        self.assertEqual(backed.returncode, 0, backed.stderr)
        self.assertEqual(tree(tmp / "backed" / "SSMIX2"), tree(tmp / "live" / "SSMIX2"))
        self.assertGreater(len(tree(tmp / "backed" / "SSMIX2")), 400)
        patients = [line for line in live.stdout.splitlines() if "patients:" in line]
        self.assertEqual(patients, [line for line in backed.stdout.splitlines() if "patients:" in line])
        manifest = check_manifest(self, tmp / "backed")
        self.assertEqual((manifest["origin"], manifest["snapshot"]), ("backup", snapshot))
        wrong = tmp / "wrong.key"
        run("age-keygen", "-o", wrong, check=True)
        refused = run(MEDGW, "export-media", "-c", config, "--out", tmp / "nope", "--format", "dir", "--no-encrypt",
                      "--from", "backup", "--identity", wrong)
        self.assertEqual(refused.returncode, 1)
        self.assertIn("recovery identity", refused.stderr)

    def test_refusals_and_the_backup_case(self):
        out = self.dir / "occupied"
        out.mkdir()
        (out / "something").write_text("keep me")
        refused = export(self.hospital, out, "--format", "dir")
        self.assertEqual(refused.returncode, 2)
        self.assertIn("not empty", refused.stderr)
        forced = export(self.hospital, out, "--format", "dir", "--force")
        self.assertEqual(forced.returncode, 2, "--force replaces only an earlier medgw medium")
        self.assertEqual((out / "something").read_text(), "keep me")
        media = self.dir / "again"
        self.assertEqual(export(self.hospital, media, "--format", "dir").returncode, 0)
        self.assertEqual(export(self.hospital, media, "--format", "dir").returncode, 2)
        self.assertEqual(export(self.hospital, media, "--format", "dir", "--force").returncode, 0)
        backup = run(MEDGW, "export-media", "-c", self.hospital["config"], "--out", self.dir / "b.iso",
                     "--from", "backup", "--identity", self.dir / "id")
        self.assertEqual(backup.returncode, 2)
        self.assertIn("backup.repository is not set", backup.stderr)
        no_secret = run(MEDGW, "export-media", "-c", self.hospital["config"], "--out", self.dir / "x.iso",
                        stdin=subprocess.DEVNULL)
        self.assertEqual(no_secret.returncode, 2)
        self.assertIn("--passphrase-file", no_secret.stderr)
        short = self.dir / "short.txt"
        short.write_text("tooshort\n")
        short.chmod(0o600)
        weak = run(MEDGW, "export-media", "-c", self.hospital["config"], "--out", self.dir / "y.iso",
                   "--passphrase-file", short)
        self.assertEqual(weak.returncode, 2)
        self.assertIn("at least 12 characters", weak.stderr)
        for failed in (refused, backup, no_secret, weak):
            for row in self.hospital["patients"]:
                self.assertNotIn(row[0], failed.stderr + failed.stdout)


class MediaFromBackup(MediaFromSources):
    """Acceptance 3, the disaster case: the same checks on media made from a
    backup snapshot with the recovery identity after the sources are gone."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="medgw-media-backup-")
        cls.dir = Path(cls.tmp.name)
        cls.hospital = make_hospital(cls.dir)
        cls.expected = {}
        for label, root in (("nho", cls.hospital["nho"]), ("gen", cls.hospital["gen_std"]),
                            ("gen-ext", cls.hospital["gen_ext"])):
            for path, content in tree(root).items():
                cls.expected[label.encode() + b"/" + path] = content
        cls.key = back_up_and_lose_the_sources(cls.dir, cls.hospital)

    def export(self, out: Path, *extra) -> subprocess.CompletedProcess:
        return export(self.hospital, out, "--from", "backup", "--identity", self.key, *extra)

    # These two export from the live sources, which are gone here.
    test_from_a_backup_snapshot_the_same_storage = None
    test_refusals_and_the_backup_case = None


class BadInput(unittest.TestCase):
    """Acceptance 4: malformed HL7, an unknown data type, flag-0 files and a
    name that is not UTF-8 - the export goes on and counts them."""

    def test_bad_input_is_counted_and_the_rest_is_shown(self):
        with tempfile.TemporaryDirectory(prefix="medgw-media-bad-") as name:
            directory = Path(name)
            hospital = make_hospital(directory, patients=3, seed=3)
            patient = next(hospital["gen_std"].glob("*/*/*"))
            pid = patient.name
            (patient / "20240101" / "OMP-01").mkdir(parents=True)
            (patient / "20240101" / "XYZ-99").mkdir(parents=True)
            bad = patient / "20240101" / "OMP-01"
            (bad / f"{pid}_20240101_OMP-01_000000000000001_20240101000000000_01_1").write_bytes(b"not HL7 at all")
            (patient / "20240101" / "XYZ-99" / f"{pid}_20240101_XYZ-99_000000000000001_20240101000000000_01_1"
             ).write_bytes(b"MSH|^~\\&|A|B|C|D|20240101||ZZZ^Z01|1|P|2.5\rPID|1||" + pid.encode() + b"\r")
            (bad / f"{pid}_20240101_OMP-01_000000000000002_20240101000000000_01_0").write_bytes(b"deleted item")
            odd = os.fsencode(bad) + b"/" + pid.encode() + b"_20240101_OMP-01_\xff\xfe_1"
            with open(odd, "wb") as f:
                f.write(b"a name that is not UTF-8")
            out = directory / "media"
            result = export(hospital, out, "--no-encrypt", "--format", "dir")
            self.assertEqual(result.returncode, 0, result.stderr)
            for counted in ("hl7_invalid 1", "unknown_data_type 1", "non_utf8_name 1", "encoding_invalid 1"):
                self.assertIn(counted, result.stdout)
            self.assertRegex(result.stdout, r"deleted \d+")
            self.assertNotIn(pid, result.stdout + result.stderr)
            with open(os.fsencode(out) + b"/SSMIX2/gen/" + odd[len(os.fsencode(hospital["gen_std"])) + 1:], "rb") as f:
                self.assertEqual(f.read(), b"a name that is not UTF-8")
            records = []
            for pack in (out / "DATA" / "P").glob("*.JS"):
                text = pack.read_text()
                items = json.loads(text[text.index("["):text.rindex("]") + 1])
                for item in items:
                    try:
                        decoded = zlib.decompress(base64.b64decode(item))
                    except zlib.error:
                        continue  # a document's bytes, not a record
                    if decoded.startswith(b"{\"format\":\"medgw-media-patient/1\""):
                        records.append(json.loads(decoded))
            record = next(r for r in records if r["id"] == pid)
            problems = {u["problem"] for u in record["unread"]}
            self.assertLessEqual({"hl7_invalid", "unknown_data_type"}, problems)
            self.assertTrue(record["name"])  # the rest is shown
            check_manifest(self, out)


if __name__ == "__main__":
    unittest.main()
