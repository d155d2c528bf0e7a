"""Landing at the central (issue 23): medgw-receiver lands objects of a few
thousand files each with one durability point per object, not an fsync per
file. A kill -9 of the receiver while it lands such an object (while it
stages the members, and while it moves them into the tree) must leave no
half-written file in the tree, and the next start must land the object again
completely: the landed tree ends equal to the hospital's, with nothing left
over and nothing quarantined."""
import os
import random
import shutil
import sqlite3
import time
import unittest
from pathlib import Path

from helpers import MEDGW, SAMPLE, Receiver, TempDir, delivery_config, gateway_key, new_identity, run, snapshot
from pki import Pki
from test_collect_ssmix2 import collect

FACILITY = "131234567"


def landing_cursor(receiver: Receiver) -> tuple[int, int]:
    """(highest stored seq, landed through) straight from receiver.db (read-only)."""
    db = sqlite3.connect(f"file:{receiver.directory / 'data' / 'receiver.db'}?mode=ro", uri=True, timeout=10)
    try:
        highest = db.execute("SELECT coalesce(max(seq), 0) FROM objects WHERE state = 'stored'").fetchone()[0]
        row = db.execute("SELECT landed_through FROM landing WHERE facility = ?", (FACILITY,)).fetchone()
        return highest, row[0] if row else 0
    finally:
        db.close()


def staged_members(facility_root: Path) -> int:
    try:
        with os.scandir(facility_root) as items:
            return sum(1 for item in items if item.name.startswith(".landing-member-"))
    except FileNotFoundError:
        return 0


class KillDuringLanding(unittest.TestCase):
    KILLS = int(os.environ.get("MEDGW_LANDING_KILLS", "6"))

    def test_kill_9_while_landing_many_file_objects_lands_them_again_completely(self):
        rng = random.Random(int(os.environ.get("MEDGW_KILL_SEED", time.time())))
        with TempDir() as tmp:
            data = tmp / "hospital"
            run(SAMPLE, "--out", data, "--patients", "1000", "--seed", "23", "--only", "ssmix2", check=True)
            std = data / "ssmix2" / "std"
            sources = f"  - {{name: ssmix2, type: ssmix2, path: {std}, settle: 0s}}\n"
            pki = Pki(tmp / "pki")
            identity, recipient = new_identity(tmp)
            config = delivery_config(tmp, recipient, sources, pki, port=1)
            self.assertEqual(collect(config).returncode, 0)
            first_round = snapshot(std)
            # A second round of changes (adds, modifies, renames, deletions):
            # its objects replay onto files the first round landed.
            run(SAMPLE, "--mutate", data, "--changes", "60", "--seed", "24", check=True)
            self.assertEqual(collect(config).returncode, 0)
            # Delivered with landing off, so that the landing below starts on
            # every object at once and can be killed at any point of it.
            keys = [gateway_key(config)]
            receiver = Receiver(tmp / "central", pki, keys, landing=False).start()
            try:
                config = delivery_config(tmp, recipient, sources, pki, receiver.port)
                delivered = run(MEDGW, "upload", "--once", "-c", config, timeout=300)
                self.assertEqual(delivered.returncode, 0, delivered.stdout + delivered.stderr)
            finally:
                receiver.kill(15)
            receiver = Receiver(tmp / "central", pki, keys, identity=identity)
            highest, _ = landing_cursor(receiver)
            self.assertGreater(highest, 1)
            root = receiver.landed()
            files = len(first_round)
            self.assertGreater(files / highest, 1000, "the objects hold too few files to prove anything")
            restart = receiver.start

            kills = {"staging": 0, "applying": 0}
            trials = 0
            try:
                while min(kills.values()) < self.KILLS // 2 and trials < 4 * self.KILLS:
                    trials += 1
                    phase = "staging" if kills["staging"] <= kills["applying"] else "applying"
                    threshold = rng.randint(1, 500)
                    restart()
                    restart = receiver.restart_on_same_port
                    peak = 0
                    deadline = time.time() + 60
                    checked = time.time()
                    while time.time() < deadline and receiver.process.poll() is None:
                        staged = staged_members(root)
                        peak = max(peak, staged)
                        if phase == "staging" and staged >= threshold:
                            break
                        if phase == "applying" and peak >= 500 and staged <= peak - threshold:
                            break
                        if time.time() - checked > 0.05:
                            checked = time.time()
                            if landing_cursor(receiver)[1] >= highest:
                                break
                    receiver.kill(9)
                    _, landed = landing_cursor(receiver)
                    if landed < highest:
                        kills[phase] += 1
                    # Whatever the tree shows now is a complete file of some version.
                    current = snapshot(std)
                    for path, digest in snapshot(root / "ssmix2").items():
                        self.assertIn(digest, {first_round.get(path), current.get(path)} - {None},
                                      f"a half-written or unknown file after a kill -9 while {phase}: {path!r}")
                    if landed >= highest:
                        break  # landed whole before the kill: nothing more to cut
                restart()
                receiver.wait_landed(highest, timeout=300)
            finally:
                receiver.kill(15)
            print(f"\nkill -9 while landing: {kills['staging']} while staging, {kills['applying']} while applying "
                  f"({trials} starts; {highest} objects, {files} files)", flush=True)
            self.assertGreaterEqual(kills["staging"], 1, "no kill landed in the staging of an object")
            self.assertGreaterEqual(kills["applying"], 1, "no kill landed while an object was applied")
            self.assertEqual(snapshot(root / "ssmix2"), snapshot(std))
            self.assertEqual([name for name in os.listdir(root) if name.startswith(".")], [], "leftovers")
            log = receiver.log.read_text()
            self.assertNotIn("receiver.landing_quarantined", log)
            self.assertNotIn("receiver.landing_paused", log)


if __name__ == "__main__":
    unittest.main()
