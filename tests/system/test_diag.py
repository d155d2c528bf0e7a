"""medgw diag (issue 18, acceptances 1, 3 and 4): the support bundle holds no
patient data, whatever the log holds; secrets stay out; it works while the
service runs, with state.db locked or damaged and with an invalid
configuration; it opens with the stock `age` CLI and `tar`; a large log costs
what is kept, not what is there (the 1 GiB figure is bench/diag's)."""
import json
import os
import shutil
import sqlite3
import subprocess
import time
import unittest
from pathlib import Path

from daemon_helpers import Daemon, free_port, wait_until
from helpers import MEDGW, SAMPLE, Receiver, TempDir, delivery_config, gateway_key, new_identity, run
from pki import Pki
from test_delivery import all_sources

ENCODINGS = ("utf-8", "cp932", "iso2022_jp")


def support_identity(directory: Path) -> tuple[Path, str]:
    key = directory / "support.key"
    if not key.exists():
        run(MEDGW, "keys", "generate", "-o", key, check=True)
    return key, run(MEDGW, "keys", "recipient", key, check=True).stdout.strip()


def open_bundle(bundle: Path, into: Path, identity: Path | None) -> dict[str, bytes]:
    """Decrypts with the stock age CLI and unpacks with tar; returns {name: bytes}."""
    into.mkdir(parents=True)
    plain = bundle
    if identity is not None:
        plain = into.parent / (into.name + ".tar.zst")
        subprocess.run(["age", "-d", "-i", str(identity), "-o", str(plain), str(bundle)], check=True)
    subprocess.run(["tar", "--zstd", "-xf", str(plain), "-C", str(into)], check=True)
    files = {str(p.relative_to(into)): p.read_bytes() for p in sorted(into.rglob("*")) if p.is_file()}
    manifest = json.loads(files["MANIFEST.json"])
    listed = {entry["name"] for entry in manifest["entries"]}
    assert listed == set(files), f"MANIFEST lists {sorted(listed)}, the bundle holds {sorted(files)}"
    import hashlib
    for entry in manifest["entries"]:
        if entry["name"] != "MANIFEST.json":
            assert hashlib.sha256(files[entry["name"]]).hexdigest() == entry["sha256"], entry["name"]
            assert entry["why"], entry["name"]
    return files


def patient_needles(hospital: Path) -> dict[str, list[bytes]]:
    """Every patient ID, DPC ID, kanji and kana name (whole, without the
    space, each part of 2+ characters) in UTF-8, CP932 and ISO-2022-JP, and
    the SS-MIX2 path fragments of the tree (patient folders, file names)."""
    rows = [line.split("\t") for line in (hospital / "patients.tsv").read_text(encoding="utf-8").splitlines()]
    header, rows = rows[0], rows[1:]
    col = {name: header.index(name) for name in header}
    needles = {"patient_id": [], "dpc_id": [], "kanji_name": [], "kana_name": [], "ssmix2_path": []}
    for row in rows:
        needles["patient_id"].append(row[col["patient_id"]].encode())
        needles["dpc_id"].append(row[col["dpc_id"]].encode())
        for kind in ("kanji_name", "kana_name"):
            name = row[col[kind]]
            forms = {name, name.replace("\u3000", ""), name.replace("\u3000", " ")}
            forms |= {part for part in name.split("\u3000") if len(part) >= 2}
            for form in forms:
                for encoding in ENCODINGS:
                    needles[kind].append(form.encode(encoding))
        pid = row[col["patient_id"]]
        needles["ssmix2_path"].append(f"{pid[:3]}/{pid[3:6]}/{pid}".encode())
    std = hospital / "ssmix2" / "std"
    needles["ssmix2_path"] += sorted({p.name.encode() for p in std.rglob("*") if p.is_file()})
    return needles


def hits(files: dict[str, bytes], needles: dict[str, list[bytes]]) -> list[str]:
    found = []
    for name, content in files.items():
        for kind, values in needles.items():
            for value in values:
                if value in content:
                    found.append(f"{name}: {kind} {value!r}")
    return found


class NoPatientData(unittest.TestCase):
    """Acceptance 1: the generated hospital collected and delivered by the
    running service at debug level; the bundle is decrypted and every file
    grepped for every patient value in three encodings: zero hits. Positive
    control: lines from "another program" carrying those values in shapes
    medgw never writes are appended to the log; the grep finds them there,
    and they reach the bundle redacted."""

    def test_bundle_holds_no_patient_data(self):
        with TempDir() as tmp:
            data = tmp / "hospital"
            run(SAMPLE, "--out", data, "--patients", "30", "--seed", "18", "--months", "2", check=True)
            rows = [l.split("\t") for l in (data / "patients.tsv").read_text().splitlines()[1:]]
            optout = tmp / "optout.csv"
            optout.write_text(f"patient_id,dpc_id\n{rows[-1][0]},{rows[-1][1]}\n")
            pki = Pki(tmp / "pki")
            identity, recipient = new_identity(tmp)
            support_key, support_recipient = support_identity(tmp)
            log = tmp / "medgw.log"
            status_port = free_port()
            extra = (f"log: {{level: debug, file: {log}}}\nsupport: {{recipient: {support_recipient}}}\n"
                     f"status: {{listen: \"127.0.0.1:{status_port}\"}}\npolicy: {{optout_file: {optout}}}\n")
            config = delivery_config(tmp, recipient, all_sources(data), pki, port=1, extra=extra)
            self.assertEqual(run(MEDGW, "collect", "--once", "-c", config).returncode, 0)
            with Receiver(tmp / "central", pki, [gateway_key(config)], identity=identity) as receiver:
                config = delivery_config(tmp, recipient, all_sources(data, scan_interval="10s"), pki, receiver.port,
                                         extra=extra)
                with Daemon(config, tmp) as daemon:
                    wait_until(lambda: json.loads(daemon.get("/status")[1]).get("delivered", {}).get("objects", 0) >= 4
                               and json.loads(daemon.get("/status")[1])["spool"]["ready_objects"] == 0,
                               120, "everything delivered")
                    run(SAMPLE, "--mutate", data, "--changes", "10", "--seed", "4", check=True)
                    time.sleep(1)
                    needles = patient_needles(data)
                    counts = {kind: len(values) for kind, values in needles.items()}

                    started = time.monotonic()
                    bundle = tmp / "first.age"
                    result = run(MEDGW, "diag", "-c", config, "-o", bundle, timeout=120)
                    self.assertEqual(result.returncode, 0, result.stderr)
                    self.assertLess(time.monotonic() - started, 30)
                    self.assertEqual(bundle.stat().st_mode & 0o777, 0o600)
                    files = open_bundle(bundle, tmp / "first", support_key)
                    self.assertEqual(hits(files, needles), [])
                    self.assertIn("service/status.json", files)  # asked while the service runs
                    self.assertIn("logs/medgw.log", files)
                    self.assertIn(b"event=collect.pass_finished", files["logs/medgw.log"])
                    rendered = {item["key"]: item.get("value") for item in json.loads(files["config.json"])["keys"]}
                    self.assertEqual(rendered["log.level"], "debug")
                    manifest = json.loads(files["MANIFEST.json"])
                    self.assertGreaterEqual(manifest["redaction"]["patient_ids_known"], 29)

                    # Positive control: another program's lines with patient data in shapes medgw never writes.
                    self.plant(log, rows[:3], data)
                    planted = {"logs/medgw.log": log.read_bytes()}
                    found_raw = hits(planted, needles)
                    for kind in ("patient_id", "dpc_id", "kanji_name", "kana_name", "ssmix2_path"):
                        self.assertTrue(any(f": {kind} " in h for h in found_raw), f"the grep misses {kind}")
                    for row, encoding in zip(rows[:3], ENCODINGS):  # a name planted in each encoding
                        self.assertIn(row[2].encode(encoding), planted["logs/medgw.log"], encoding)
                        self.assertIn(row[3].encode(encoding), planted["logs/medgw.log"], encoding)
                    bundle = tmp / "second.age"
                    result = run(MEDGW, "diag", "-c", config, "-o", bundle, timeout=120)
                    self.assertEqual(result.returncode, 0, result.stderr)
                    files = open_bundle(bundle, tmp / "second", support_key)
            self.assertEqual(hits(files, needles), [])
            kept = [l for l in files["logs/medgw.log"].decode().splitlines() if "otherapp" in l]
            self.assertEqual(len(kept), 4, "the planted lines are kept, redacted")
            for line in kept:
                self.assertIn("<redacted:", line)
            print(f"\nacceptance 1: searched {sum(counts.values())} values "
                  f"({', '.join(f'{k} {v}' for k, v in counts.items())}; names in {', '.join(ENCODINGS)}) "
                  f"in {len(files)} files: 0 hits; positive control: {len(found_raw)} hits in the raw log, "
                  f"0 in the bundle; planted lines as kept:\n  " + "\n  ".join(kept), flush=True)

    @staticmethod
    def plant(log: Path, rows: list[list[str]], data: Path):
        pid, dpc, kanji, kana = rows[0][0], rows[0][1], rows[0][2], rows[0][3]
        path = next((data / "ssmix2" / "std").rglob(f"{pid}_*"))
        lines = [
            f"Dec  1 10:00:00 otherapp[4242]: registered {pid} {kana} ({kanji}) dpc={dpc} at {path}\n".encode(),
            b"Dec  1 10:00:01 otherapp[4242]: sjis name=" + rows[1][2].encode("cp932") + b" kana=" +
            rows[1][3].encode("cp932") + f" id={rows[1][0]}\n".encode(),
            b"Dec  1 10:00:02 otherapp[4242]: jis name=" + rows[2][2].encode("iso2022_jp") + b" kana=" +
            rows[2][3].encode("iso2022_jp") + f" dpc_no={rows[2][1]}\n".encode(),
            f"Dec  1 10:00:03 otherapp[4242]: copied {path.relative_to(data / 'ssmix2' / 'std')}\n".encode(),
        ]
        with open(log, "ab") as out:
            out.write(b"".join(lines))


class Secrets(unittest.TestCase):
    """Acceptance 3: a secret-looking value in an allowed key and the
    passphrase of central.key_password_file are not in the bundle."""

    def test_secret_values_stay_out(self):
        with TempDir() as tmp:
            data = tmp / "hospital"
            run(SAMPLE, "--out", data, "--patients", "3", "--seed", "2", "--only", "ssmix2", check=True)
            pki = Pki(tmp / "pki")
            _, recipient = new_identity(tmp)
            support_key, support_recipient = support_identity(tmp)
            passphrase = "Pw-7fGh2kLq9ZxV4tM8s"
            cert, key = pki.ca.issue("client-locked", pki.client_cn, server=False, password=passphrase.encode())
            password_file = tmp / "key.pass"
            password_file.write_text(passphrase + "\n")
            password_file.chmod(0o600)
            lookalike = "zK4q9TfW2xLm8RpV3nB6"
            proxy_password = "ProxyPass0451"
            sources = f"  - {{name: ssmix2, type: ssmix2, path: {data / 'ssmix2' / 'std'}, settle: 0s}}\n"
            config = delivery_config(tmp, recipient, sources, pki, port=1, cert=(cert, key),
                                     extra=f"support: {{recipient: {support_recipient}}}\n")
            text = config.read_text().replace('name: "Test Hospital"', f'name: "{lookalike}"')
            text = text.replace("  chunk: 1MiB\n", f"  chunk: 1MiB\n  key_password_file: {password_file}\n"
                                                   f"  proxy: \"http://gw:{proxy_password}@127.0.0.1:1\"\n")
            config.write_text(text)
            self.assertEqual(run(MEDGW, "check-config", "-c", config).returncode, 0)
            for review in (False, True):
                bundle = tmp / ("review.tar.zst" if review else "bundle.age")
                result = run(MEDGW, "diag", "-c", config, "-o", bundle, *(["--review"] if review else []), timeout=120)
                self.assertEqual(result.returncode, 0, result.stderr)
                files = open_bundle(bundle, tmp / bundle.stem, None if review else support_key)
                for secret in (passphrase, lookalike, proxy_password):
                    for name, content in files.items():
                        self.assertNotIn(secret.encode(), content, f"{secret} in {name}")
                rendered = {item["key"]: item.get("value") for item in json.loads(files["config.json"])["keys"]}
                self.assertEqual(rendered["facility.name"], "<hidden: looks like a secret>")
                self.assertEqual(rendered["central.proxy"], "<secret>")
                self.assertTrue(rendered["sources[0].path"].startswith("<phi_path pt:"))
            print(f"\nacceptance 3: facility.name {lookalike!r} -> {rendered['facility.name']}, "
                  f"central.proxy -> {rendered['central.proxy']}, key_password_file's passphrase: 0 hits in "
                  f"{len(files)} files (encrypted and --review bundles)", flush=True)


class Resilience(unittest.TestCase):
    """Works with an invalid configuration, a locked or a damaged state.db;
    refuses (exit 2) to write a clear bundle nobody asked for."""

    @classmethod
    def setUpClass(cls):
        cls.holder = TempDir()
        cls.tmp = cls.holder.__enter__()
        data = cls.tmp / "hospital"
        run(SAMPLE, "--out", data, "--patients", "3", "--seed", "6", "--only", "ssmix2", check=True)
        cls.pki = Pki(cls.tmp / "pki")
        _, cls.recipient = new_identity(cls.tmp)
        cls.support_key, cls.support_recipient = support_identity(cls.tmp)
        cls.sources = f"  - {{name: ssmix2, type: ssmix2, path: {data / 'ssmix2' / 'std'}, settle: 0s}}\n"
        cls.config = delivery_config(cls.tmp, cls.recipient, cls.sources, cls.pki, port=1,
                                     extra=f"support: {{recipient: {cls.support_recipient}}}\n")
        assert run(MEDGW, "collect", "--once", "-c", cls.config).returncode == 0

    @classmethod
    def tearDownClass(cls):
        cls.holder.__exit__(None, None, None)

    def diag(self, config: Path, name: str) -> dict[str, bytes]:
        started = time.monotonic()
        result = run(MEDGW, "diag", "-c", config, "-o", self.tmp / f"{name}.age", timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertLess(time.monotonic() - started, 30)
        return open_bundle(self.tmp / f"{name}.age", self.tmp / name, self.support_key)

    def test_invalid_configuration(self):
        config = self.tmp / "invalid.yaml"
        config.write_text(self.config.read_text() + "centrl: {token: s3cr3t-Zx81kQp0LmN3vB7}\nspool: {max_bytes: 1KiB}\n")
        files = self.diag(config, "invalid")
        manifest = json.loads(files["MANIFEST.json"])
        self.assertFalse(manifest["config_valid"])
        rendered = json.loads(files["config.json"])
        self.assertFalse(rendered["valid"])
        self.assertTrue(any("unknown key 'centrl'" in error for error in rendered["errors"]), rendered["errors"])
        self.assertTrue(any("max_bytes" in error for error in rendered["errors"]), rendered["errors"])
        self.assertNotIn(b"s3cr3t", b"".join(files.values()))
        doctor = json.loads(files["doctor.json"])
        self.assertEqual(doctor["checks"][0]["verdict"], "FAIL")
        self.assertIn("state.json", files)  # state_dir was still found

    def test_locked_state_db(self):
        holder = sqlite3.connect(self.tmp / "state" / "state.db", isolation_level=None)
        try:
            holder.execute("PRAGMA locking_mode=EXCLUSIVE")
            holder.execute("BEGIN EXCLUSIVE")
            holder.execute("UPDATE spool_counters SET value = value")
            files = self.diag(self.config, "locked")
        finally:
            holder.close()
        state = json.loads(files["state.json"])
        self.assertEqual(state["problem"], "locked")
        self.assertIn("not_included", json.loads(files["MANIFEST.json"]))

    def test_damaged_state_db(self):
        broken = self.tmp / "broken"
        shutil.copytree(self.tmp / "state", broken / "state")
        with open(broken / "state" / "state.db", "r+b") as db:
            db.write(b"this is not a database" * 10)
        config = broken / "medgw.yaml"
        config.write_text(self.config.read_text().replace(str(self.tmp / "state"), str(broken / "state")))
        files = self.diag(config, "damaged")
        self.assertEqual(json.loads(files["state.json"])["problem"], "damaged")

    def test_refuses_a_clear_bundle_without_review(self):
        config = self.tmp / "no-support.yaml"
        config.write_text(self.config.read_text().replace(f"support: {{recipient: {self.support_recipient}}}\n", ""))
        result = run(MEDGW, "diag", "-c", config, "-o", self.tmp / "none.age")
        self.assertEqual(result.returncode, 2)
        self.assertIn("support.recipient", result.stderr)
        self.assertIn("--review", result.stderr)
        self.assertFalse((self.tmp / "none.age").exists())
        self.assertEqual(run(MEDGW, "diag", "-c", self.config, "--since", "soon").returncode, 2)


class LargeLog(unittest.TestCase):
    """Acceptance 4 at 100 MiB (bench/diag runs the 1 GiB case): the bundle
    stays under 20 MiB and is written in under 30 s, reading the log from its
    end; the newest lines are the ones kept."""

    def test_large_log(self):
        with TempDir() as tmp:
            data = tmp / "hospital"
            run(SAMPLE, "--out", data, "--patients", "2", "--seed", "3", "--only", "ssmix2", check=True)
            pki = Pki(tmp / "pki")
            _, recipient = new_identity(tmp)
            support_key, support_recipient = support_identity(tmp)
            log = tmp / "medgw.log"
            write_log(log, 100 << 20, "1712345678")
            sources = f"  - {{name: ssmix2, type: ssmix2, path: {data / 'ssmix2' / 'std'}, settle: 0s}}\n"
            config = delivery_config(tmp, recipient, sources, pki, port=1,
                                     extra=f"support: {{recipient: {support_recipient}}}\nlog: {{file: {log}}}\n")
            started = time.monotonic()
            result = run(MEDGW, "diag", "-c", config, "-o", tmp / "large.age", timeout=120)
            elapsed = time.monotonic() - started
            self.assertEqual(result.returncode, 0, result.stderr)
            size = (tmp / "large.age").stat().st_size
            self.assertLessEqual(size, 20 << 20)
            self.assertLess(elapsed, 30)
            files = open_bundle(tmp / "large.age", tmp / "large", support_key)
            kept = files["logs/medgw.log"]
            self.assertLessEqual(len(kept), 10 << 20)
            self.assertGreater(len(kept), 4 << 20)
            self.assertTrue(kept.rstrip(b"\n").endswith(b"seq=last"), "the newest line is kept")
            self.assertNotIn(b"1712345678", kept)
            print(f"\nacceptance 4 (100 MiB log): bundle {size} bytes, {elapsed:.2f} s, "
                  f"log kept {len(kept)} bytes", flush=True)


def write_log(log: Path, size: int, patient: str):
    """`size` bytes of medgw-like lines dated within the last hour, one in a
    hundred naming `patient` the way another program would, ending with a
    line seq=last."""
    import random
    rng = random.Random(5)
    now = time.time()
    lines = []
    for i in range(20000):
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now - 3000 + i * 0.1))
        if i % 100 == 0:
            lines.append(f"{stamp} otherapp: patient {patient} seen\n")
        else:
            lines.append(f"time={stamp}.{i % 1000000:06d}+00:00 level=debug component=collect event=collect.read "
                         f"msg=\"file read\" source=ssmix2 bytes={rng.randint(100, 10**8)} seq={i} "
                         f"object_id=01a231d1-3d21-7d2a-80b6-{rng.randint(0, 2**48):012x}\n")
    block = "".join(lines).encode()
    with open(log, "wb") as out:
        written = 0
        while written + len(block) < size:
            out.write(block)
            written += len(block)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now))
        out.write(f"time={stamp}.000000+00:00 level=info component=x msg=end seq=last\n".encode())


if __name__ == "__main__":
    unittest.main()
