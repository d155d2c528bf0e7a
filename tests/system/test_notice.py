"""The notice period (issue 19) through `medgw collect --once`, with the
policy's test clock (MEDGW_TEST_TODAY): a patient's data leaves only once
their notice period has passed since their first encounter on or after
policy.notice.start (or since notified_on in the register); what is held is
counted and goes at the first pass after the date, never twice; DPC and UKE
copies keep only eligible patients' rows and still add up. `notice check`,
`notice report` and `audit verify` as an operator runs them; a broken register
stops collection and is named by FILE:LINE."""
import os
import re
import sqlite3
import stat
import unittest
from datetime import date, timedelta
from pathlib import Path

from daemon_helpers import Daemon, wait_until
from helpers import MEDGW, SAMPLE, Central, TempDir, new_identity, run, snapshot, write_gateway_config
from test_collect_ssmix2 import assert_no_patient_data
from test_optout import check_uke_integrity, patients, sources

PLANNED = {b"ADT-21", b"ADT-41", b"ADT-51"}  # planned events are not encounters


def month_end(yyyymm: str) -> date:
    first = date(int(yyyymm[:4]), int(yyyymm[4:6]), 1)
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def first_encounters(data: Path, start: date) -> dict[str, date]:
    """Each patient's first encounter on or after `start`, from the SS-MIX2
    date folders and the receipts' 診療年月 (the month's last day) - worked
    out here independently of medgw."""
    first: dict[str, date] = {}

    def seen(patient: str, when: date):
        if when >= start and (patient not in first or when < first[patient]):
            first[patient] = when

    for root in (data / "ssmix2" / "std", data / "ssmix2" / "ext"):
        for path in snapshot(root):
            parts = path.split(b"/")
            if len(parts) >= 6 and parts[3].isdigit() and len(parts[3]) == 8 and parts[4] not in PLANNED:
                text = parts[3].decode()
                seen(parts[2].decode(), date(int(text[:4]), int(text[4:6]), int(text[6:])))
    for file in (data / "receipt").rglob("*"):
        if file.is_file():
            for line in file.read_bytes().split(b"\r\n"):
                fields = line.split(b",")
                if fields[0] == b"RE" and fields[13]:
                    seen(fields[13].decode(), month_end(fields[3].decode()))
    return first


def receipts_of(uke: bytes) -> list[bytes]:
    """Each receipt of a UKE file (RE up to the next RE or GO) without its number."""
    receipts, current = [], None
    for line in uke.split(b"\r\n"):
        if line.startswith((b"RE,", b"GO,")):
            if current is not None:
                receipts.append(b"\n".join(current))
            current = [b"RE," + line.split(b",", 2)[2]] if line.startswith(b"RE,") else None
        elif current is not None:
            current.append(line)
    return receipts


def env_on(today: date) -> dict:
    return dict(os.environ, MEDGW_TEST_TODAY=today.isoformat())


def collect(config: Path, today: date):
    return run(MEDGW, "collect", "--once", "-c", config, env=env_on(today))


def folder(patient_id: str) -> bytes:
    return f"{patient_id[:3]}/{patient_id[3:6]}/{patient_id}/".encode()


class Notice(unittest.TestCase):
    def test_held_until_the_notice_period_passed_then_sent_once(self):
        """Acceptance 1 and 3."""
        with TempDir() as tmp:
            data = tmp / "hospital"
            run(SAMPLE, "--out", data, "--patients", "40", "--seed", "19", "--years", "1", "--months", "3",
                "--until", "2026-03-31", check=True)
            everyone = [p["patient_id"] for p in patients(data)]
            today = date(2026, 3, 31)
            start = today - timedelta(days=60)
            encounters = first_encounters(data, start)
            never = [p for p in everyone if p not in encounters]
            # One patient without an encounter since the start was notified by mail.
            self.assertTrue(never, "every patient had an encounter: the register proves nothing")
            mailed = never[0]
            register = tmp / "notice.csv"
            register.write_text(f"patient_id,notified_on\n{mailed},{(start + timedelta(days=1)).isoformat()}\n")
            identity, recipient = new_identity(tmp)
            config = write_gateway_config(
                tmp, recipient, sources(data),
                extra=f"policy:\n  notice: {{start: \"{start.isoformat()}\", wait: 30d, register: {register}}}\n"
                      f"log:\n  level: debug\n  file: {tmp / 'medgw.log'}\n")
            self.assertEqual(run(MEDGW, "check-config", "-c", config).returncode, 0)

            def eligible_by(day: date) -> set[str]:
                out = {p for p, first in encounters.items() if first + timedelta(days=30) <= day}
                if start + timedelta(days=1) + timedelta(days=30) <= day:
                    out.add(mailed)
                return out

            central = Central(identity)
            outputs = ""
            for step, day in enumerate((today, today + timedelta(days=45))):
                result = collect(config, day)
                self.assertEqual(result.returncode, 0, result.stderr)
                outputs += result.stdout + result.stderr
                # An encounter seen only in a later source (a receipt) counts from the next pass.
                second = collect(config, day)
                self.assertEqual(second.returncode, 0, second.stderr)
                outputs += second.stdout + second.stderr
                central.apply_new(tmp / "state")  # raises on anything sent twice
                expected = eligible_by(day)
                held = [p for p in everyone if p not in expected]
                if step == 0:
                    self.assertTrue(expected and held, "nothing held or nothing eligible: the test proves nothing")
                    self.assertIn(mailed, expected)
                    self.assertIn("notice:", result.stdout)
                for label, root in (("ssmix2", data / "ssmix2" / "std"), ("ssmix2-ext", data / "ssmix2" / "ext")):
                    tree = snapshot(root)
                    want = {k: v for k, v in tree.items() if k.split(b"/")[2].decode() in expected}
                    self.assertEqual(central.tree(label), want, f"{label} on {day}")
                # Receipts: only eligible patients' (by chart number), and the copy still adds up.
                for (source, path), content in central.members.items():
                    if source == "receipt":
                        check_uke_integrity(self, content)
                        charts = {l.split(b",")[13].decode() for l in content.split(b"\r\n") if l.startswith(b"RE,")}
                        self.assertLessEqual(charts, expected, path)
                    if source == "dpc":
                        of = path.split(b".late-")[0]  # a "late rows" copy holds rows of the original
                        original = (data / "dpc" / os.fsdecode(of)).read_bytes().split(b"\r\n")
                        for line in content.split(b"\r\n"):
                            self.assertIn(line, original, "a DPC row was changed, not only left out")
                if step == 1:
                    self.check_claims_complete(central, data)
                status = run(MEDGW, "status", "-c", config, env=env_on(day), check=True).stdout
                # Counted by ID: DPC numbers (the generator's differ from patient IDs) are counted too.
                counts = re.search(r"(\d+) patients \(or DPC numbers\) eligible, (\d+) not yet", status)
                self.assertIsNotNone(counts, status)
                self.assertGreaterEqual(int(counts[1]), len(expected))
                if step == 0:
                    self.assertGreater(int(counts[2]), 0)
                outputs += status
                # Again the same day: nothing new.
                again = collect(config, day)
                self.assertEqual(again.returncode, 0, again.stderr)
                self.assertEqual(central.apply_new(tmp / "state")["content"], 0)

            # notice check: off a terminal only the tag, with the reason.
            check = run(MEDGW, "notice", "check", mailed, "-c", config, env=env_on(today), check=True).stdout
            self.assertIn("ELIGIBLE since", check)
            self.assertIn(f"{register} line 2", check)
            self.assertRegex(check, r"pt:[0-9a-f]{8}")
            late = sorted(encounters, key=lambda p: encounters[p])[-1]
            check2 = run(MEDGW, "notice", "check", late, "-c", config, env=env_on(today), check=True).stdout
            self.assertIn("NOT YET ELIGIBLE: eligible on", check2)
            outputs += check + check2

            # notice report: the patients eligible by the second step, mode 0600.
            report = tmp / "report.csv"
            run(MEDGW, "notice", "report", "-o", report, "-c", config, env=env_on(today + timedelta(days=45)),
                check=True)
            self.assertEqual(stat.S_IMODE(report.stat().st_mode), 0o600)
            rows = [line.split(",") for line in report.read_text(encoding="utf-8-sig").splitlines()[1:]]
            # (DPC numbers, which the generator makes unlike patient IDs, are listed as IDs of their own.)
            listed = {r[1]: r[0] for r in rows if r[1] in everyone}
            final = eligible_by(today + timedelta(days=45))
            self.assertEqual({p for p, status in listed.items() if status == "eligible"}, final)
            # Held: the patients whose data was seen but who had no encounter since the start (never notified).
            self.assertEqual({p for p, status in listed.items() if status == "held"}, set(everyone) - final)
            self.assertTrue(set(everyone) - final, "nobody held at the end: the report proves less")

            # The register changed: a second audit row; the chain checks out, then an edited row is found.
            register.write_text(f"patient_id,notified_on\n{mailed},{(start + timedelta(days=2)).isoformat()}\n")
            self.assertEqual(collect(config, today + timedelta(days=45)).returncode, 0)
            verify = run(MEDGW, "audit", "verify", "-c", config)
            self.assertEqual(verify.returncode, 0, verify.stderr)
            self.assertIn("2 rows", verify.stdout)
            outputs += verify.stdout
            with sqlite3.connect(tmp / "state" / "state.db") as db:
                db.execute("DROP TRIGGER policy_audit_append_only_update")
                db.execute("UPDATE policy_audit SET at = at + 1 WHERE seq = 1")
            broken = run(MEDGW, "audit", "verify", "-c", config)
            self.assertEqual(broken.returncode, 1)
            self.assertIn("BROKEN at row 1", broken.stderr)

            # The service's metrics and status pages: counts only.
            with config.open("a") as extra:
                extra.write('status: {listen: "127.0.0.1:0"}\n')
            with Daemon(config, tmp, env={"MEDGW_TEST_TODAY": today.isoformat()}) as daemon:
                wait_until(lambda: "collect.pass_finished" in daemon.log_text(), 30, "a pass of the service")
                code, metrics = daemon.get("/metrics")
                self.assertEqual(code, 200)
                self.assertIn('reason="notice_pending"', metrics)
                code, page = daemon.get("/status")
                self.assertEqual(code, 200)
                self.assertIn('"notice"', page)
                outputs += metrics + page + daemon.log_text()

            outputs += (tmp / "medgw.log").read_text()
            assert_no_patient_data(self, outputs, data / "patients.tsv")

    def check_claims_complete(self, central: Central, data: Path):
        """Once every patient is eligible, the copies of each DPC and UKE file at
        the central (the first, filtered, and its "late rows" copies) hold every
        data row and receipt of the file exactly once."""
        late = 0
        for source in ("dpc", "receipt"):
            for path in snapshot(data / source):
                original = (data / source / os.fsdecode(path)).read_bytes()
                copies = [content for (s, p), content in central.members.items()
                          if s == source and (p == path or p.startswith(path + b".late-"))]
                late += len(copies) - 1
                if source == "dpc":
                    rows = sorted(l for c in copies for l in c.split(b"\r\n") if l[:1].isdigit())
                    self.assertEqual(rows, sorted(l for l in original.split(b"\r\n") if l[:1].isdigit()), path)
                else:
                    for content in copies:
                        check_uke_integrity(self, content)
                    receipts = sorted(r for c in copies for r in receipts_of(c))
                    self.assertEqual(receipts, sorted(receipts_of(original)), path)
        self.assertGreater(late, 0, "no late rows were sent: the test proves nothing")

    def test_a_broken_register_stops_collection_and_names_the_line(self):
        """Acceptance 4."""
        with TempDir() as tmp:
            data = tmp / "hospital"
            run(SAMPLE, "--out", data, "--patients", "5", "--seed", "3", "--only", "ssmix2", check=True)
            known = patients(data)[0]["patient_id"]
            register = tmp / "notice.csv"
            identity, recipient = new_identity(tmp)
            config = write_gateway_config(
                tmp, recipient, sources(data),
                extra=f"policy: {{notice: {{start: \"2026-01-01\", register: {register}}}}}\n")
            for body, line, secret in ((f"{known},2026-02-30\n", 3, "2026-02-30"),
                                       ("9999999999,2026-02-01\n", 3, "9999999999"),
                                       (f"{known},2026-02-01\n", 3, None)):
                register.write_text(f"patient_id,notified_on\n{known},2026-02-01\n" + body)
                if secret is None:  # a duplicate
                    register.write_text(f"patient_id,notified_on\n{known},2026-02-01\n{known},2026-02-02\n")
                result = run(MEDGW, "collect", "--once", "-c", config, env=env_on(date(2026, 3, 31)))
                self.assertEqual(result.returncode, 1)
                self.assertIn(f"{register}:{line}:", result.stderr)
                if secret:
                    self.assertNotIn(secret, result.stderr)
                self.assertNotIn(known, result.stderr)
                spool = tmp / "state" / "spool"
                self.assertFalse(spool.exists() and list(spool.glob("*.age")), "something was spooled")
            register.unlink()
            result = run(MEDGW, "collect", "--once", "-c", config, env=env_on(date(2026, 3, 31)))
            self.assertEqual(result.returncode, 1)
            self.assertIn("cannot read the notice register", result.stderr)


if __name__ == "__main__":
    unittest.main()
