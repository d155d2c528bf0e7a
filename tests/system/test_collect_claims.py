"""DPC and receipt (UKE) collection through `medgw collect --once`: a generated
hospital's exports are collected whole and validate clean; a damaged receipt
file is still sent, flagged, and status says it needs attention."""
import unittest

from helpers import MEDGW, SAMPLE, Central, TempDir, new_identity, run, snapshot, write_gateway_config, open_object, \
    committed_objects
from test_collect_ssmix2 import assert_no_patient_data, collect


class Claims(unittest.TestCase):
    def test_generated_exports_collected_clean_and_damage_flagged(self):
        with TempDir() as tmp:
            data = tmp / "hospital"
            run(SAMPLE, "--out", data, "--patients", "80", "--seed", "4", "--only", "dpc,receipt", "--months", "2",
                check=True)
            identity, recipient = new_identity(tmp)
            sources = (f"  - {{name: dpc, type: dpc, path: {data / 'dpc'}, settle: 0s}}\n"
                       f"  - {{name: receipt, type: receipt, path: {data / 'receipt'}, settle: 0s}}\n")
            config = write_gateway_config(tmp, recipient, sources,
                                          extra=f"log:\n  level: debug\n  file: {tmp / 'medgw.log'}\n")
            first = collect(config)
            self.assertEqual(first.returncode, 0, first.stderr)
            central = Central(identity)
            central.apply_new(tmp / "state")
            self.assertEqual(central.tree("dpc"), snapshot(data / "dpc"))
            self.assertEqual(central.tree("receipt"), snapshot(data / "receipt"))
            metas = [e["meta"] for f in committed_objects(tmp / "state") for e in open_object(f, identity)[0]["entries"]]
            self.assertEqual(len(metas), 8 + 2)  # FF1, EFn, Dn, Hn per month; one RECEIPTC.UKE per month
            for meta in metas:
                self.assertEqual(meta["verdict"], "ok", meta)
                self.assertNotIn("anomalies", meta)
            self.assertEqual(sorted({m["kind"] for m in metas}),
                             ["d", "ef_inpatient", "ff1", "h", "receipt_medical"])
            receipts = [m for m in metas if m["kind"] == "receipt_medical"]
            for meta in receipts:
                self.assertEqual(meta["facility"], "131234567")
                self.assertEqual((meta["go_count"], meta["go_points"]), (meta["insurance_records"], meta["total_points"]))

            # A re-exported month with a wrong GO total: a modify, flagged.
            uke = sorted((data / "receipt").rglob("RECEIPTC.UKE"))[0]
            body = uke.read_bytes()
            go = body.rindex(b"\r\nGO,") + 2
            end = body.index(b"\r\n", go)
            fields = body[go:end].split(b",")
            fields[2] = str(int(fields[2]) + 1).encode()
            uke.write_bytes(body[:go] + b",".join(fields) + body[end:])
            second = collect(config)
            self.assertEqual(second.returncode, 0, second.stderr)
            self.assertIn("receipt: 2 files seen: 0 new, 1 changed", second.stdout)
            self.assertIn("uke_go_totals 1", second.stdout)
            central.apply_new(tmp / "state")
            self.assertEqual(central.tree("receipt"), snapshot(data / "receipt"))
            status = run(MEDGW, "status", "-c", config, check=True).stdout
            self.assertIn("receipt: 2 files indexed", status)
            self.assertIn("1 with anomalies (uke_go_totals 1)", status)
            self.assertIn("needs the hospital's attention", status)

            outputs = first.stdout + first.stderr + second.stdout + second.stderr + status
            outputs += (tmp / "medgw.log").read_text()
            assert_no_patient_data(self, outputs, data / "patients.tsv")


if __name__ == "__main__":
    unittest.main()
