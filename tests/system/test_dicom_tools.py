"""The DICOM test tooling against programs nobody here wrote: what dicom_tools
writes is parsed by dcmtk's dcmdump, sent by dcmtk's storescu, kept byte for
byte (the dataset) by dcmtk's storescp in bit-preserving mode and by Orthanc;
store_statuses reads a real refusal."""
import re
import unittest

import dicom_tools as dt
from helpers import TempDir

PATIENT_ID = "P0001"
ISSUER = "HOSP-A"


def dumped(dump: str, keyword: str) -> str:
    """A value from dcmdump's text: `(gggg,eeee) VR [value]  # len, vm Keyword`."""
    match = re.search(r"^\(\w{4},\w{4}\) \w\w \[(.*)\]\s+#.*\b" + keyword + "$", dump, re.M)
    if not match:
        raise AssertionError(f"{keyword} not in the dump")
    return match.group(1)


class DicomTools(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = TempDir()
        cls.dir = cls._tmp.__enter__()
        source = cls.dir / "source"
        source.mkdir()
        cls.study_uid = dt.new_uid()
        cls.uids = {kind: dt.new_uid() for kind in ("cr", "sr", "sr-undefined", "ct")}
        common = dict(patient_id=PATIENT_ID, study_uid=cls.study_uid)
        cls.files = {
            "cr": dt.make_cr(source / "cr.dcm", patient_name="YAMADA^TARO", series_uid=dt.new_uid(),
                             sop_uid=cls.uids["cr"], issuer=ISSUER, **common),
            "sr": dt.make_sr(source / "sr.dcm", patient_name="山田^太郎", series_uid=dt.new_uid(),
                             sop_uid=cls.uids["sr"], **common),
            "sr-undefined": dt.make_sr(source / "sr-undefined.dcm", patient_name="YAMADA^TARO",
                                       series_uid=dt.new_uid(), sop_uid=cls.uids["sr-undefined"],
                                       undefined_length=True, **common),
            # 40 frames of 512 x 512 x 16 bit: 20 MiB of pixel data.
            "ct": dt.make_ct(source / "ct.dcm", patient_name="YAMADA^TARO", series_uid=dt.new_uid(),
                             sop_uid=cls.uids["ct"], frames=40, **common),
        }

    @classmethod
    def tearDownClass(cls):
        cls._tmp.__exit__(None, None, None)

    def defined_files(self) -> dict:
        return {kind: path for kind, path in self.files.items() if kind != "sr-undefined"}

    def test_dcmdump_reads_what_the_writer_wrote(self):
        """dt.dcmdump fails on any warning, so this also says nothing needed correcting."""
        for kind, path in self.files.items():
            with self.subTest(kind=kind):
                dump = dt.dcmdump(path)
                self.assertEqual(dumped(dump, "PatientID"), PATIENT_ID)
                self.assertEqual(dumped(dump, "StudyInstanceUID"), self.study_uid)
                self.assertEqual(dumped(dump, "SOPInstanceUID"), self.uids[kind])
                self.assertEqual(dumped(dump, "MediaStorageSOPInstanceUID"), self.uids[kind])
                self.assertIn("(0002,0010) UI =LittleEndianExplicit", dump)
                # The dataset starts right after the meta group its group length announces.
                head = path.read_bytes()[:1024]
                group_length = int.from_bytes(head[140:144], "little")
                self.assertEqual(dt.dataset_offset(path), 144 + group_length)
                self.assertEqual(dt.dataset_offset(path), dt.dataset_offset(head))
        cr = dt.dcmdump(self.files["cr"])
        self.assertEqual(dumped(cr, "IssuerOfPatientID"), ISSUER)
        self.assertEqual(dumped(cr, "BurnedInAnnotation"), "NO")
        self.assertEqual(dumped(cr, "Modality"), "CR")
        self.assertEqual(dumped(dt.dcmdump(self.files["sr"]), "PatientName"), "山田^太郎")
        ct = dt.dcmdump(self.files["ct"])
        self.assertEqual(dumped(ct, "NumberOfFrames"), "40")
        self.assertIn("=EnhancedCTImageStorage", ct)
        self.assertRegex(ct, r"\(7fe0,0010\) OW .*# 20971520, 1 PixelData")
        self.assertIn("ContentSequence", dt.dcmdump(self.files["sr-undefined"]))
        self.assertIn("Sequence with undefined length", dt.dcmdump(self.files["sr-undefined"]))

    def test_pixel_data_is_deterministic_and_differs_per_frame(self):
        length, chunks = dt.pixel_chunks("seed", 3, 4096)
        first = b"".join(chunks)
        self.assertEqual(len(first), length)
        self.assertEqual(first, b"".join(dt.pixel_chunks("seed", 3, 4096)[1]))
        frames = [first[i * 4096 + 8:(i + 1) * 4096] for i in range(3)]
        self.assertEqual(len(set(frames)), 3)
        self.assertNotEqual(first, b"".join(dt.pixel_chunks("other", 3, 4096)[1]))

    def test_storescp_keeps_each_dataset(self):
        with dt.StoreScp(self.dir / "storescp") as scp:
            result = dt.storescu(scp.port, self.files.values(), called="STORESCP", calling="PACS01")
            self.assertEqual(result.returncode, 0, result.stderr[-3000:])
            self.assertEqual(dt.store_statuses(result), [0] * len(self.files), result.stderr[-3000:])
            for kind, path in self.defined_files().items():
                with self.subTest(kind=kind):
                    self.assertEqual(dt.dataset_sha256(scp.file(self.uids[kind])), dt.dataset_sha256(path))
            # storescu re-encodes what it sends with defined lengths; what arrives is what this writer
            # makes of the same document with defined lengths, byte for byte.
            received = scp.file(self.uids["sr-undefined"])
            self.assertNotEqual(dt.dataset_sha256(received), dt.dataset_sha256(self.files["sr-undefined"]))
            defined = dt.make_sr(self.dir / "sr-defined.dcm", PATIENT_ID, "YAMADA^TARO", self.study_uid,
                                 dumped(dt.dcmdump(self.files["sr-undefined"]), "SeriesInstanceUID"),
                                 self.uids["sr-undefined"])
            self.assertEqual(dt.dataset_sha256(received), dt.dataset_sha256(defined))

    def test_store_statuses_reads_a_refusal(self):
        """storescp answers 0xA700 (Refused: OutOfResources) when it cannot write the file: a folder
        in the way of the CR's file name makes that happen."""
        with dt.StoreScp(self.dir / "storescp-refusing") as scp:
            (scp.directory / f"CR.{self.uids['cr']}").mkdir()
            result = dt.storescu(scp.port, [self.files["cr"], self.files["sr"]], called="STORESCP")
            self.assertIn("I: Received Store Response (Refused: OutOfResources)", result.stderr)
            self.assertEqual(dt.store_statuses(result), [0xA700, 0x0000])
            self.assertEqual(result.returncode, 0, "storescu --no-halt exits 0 after a refused store")
            debug = dt.storescu(scp.port, [self.files["cr"]], called="STORESCP", extra=["-d"])
            self.assertEqual(dt.store_statuses(debug), [0xA700])

    def test_orthanc_keeps_each_dataset(self):
        with dt.Orthanc() as orthanc:
            self.assertEqual(orthanc.get_json("/system")["DicomAet"], "ORTHANC")
            result = orthanc.store(self.defined_files().values())
            self.assertEqual(dt.store_statuses(result), [0] * len(self.defined_files()), result.stderr[-3000:])
            self.assertEqual(len(orthanc.instances()), len(self.defined_files()))
            for kind, path in self.defined_files().items():
                with self.subTest(kind=kind):
                    instance = orthanc.find_instance(self.uids[kind])
                    tags = orthanc.tags(instance)
                    self.assertEqual(tags["PatientID"], PATIENT_ID)
                    self.assertEqual(tags["StudyInstanceUID"], self.study_uid)
                    self.assertEqual(dt.dataset_sha256(orthanc.instance_file(instance)), dt.dataset_sha256(path))
            self.assertEqual(orthanc.tags(orthanc.find_instance(self.uids["cr"]))["IssuerOfPatientID"], ISSUER)
            if orthanc.dicomweb:
                studies = orthanc.get_json("/dicom-web/studies")
                self.assertEqual([s["0020000D"]["Value"][0] for s in studies], [self.study_uid])


if __name__ == "__main__":
    unittest.main()
