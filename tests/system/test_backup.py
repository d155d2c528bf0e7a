"""medgw backup (issue 16): the hospital's write-only encrypted backup, driven
as an operator would, checked with tools nobody here wrote (the stock `age`
and `zstd` CLIs, `diff -r`) and with real kill -9 of the backup process."""
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

from daemon_helpers import Daemon, wait_until
from helpers import BINARY_DIR, MEDGW, SAMPLE, run
from test_collect_ssmix2 import assert_no_patient_data

class TempDir:
    """A scratch folder in /dev/shm when there is one: these tests make and
    remove tens of thousands of SS-MIX2 folders (kept copies, restores), and
    removing them from a busy disk cost over a minute per test, more than the
    test itself. Nothing here depends on the disk being a real one (kill -9
    loses no page cache)."""

    def __enter__(self) -> Path:
        shm = Path("/dev/shm")
        where = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
        self._dir = tempfile.TemporaryDirectory(prefix="medgw-backup-", dir=where)
        return Path(self._dir.name)

    def __exit__(self, *exc):
        self._dir.cleanup()


SNAPSHOT_LINE = re.compile(r"^snapshot ([0-9a-f-]{36}): (\d+) files", re.M)
READ_LINE = re.compile(r"; (\d+) new or changed files read")


def recovery_identity(directory: Path) -> tuple[Path, str]:
    """The hospital's recovery key, made by the stock age-keygen, kept apart
    from the gateway (never under state_dir)."""
    key = directory / "recovery" / "recovery.key"
    key.parent.mkdir()
    run("age-keygen", "-o", key, check=True)
    recipient = run("age-keygen", "-y", key, check=True).stdout.strip()
    return key, recipient


def make_gateway(tmp: Path, patients: int, seed: int, extra: str = "", schedule: str = "") -> dict:
    data = tmp / "hospital"
    run(SAMPLE, "--out", data, "--patients", patients, "--seed", seed, "--months", "2", check=True)
    identity, recipient = recovery_identity(tmp)
    repository = tmp / "nas" / "medgw-backup"
    repository.mkdir(parents=True)
    sources = (f"  - {{name: ssmix2, type: ssmix2, path: {data / 'ssmix2' / 'std'}, "
               f"extended_path: {data / 'ssmix2' / 'ext'}}}\n"
               f"  - {{name: dpc, type: dpc, path: {data / 'dpc'}}}\n"
               f"  - {{name: receipt, type: receipt, path: {data / 'receipt'}}}\n")
    config = tmp / "medgw.yaml"
    config.write_text(
        "facility: {code: \"131234567\", name: \"Test Hospital\"}\n"
        f"state_dir: {tmp / 'state'}\n"
        f"sources:\n{sources}"
        "central:\n  url: https://c.example.jp/files/\n  ca: /a\n  cert: /b\n  key: /c\n"
        f"  recipients: [{recipient}]\n"
        f"backup:\n  repository: {repository}\n  recipients: [{recipient}]\n  schedule: \"{schedule}\"\n"
        f"log:\n  level: debug\n  file: {tmp / 'medgw.log'}\n" + extra)
    return {"data": data, "identity": identity, "recipient": recipient, "repository": repository, "config": config,
            "state": tmp / "state"}


# The restored layout: <target>/<pass label>/<path>.
VOLUMES = {"ssmix2": ("ssmix2", "std"), "ssmix2-ext": ("ssmix2", "ext"), "dpc": ("dpc",), "receipt": ("receipt",)}


def keep_copy(data: Path, where: Path) -> Path:
    """A copy of the sources as they are now (contents, modes, mtimes)."""
    for label, parts in VOLUMES.items():
        shutil.copytree(data.joinpath(*parts), where / label, copy_function=shutil.copy2)
    return where


def tree_state(root: Path) -> dict[str, tuple[bytes, int, int]]:
    state = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            info = path.stat()
            state[path.relative_to(root).as_posix()] = (path.read_bytes(), info.st_mode & 0o7777, info.st_mtime_ns)
    return state


def backup_run(gateway: dict, test: unittest.TestCase) -> tuple[str, subprocess.CompletedProcess]:
    result = run(MEDGW, "backup", "run", "-c", gateway["config"])
    test.assertEqual(result.returncode, 0, result.stdout + result.stderr)
    return SNAPSHOT_LINE.search(result.stdout).group(1), result


def restore(gateway: dict, target: Path, *args) -> subprocess.CompletedProcess:
    return run(MEDGW, "backup", "restore", "-c", gateway["config"], "--identity", gateway["identity"],
               "--target", target, *args)


def clear_parts(repository: Path) -> str:
    """Everything of the repository a holder without a key can read: names and
    the clear files."""
    text = ""
    for path in sorted(repository.rglob("*")):
        text += path.relative_to(repository).as_posix() + "\n"
        if path.is_file() and (path.name == "config" or path.suffix == ".packs"):
            text += path.read_text()
    return text


def patients_of(data: Path) -> list[dict]:
    lines = (data / "patients.tsv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


class RoundTrip(unittest.TestCase):
    """Acceptance 1, 2 and 6: four snapshots across mutations, each restored
    byte for byte; one patient alone (an opted-out one: the backup is the
    hospital's own copy); the stock age CLI opens a pack; no identity on the
    gateway; no patient data in any output, log or clear part."""

    def test_snapshots_restore_exactly_and_the_gateway_cannot_read_them(self):
        with TempDir() as tmp:
            data = tmp / "hospital"
            # The first patient with SS-MIX2 data opts out.
            gateway = make_gateway(tmp, patients=50, seed=1)
            std = data / "ssmix2" / "std"
            opted = next(p for p in patients_of(data)
                         if (std / p["patient_id"][:3] / p["patient_id"][3:6] / p["patient_id"]).is_dir())
            optout = tmp / "optout.csv"
            optout.write_text(f"patient_id,dpc_id,kana_name,birth_date,requested_on\n{opted['patient_id']},,,,\n")
            with open(gateway["config"], "a") as config:
                config.write(f"policy: {{optout_file: {optout}}}\n")
            self.assertEqual(run(MEDGW, "check-config", "-c", gateway["config"]).returncode, 0)
            # A large file in the extended storage: content-defined chunks.
            big = data / "ssmix2" / "ext" / opted["patient_id"][:3] / "big-scan.bin"
            big.parent.mkdir(parents=True, exist_ok=True)
            big.write_bytes(random.Random(5).randbytes(5 << 20))
            os.chmod(big, 0o640)

            outputs = ""
            snapshots = []
            for round_number in range(4):
                if round_number > 0:
                    run(SAMPLE, "--mutate", data, "--changes", "30", "--seed", str(round_number + 1), check=True)
                if round_number == 2:  # bytes inserted in the middle of the large file
                    content = big.read_bytes()
                    big.write_bytes(content[:2_500_000] + b"inserted" * 100 + content[2_500_000:])
                snapshot, result = backup_run(gateway, self)
                outputs += result.stdout + result.stderr
                if round_number == 2:
                    added = re.search(r"\), ([\d.]+ \w+) added", result.stdout).group(1)
                    self.assertNotRegex(added, r"^[5-9][\d.]* MiB", "the large file was stored again whole")
                snapshots.append((snapshot, keep_copy(data, tmp / f"kept-{round_number}")))

            # Unchanged: nothing is read again.
            snapshot, result = backup_run(gateway, self)
            self.assertEqual(READ_LINE.search(result.stdout).group(1), "0", result.stdout)
            snapshots.append((snapshot, snapshots[-1][1]))

            listing = run(MEDGW, "backup", "list", "-c", gateway["config"], check=True).stdout
            outputs += listing
            for snapshot, _ in snapshots:
                self.assertIn(snapshot, listing)

            for index, (snapshot, kept) in enumerate(snapshots):
                with self.subTest(snapshot=index):
                    target = tmp / f"restored-{index}"
                    result = restore(gateway, target, "--snapshot", snapshot)
                    outputs += result.stdout + result.stderr
                    self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
                    self.assertEqual(run("diff", "-r", kept, target).returncode, 0, f"snapshot {index} differs")
                    self.assertEqual(tree_state(target), tree_state(kept))

            # One patient alone, the opted-out one: both storages, nothing else.
            pid = opted["patient_id"]
            target = tmp / "one-patient"
            result = restore(gateway, target, "--patient", pid)
            outputs += result.stdout + result.stderr
            self.assertEqual(result.returncode, 0, result.stderr)
            kept = snapshots[-1][1]
            folder = f"{pid[:3]}/{pid[3:6]}/{pid}/"
            expected = {p: s for p, s in tree_state(kept).items()
                        if p.startswith(f"ssmix2/{folder}") or p.startswith(f"ssmix2-ext/{folder}")}
            self.assertGreater(len(expected), 0)
            self.assertEqual(tree_state(target), expected)

            # A non-empty target is refused (exit 2) unless --force.
            refused = restore(gateway, target, "--patient", pid)
            self.assertEqual(refused.returncode, 2, refused.stderr)
            self.assertIn("--force", refused.stderr)
            self.assertEqual(restore(gateway, target, "--patient", pid, "--force").returncode, 0)
            # --path: one volume's folder.
            target = tmp / "one-folder"
            self.assertEqual(restore(gateway, target, "--path", "dpc/").returncode, 0)
            self.assertEqual(sorted(p.name for p in target.iterdir()), ["dpc"])

            # Acceptance 2: the stock age CLI with the recovery identity opens a
            # pack, and zstd gives the blobs back.
            pack = sorted((gateway["repository"] / "packs").rglob("*"))[-1]
            plain = subprocess.run(["age", "-d", "-i", str(gateway["identity"]), str(pack)], capture_output=True,
                                   check=True).stdout
            blobs = subprocess.run(["zstd", "-d", "-c", "-q"], input=plain, capture_output=True, check=True).stdout
            self.assertGreater(len(blobs), len(plain) // 2)
            # ...and nothing of the gateway can: no identity anywhere in its
            # state or config, only recipients.
            self.assertNoIdentity(gateway["state"], gateway["config"])
            verify = run(MEDGW, "backup", "verify", "-c", gateway["config"], "--identity", gateway["identity"])
            self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)
            outputs += verify.stdout + verify.stderr

            # Acceptance 6: no patient ID or name in outputs, the log, or the
            # repository's clear parts (names, config, pack lists).
            outputs += (tmp / "medgw.log").read_text() + clear_parts(gateway["repository"])
            self.assertIn("event=backup.finished", outputs)
            assert_no_patient_data(self, outputs, data / "patients.tsv")

    def assertNoIdentity(self, state: Path, config: Path):
        searched = 0
        for path in [config, *state.rglob("*")]:
            if path.is_file():
                content = path.read_bytes()
                self.assertNotIn(b"AGE-SECRET-KEY-", content.upper(), path)
                searched += 1
        self.assertGreater(searched, 3)


class Damage(unittest.TestCase):
    """Acceptance 4: a flipped byte in a pack, a missing pack, a truncated
    snapshot: verify names each and the snapshots affected; restore restores
    the rest and exits 1."""

    def test_verify_names_the_damage_and_restore_keeps_the_rest(self):
        with TempDir() as tmp:
            gateway = make_gateway(tmp, patients=25, seed=7)
            data = gateway["data"]
            snapshots = []
            packs_before = set()
            pack_of_run = []
            for round_number in range(3):
                if round_number > 0:
                    run(SAMPLE, "--mutate", data, "--changes", "30", "--seed", str(20 + round_number), check=True)
                snapshot, _ = backup_run(gateway, self)
                packs = {p.name for p in (gateway["repository"] / "packs").rglob("*") if p.is_file()}
                new = sorted(packs - packs_before)
                self.assertEqual(len(new), 1)
                pack_of_run.append(new[0])
                packs_before = packs
                snapshots.append((snapshot, keep_copy(data, tmp / f"kept-{round_number}")))
            clean = run(MEDGW, "backup", "verify", "-c", gateway["config"])
            self.assertEqual(clean.returncode, 0, clean.stdout)

            repository = gateway["repository"]
            flipped, removed = pack_of_run[0], pack_of_run[1]
            flipped_file = repository / "packs" / flipped[:2] / flipped
            content = bytearray(flipped_file.read_bytes())
            content[len(content) // 2] ^= 0x01
            flipped_file.write_bytes(bytes(content))
            (repository / "packs" / removed[:2] / removed).unlink()
            truncated = repository / "snapshots" / f"{snapshots[2][0]}.age"
            truncated.write_bytes(truncated.read_bytes()[:-200])

            ids = [s for s, _ in snapshots]
            for identity in ([], ["--identity", gateway["identity"]]):
                with self.subTest(identity=bool(identity)):
                    result = run(MEDGW, "backup", "verify", "-c", gateway["config"], *identity)
                    self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
                    lines = result.stdout.splitlines()
                    flipped_line = next(l for l in lines if l.startswith(f"PROBLEM pack {flipped}"))
                    self.assertIn("damaged", flipped_line)
                    for snapshot in ids:  # the first run's pack is in every snapshot
                        self.assertIn(snapshot, flipped_line)
                    removed_line = next(l for l in lines if l.startswith(f"PROBLEM pack {removed}"))
                    self.assertIn("missing", removed_line)
                    self.assertNotIn(ids[0], removed_line)
                    self.assertIn(ids[1], removed_line)
                    self.assertTrue(any(l.startswith(f"PROBLEM snapshot {ids[2]}") and "truncated" in l
                                        for l in lines), result.stdout)

            # --read-data 1: the data of one random pack of the three is read;
            # the missing pack is found every time (present + size), the
            # flipped one (same size) only when it is the one read.
            found_flipped = 0
            for _ in range(25):
                result = run(MEDGW, "backup", "verify", "-c", gateway["config"], "--read-data", "1")
                self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
                self.assertIn("(the data of 1 read: --read-data 1%)", result.stdout)
                self.assertIn(f"PROBLEM pack {removed}: missing", result.stdout)
                found_flipped += f"PROBLEM pack {flipped}: damaged" in result.stdout
            self.assertGreater(found_flipped, 0, "--read-data never read the damaged pack in 25 runs")
            self.assertLess(found_flipped, 25, "--read-data 1 read every pack's data")
            for bad in ("0", "101", "ten", "5.5"):
                result = run(MEDGW, "backup", "verify", "-c", gateway["config"], "--read-data", bad)
                self.assertEqual(result.returncode, 2, bad)
                self.assertIn("whole percentage from 1 to 100", result.stderr)

            # Restore of the middle snapshot: every file whose blobs survive is
            # restored exactly, the others are reported without their path.
            target = tmp / "restored"
            result = restore(gateway, target, "--snapshot", ids[1])
            self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
            reported = [l for l in result.stderr.splitlines() if "not restored" in l]
            self.assertGreater(len(reported), 0)
            for line in reported:
                self.assertRegex(line, r"entry \d+ \((ssmix2|ssmix2-ext|dpc|receipt)(, pt:[0-9a-f]{8})?\): not restored")
            kept = tree_state(snapshots[1][1])
            restored = tree_state(target)
            self.assertGreater(len(restored), 0)
            self.assertEqual(len(restored) + len(reported), len(kept))
            for path, state in restored.items():
                self.assertEqual(state, kept[path], path)
            assert_no_patient_data(self, result.stdout + result.stderr, data / "patients.tsv")

            # The truncated snapshot: what it lists before the cut is restored.
            target = tmp / "restored-truncated"
            result = restore(gateway, target, "--snapshot", ids[2])
            self.assertEqual(result.returncode, 1)
            self.assertIn("truncated", result.stderr + result.stdout)

            # The next run stores again what the missing pack held; the flipped
            # pack (its size unchanged) is found by verify only, and says so.
            healed, _ = backup_run(gateway, self)
            self.assertIn("event=backup.packs_missing", (tmp / "medgw.log").read_text())
            lines = run(MEDGW, "backup", "verify", "-c", gateway["config"]).stdout.splitlines()
            self.assertNotIn(healed, next(l for l in lines if l.startswith(f"PROBLEM pack {removed}")))
            self.assertIn(healed, next(l for l in lines if l.startswith(f"PROBLEM pack {flipped}")))


class DiskFull(unittest.TestCase):
    """Acceptance 4, disk full: a 3 MiB tmpfs as the repository's disk (in a
    user and mount namespace): a clean error, nothing half-written visible,
    and the next run completes once there is space."""

    def test_full_repository_disk_then_space_returns(self):
        if subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"],
                          capture_output=True).returncode != 0:
            self.skipTest("needs a user and mount namespace (unshare) for a small tmpfs")
        with TempDir() as tmp:
            gateway = make_gateway(tmp, patients=10, seed=12)
            (gateway["data"] / "dpc" / "scan.bin").write_bytes(random.Random(1).randbytes(6 << 20))
            repository, config, identity = gateway["repository"], gateway["config"], gateway["identity"]
            script = (f"mount -t tmpfs -o size=3m tmpfs {repository} || exit 99\n"
                      f"{MEDGW} backup run -c {config}; echo FIRST=$?\n"
                      f"find {repository} -type f | sed 's|^{repository}/||' | sort | sed 's/^/FILE /'\n"
                      f"mount -o remount,size=64m {repository} || exit 98\n"
                      f"{MEDGW} backup run -c {config}; echo SECOND=$?\n"
                      f"{MEDGW} backup verify -c {config} -i {identity}; echo VERIFY=$?\n"
                      f"{MEDGW} backup restore -c {config} -i {identity} --target {tmp / 'restored'}; "
                      f"echo RESTORE=$?\n")
            result = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
                                    capture_output=True, text=True, timeout=300)
            out = result.stdout + result.stderr
            self.assertEqual(result.returncode, 0, out)
            self.assertIn("FIRST=1", out)
            self.assertIn("disk is full", result.stderr)
            self.assertIn("(disk_full)", result.stderr)
            left = [line.split(" ", 1)[1] for line in result.stdout.splitlines() if line.startswith("FILE ")]
            self.assertFalse([f for f in left if f.startswith(("snapshots/", "tmp/"))], left)
            self.assertIn("config", left)
            for word in ("SECOND=0", "VERIFY=0", "RESTORE=0"):
                self.assertIn(word, out)
            self.assertEqual(tree_state(tmp / "restored"), tree_state(keep_copy(gateway["data"], tmp / "kept")))
            self.assertFalse(list(repository.iterdir()), "the tmpfs leaked out of its namespace")


class KillDuringBackup(unittest.TestCase):
    """Acceptance 3: kill -9 at random points of `medgw backup run`
    (MEDGW_BACKUP_KILL_TRIALS, default 50; 20 under ASan): the repository never lists a
    snapshot whose packs are missing, the next run completes, verify is clean
    and the last snapshot restores exactly."""

    def test_kill_at_random_points(self):
        cache = BINARY_DIR / "CMakeCache.txt"
        sanitized = cache.exists() and "MEDGW_SANITIZE:BOOL=ON" in cache.read_text()
        # 50 under a release build (~40 s); fewer under ASan, which makes each run several times slower.
        trials = int(os.environ.get("MEDGW_BACKUP_KILL_TRIALS", "20" if sanitized else "50"))
        rng = random.Random(int(os.environ.get("MEDGW_BACKUP_KILL_SEED", "3")))
        with TempDir() as tmp:
            gateway = make_gateway(tmp, patients=20, seed=9)
            data = gateway["data"]
            extra = data / "dpc" / "scans"
            extra.mkdir()
            backup_run(gateway, self)

            def new_work(trial: int):  # small changes and a large file (chunked)
                run(SAMPLE, "--mutate", data, "--changes", "5", "--seed", str(100 + trial), check=True)
                (extra / f"scan-{trial}.bin").write_bytes(rng.randbytes(rng.randrange(1 << 20, 3 << 20)))

            # The kill window: a run of one trial's work, timed, and a little more
            # so that some runs complete (then a later kill may hit their successor).
            new_work(trials)
            started = time.monotonic()
            backup_run(gateway, self)
            window = 1.2 * (time.monotonic() - started)
            killed = completed = 0
            for trial in range(trials):
                new_work(trial)
                process = subprocess.Popen([str(MEDGW), "backup", "run", "-c", str(gateway["config"])],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(rng.uniform(0, window))
                # A killed run leaves its work to the next one (its open pack is
                # lost): the window widens after a kill and narrows after a
                # completed run, so kills land early, late and in between.
                if process.poll() is None:
                    process.send_signal(signal.SIGKILL)
                    killed += 1
                    window *= 1.3
                else:
                    completed += 1
                    window *= 0.7
                process.wait()
                with self.subTest(trial=trial):
                    self.assertEverySnapshotComplete(gateway["repository"])
            print(f"killed {killed}, completed {completed}", file=sys.stderr)
            self.assertGreater(killed, trials // 3, f"only {killed} of {trials} runs were killed")
            snapshot, _ = backup_run(gateway, self)
            kept = keep_copy(data, tmp / "kept")
            verify = run(MEDGW, "backup", "verify", "-c", gateway["config"], "--identity", gateway["identity"])
            self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)
            target = tmp / "restored"
            result = restore(gateway, target, "--snapshot", snapshot)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(tree_state(target), tree_state(kept))

    def assertEverySnapshotComplete(self, repository: Path):
        """Clear parts only, as retention sees them: each visible snapshot has
        its pack list, and every pack it names is there with its size."""
        for snapshot in (repository / "snapshots").glob("*.age"):
            listing = snapshot.with_suffix(".packs")
            self.assertTrue(listing.is_file(), f"{snapshot.name} is visible without its pack list")
            for line in listing.read_text().splitlines():
                if line.startswith("pack "):
                    _, name, size, _ = line.split()
                    pack = repository / "packs" / name[:2] / name
                    self.assertTrue(pack.is_file(), f"{snapshot.name} lists a missing pack")
                    self.assertEqual(pack.stat().st_size, int(size))


class ScheduledBackup(unittest.TestCase):
    """The backup job of `medgw run`: at backup.schedule's minute one backup
    runs beside collection and uploads; /status and /metrics report it."""

    def test_the_service_backs_up_at_the_scheduled_minute(self):
        with TempDir() as tmp:
            now = time.localtime()
            if now.tm_sec > 45:  # the job checks every 5 s: keep inside the minute
                time.sleep(61 - now.tm_sec)
                now = time.localtime()
            gateway = make_gateway(tmp, patients=5, seed=3, schedule=f"{now.tm_hour:02d}:{now.tm_min:02d}",
                                   extra='status: {listen: "127.0.0.1:0"}\n')
            with Daemon(gateway["config"], tmp) as daemon:
                wait_until(lambda: '"runs_ok":1' in daemon.get("/status")[1], timeout=60,
                           what="a scheduled backup")
                _, metrics = daemon.get("/metrics")
                self.assertIn('medgw_backup_runs_total{result="ok"} 1', metrics)
                self.assertRegex(metrics, r"medgw_backup_last_success_timestamp_seconds [1-9]")
                time.sleep(6)  # one run a day: the job does not start another in the same minute
                self.assertIn('"runs_ok":1', daemon.get("/status")[1])
                self.assertEqual(daemon.stop(), 0)
            listing = run(MEDGW, "backup", "list", "-c", gateway["config"], check=True).stdout
            self.assertEqual(len(re.findall(r"^[0-9a-f]{8}-", listing, re.M)), 1, listing)
            verify = run(MEDGW, "backup", "verify", "-c", gateway["config"], "--identity", gateway["identity"])
            self.assertEqual(verify.returncode, 0, verify.stdout)


class Retention(unittest.TestCase):
    """`medgw backup forget`: the policy keeps the right snapshots, removes
    exactly the packs no kept snapshot names (read from the clear pack list,
    no key), leaves a repository that verifies and restores, and the lock
    keeps a backup run and retention apart."""

    def test_forget_keeps_the_newest_and_removes_unneeded_packs(self):
        with TempDir() as tmp:
            gateway = make_gateway(tmp, patients=12, seed=11)
            data, repository = gateway["data"], gateway["repository"]
            victim = sorted(p for p in (data / "dpc").rglob("*") if p.is_file())[0]
            original = victim.read_bytes()
            first, _ = backup_run(gateway, self)
            # The second run's pack holds only this file's other content,
            # which is gone again by the third run.
            victim.write_bytes(os.urandom(3 << 20))
            second, _ = backup_run(gateway, self)
            victim.write_bytes(original)
            third, _ = backup_run(gateway, self)
            kept_state = tree_state(keep_copy(data, tmp / "kept"))

            def packs_on_disk() -> set[str]:
                return {p.name for p in (repository / "packs").rglob("*") if p.is_file()}

            def packs_listed(snapshot: str) -> set[str]:
                text = (repository / "snapshots" / f"{snapshot}.packs").read_text()
                return {line.split()[1] for line in text.splitlines() if line.startswith("pack ")}

            before = packs_on_disk()
            needed = packs_listed(third)
            self.assertLess(len(needed), len(before), "the test needs a pack only the forgotten snapshots use")

            dry = run(MEDGW, "backup", "forget", "--repository", repository, "--keep-daily", "1", "--dry-run")
            self.assertEqual(dry.returncode, 0, dry.stdout + dry.stderr)
            self.assertIn(f"WOULD FORGET {first}", dry.stdout)
            self.assertIn(f"WOULD FORGET {second}", dry.stdout)
            self.assertIn(f"KEPT {third}", dry.stdout)
            self.assertEqual(packs_on_disk(), before)

            # A backup run at work (a fresh marker) keeps forget out.
            locks = repository / "locks"
            (locks / "run-other").write_text("run host 1 now\n")
            busy = run(MEDGW, "backup", "forget", "--repository", repository, "--keep-daily", "1")
            self.assertEqual(busy.returncode, 1)
            self.assertIn("a backup run is writing", busy.stderr)
            self.assertEqual(packs_on_disk(), before)
            # Not renewed for two hours: a dead process, ignored.
            old = time.time() - 7200
            os.utime(locks / "run-other", (old, old))

            done = run(MEDGW, "backup", "forget", "--repository", repository, "--keep-daily", "1")
            self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
            self.assertIn(f"removed {len(before - needed)} pack(s)", done.stdout)
            self.assertEqual(packs_on_disk(), needed)
            listed = run(MEDGW, "backup", "list", "-c", gateway["config"]).stdout
            self.assertIn(third, listed)
            self.assertNotIn(first, listed)
            self.assertNotIn(second, listed)
            self.assertEqual(sorted(p.name for p in (repository / "snapshots").iterdir()),
                             [f"{third}.age", f"{third}.packs"])
            self.assertEqual([p.name for p in locks.iterdir()], ["run-other"], "forget left its marker")
            for identity in ([], ["--identity", gateway["identity"]]):
                clean = run(MEDGW, "backup", "verify", "-c", gateway["config"], *identity)
                self.assertEqual(clean.returncode, 0, clean.stdout + clean.stderr)
            target = tmp / "restored"
            result = restore(gateway, target)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            self.assertEqual(tree_state(target), kept_state)

            # The gateway goes on: its next snapshot is whole.
            backup_run(gateway, self)
            clean = run(MEDGW, "backup", "verify", "-c", gateway["config"], "--identity", gateway["identity"])
            self.assertEqual(clean.returncode, 0, clean.stdout + clean.stderr)

            # Retention at work keeps a backup run out, and says so.
            (locks / "forget-other").write_text("forget host 1 now\n")
            refused = run(MEDGW, "backup", "run", "-c", gateway["config"])
            self.assertNotEqual(refused.returncode, 0)
            self.assertIn("retention (backup forget) is running", refused.stderr + refused.stdout)

            for bad in (["--keep-daily", "0"], [], ["--keep-daily", "x"], ["--keep-monthly", "-1"]):
                result = run(MEDGW, "backup", "forget", "--repository", repository, *bad)
                self.assertEqual(result.returncode, 2, bad)


if __name__ == "__main__":
    unittest.main()
