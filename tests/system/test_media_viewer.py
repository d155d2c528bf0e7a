"""Acceptance 2 of issue 17: Debian's headless Chromium, driven by
puppeteer-core (tests/peers/media_viewer.mjs), opens INDEX.HTM of an
encrypted medium from file:// with the network off: a wrong passphrase is
named as such, the right one unlocks it, a kana search (typed in hiragana)
finds exactly the expected patient, and that patient's allergy, a lab value
with its H/L flag and a prescription are those of the source HL7 (read here
with Python's hl7 package); no console error, no request other than
file://. Screenshots go to $MEDGW_ARTIFACTS (or build/artifacts/media)."""
import glob
import json
import os
import shutil
import tempfile
import unittest
from collections import Counter
from pathlib import Path

import hl7

from helpers import BINARY_DIR, SOURCE_DIR, run
from media_helpers import PASSPHRASE, back_up_and_lose_the_sources, export, make_hospital

PEERS = SOURCE_DIR / "tests" / "peers"
CHROMIUM = Path(os.environ.get("MEDGW_CHROMIUM", "/usr/bin/chromium"))


def current_files(std: Path, pid: str, data_type: str) -> list[str]:
    return sorted(glob.glob(f"{std}/*/*/{pid}/*/{data_type}/*_1"))


def message(file: str) -> hl7.Message:
    text = Path(file).read_bytes().decode("iso2022_jp").replace("\n", "\r").rstrip("\r\x1c")
    return hl7.parse(text)


def component(segment, field: int, number: int) -> str:
    """Component `number` of the field's first repetition, as hl7 prints it."""
    parts = str(segment[field]).split("~")[0].split("^")
    return parts[number - 1] if number <= len(parts) else ""


def to_hiragana(katakana: str) -> str:
    return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in katakana)


def choose_patient(hospital: dict) -> dict:
    """A generated patient with a unique kana name, an allergy (ADT-61), a
    flagged lab value (OML-11) and a prescription (OMP-01), with those values
    as the source HL7 says them."""
    kana = Counter(row[3].replace("\u3000", "") for row in hospital["patients"])
    for pid, _dpc_id, _kanji, name_kana, *_ in hospital["patients"]:
        if kana[name_kana.replace("\u3000", "")] != 1:
            continue
        allergies = current_files(hospital["gen_std"], pid, "ADT-61")
        labs = current_files(hospital["gen_std"], pid, "OML-11")
        orders = current_files(hospital["gen_std"], pid, "OMP-01")
        if not (allergies and labs and orders):
            continue
        flagged = None
        for lab in labs:
            for obx in message(lab).segments("OBX"):
                if str(obx[8]) in ("H", "L", "HH", "LL"):
                    flagged = (component(obx, 3, 2), str(obx[5]), str(obx[8]))
                    break
            if flagged:
                break
        if not flagged:
            continue
        allergen = component(message(allergies[0]).segments("IAM")[0], 3, 2)
        drug = component(message(orders[0]).segments("RXE")[0], 2, 2)
        return {"id": pid, "kana": name_kana, "allergen": allergen, "lab": flagged, "drug": drug}
    raise AssertionError("no generated patient has an allergy, a flagged lab value and a prescription")


@unittest.skipUnless(CHROMIUM.exists() and (PEERS / "node_modules" / "puppeteer-core").is_dir(),
                     "needs Debian's chromium and npm ci in tests/peers (scripts/install-deps)")
class ViewerInChromium(unittest.TestCase):
    def test_unlock_search_patient_and_summary_offline(self):
        self.check_viewer(from_backup=False)

    def test_the_same_from_a_backup_with_the_sources_gone(self):
        """Acceptance 3: media made from a backup snapshot with the recovery
        identity after the hospital's storage is gone."""
        self.check_viewer(from_backup=True)

    def check_viewer(self, from_backup: bool):
        artifacts = Path(os.environ.get("MEDGW_ARTIFACTS", BINARY_DIR / "artifacts")) / "media"
        if from_backup:
            artifacts = artifacts / "from-backup"
        shutil.rmtree(artifacts, ignore_errors=True)
        with tempfile.TemporaryDirectory(prefix="medgw-viewer-") as name:
            directory = Path(name)
            hospital = make_hospital(directory)
            expected = choose_patient(hospital)
            media = directory / "media"
            extra = []
            if from_backup:
                extra = ["--from", "backup", "--identity", back_up_and_lose_the_sources(directory, hospital)]
            result = export(hospital, media, "--format", "dir", "--title", "テスト病院 災害時媒体", *extra)
            self.assertEqual(result.returncode, 0, result.stderr)
            query = to_hiragana(expected["kana"]).replace("\u3000", " ")
            driven = run("node", PEERS / "media_viewer.mjs", "--media", media, "--passphrase", PASSPHRASE,
                         "--wrong-passphrase", "not the passphrase", "--query", query, "--artifacts", artifacts,
                         timeout=120)
            self.assertEqual(driven.returncode, 0, driven.stderr)
            seen = json.loads(driven.stdout)
        print(f"\nmedia viewer screenshots: {artifacts}")
        self.assertNotIn("failure", seen, seen.get("failure"))
        self.assertEqual(seen["consoleErrors"], [])
        self.assertEqual(seen["blocked"], [], "the viewer asked for something other than file://")
        self.assertIn("パスフレーズが違います", seen["wrongPassphraseMessage"])
        self.assertEqual(seen["listCount"], len(hospital["patients"]) + 2)  # + the NHO sample's two
        self.assertEqual(seen["found"], [expected["id"]])
        patient = seen["patient"]
        allergens = [row[1]["text"].split(" ⚠")[0] for row in patient["allergies"]]
        self.assertIn(expected["allergen"], allergens)
        name, value, flag = expected["lab"]
        rows = [row for row in patient["labs"] if row[0]["text"] == name]
        self.assertTrue(any(cell["text"].startswith(value) and cell["flagged"] == f"flag-{flag}"
                            for row in rows for cell in row[3:]), (name, value, flag, rows))
        self.assertIn(expected["drug"], [row[2] for row in patient["medications"]])
        self.assertIn("緊急時サマリー", seen["summary"])
        self.assertIn(expected["allergen"], seen["summary"])
        self.assertEqual(len(seen["screenshots"]), 5)
        for shot in seen["screenshots"]:
            self.assertGreater(Path(shot).stat().st_size, 10_000)


if __name__ == "__main__":
    unittest.main()
