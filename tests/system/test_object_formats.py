"""medgw-object/1 and /2 side by side (issue 23). The gateway writes /2 (a
letter per entry; a file with content is only its tar member); a central that
already holds /1 objects of a facility must land /2 objects after them, and
/1 after /2, into one tree. Both kinds are built here the way the gateway
builds them (tus_client.py), sent over mutual TLS to one medgw-receiver, and
the landed tree is compared with what the manifests say.

The /2 hostile cases: what a /2 manifest no longer states (names and sizes)
comes from the tar headers, so a member too many, one missing, one named out
of the tree, one named twice or larger than the declared total, and letters
that disagree with the listed entries must each be refused by name."""
import hashlib
import json
import os
import unittest

from helpers import Receiver, TempDir, new_identity, snapshot
from pki import Pki
from test_receiver_hostile import quarantined, wait_landed_through
from tus_client import Entry, GatewayKey, Tus, build_object, encrypt, manifest, plain_tar, signed

PATIENT = b"000/000/0000001/20240401"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FormatsTest(unittest.TestCase):
    def setUp(self):
        self.tmp_holder = TempDir()
        self.tmp = self.tmp_holder.__enter__()
        self.addCleanup(self.tmp_holder.__exit__, None, None, None)
        self.pki = Pki(self.tmp / "pki")
        self.identity, self.recipient = new_identity(self.tmp)
        self.key = GatewayKey.generate()
        self.central = Receiver(self.tmp / "central", self.pki, [self.key.public_text()], identity=self.identity)
        self.central.start()
        self.addCleanup(self.central.kill, 15)
        self.tus = Tus(self.central.port, self.pki)
        self.addCleanup(self.tus.close)

    def send(self, seq: int, entries: list[Entry], version: int):
        obj = build_object(self.key, self.recipient, seq, entries, version=version)
        last = self.tus.upload(obj)
        self.assertEqual(last.status, 204)
        # The last PATCH carries the signed receipt (issue 23: no GET for it);
        # it is the one GET receipts/<id> gives.
        receipt = last.header("medgw-receipt")
        self.assertIsNotNone(receipt)
        self.assertEqual(json.loads(receipt)["object_id"], obj.object_id)
        self.assertEqual(self.tus.request("GET", f"/files/receipts/{obj.object_id}").body.decode(), receipt)

    def send_raw(self, seq: int, manifest_json: dict, members: list[tuple[bytes, bytes]]):
        object_id = manifest_json["object_id"]
        obj = signed(self.key, encrypt(plain_tar(manifest_json, members), self.recipient), object_id, seq)
        self.assertEqual(self.tus.upload(obj).status, 204)


class BothFormats(FormatsTest):
    def test_v1_and_v2_objects_of_one_facility_land_into_one_tree(self):
        a, b, c = (PATIENT + b"/OMG-01/" + name for name in (b"a", b"b", b"c"))
        odd = PATIENT + b"/OMG-01/odd-\xff\xfe"  # not UTF-8: exact bytes through the tar header
        self.send(1, [Entry(a, b"A1"), Entry(b, b"B1"), Entry(c, b"C1")], version=1)
        self.send(2, [Entry(a, b"A2", change="modify"),
                      Entry(b + b"2", change="rename", from_path=b, sha256=sha(b"B1"), size=2),
                      Entry(c, change="delete", sha256=sha(b"C1"), size=2),
                      Entry(odd, b"ODD"),
                      Entry(PATIENT + b"/OMG-01/d", b"D2")], version=2)
        self.send(3, [Entry(PATIENT + b"/OMG-01/d2", change="rename", from_path=PATIENT + b"/OMG-01/d",
                            sha256=sha(b"D2"), size=2),
                      Entry(odd, b"ODD3", change="modify")], version=1)
        self.send(4, [Entry(a, b"A4", change="modify"), Entry(PATIENT + b"/OMG-01/e", b"")], version=2)
        wait_landed_through(self.central, 4)
        self.assertEqual(quarantined(self.central), {})
        expected = {a: b"A4", b + b"2": b"B1", odd: b"ODD3", PATIENT + b"/OMG-01/d2": b"D2",
                    PATIENT + b"/OMG-01/e": b""}
        landed = snapshot(self.central.landed() / "ssmix2")
        self.assertEqual(landed, {k: sha(v) for k, v in expected.items()})


class HostileV2(FormatsTest):
    """Each malformed /2 object is quarantined with its reason; the facility
    goes on landing the next."""

    def v2(self, seq: int, entries: list[Entry]) -> dict:
        return manifest(entries, f"00000000-0000-7000-8000-{seq:012d}", seq, version=2)

    def test_members_that_disagree_with_the_manifest_are_refused_by_name(self):
        f = PATIENT + b"/OMG-01/f"
        good = [Entry(f, b"F")]
        cases = {}
        seq = 0

        def case(reason, manifest_json, members):
            nonlocal seq
            seq += 1
            cases[seq] = reason
            self.send_raw(seq, manifest_json, members)

        case("member_unlisted", self.v2(1, good), [(b"ssmix2/" + f, b"F"), (b"ssmix2/" + f + b"x", b"X")])
        case("member_missing", self.v2(2, good + [Entry(f + b"y", b"Y")]), [(b"ssmix2/" + f, b"F")])
        case("unsafe_path", self.v2(3, good), [(b"ssmix2/../../escaped", b"F")])
        case("unsafe_path", self.v2(4, good), [(b"not a source/" + f, b"F")])
        case("bad_manifest", self.v2(5, good + [Entry(f, b"F")]), [(b"ssmix2/" + f, b"F"), (b"ssmix2/" + f, b"F")])
        case("member_larger_than_manifest", self.v2(6, [Entry(f, b"F")]), [(b"ssmix2/" + f, b"FF")])
        case("member_missing", self.v2(7, [Entry(f, b"FFF")]), [(b"ssmix2/" + f, b"F")])
        wrong = self.v2(8, [Entry(f, change="delete", sha256=sha(b"F"), size=1)])
        wrong["changes"] = "R"
        case("bad_manifest", wrong, [])
        unknown = self.v2(9, good)
        unknown["changes"] = "X"
        case("bad_manifest", unknown, [(b"ssmix2/" + f, b"F")])
        extra = self.v2(10, good)
        extra["entries"] = [{"source": "ssmix2", "path": "x", "size": 1, "sha256": sha(b"x"), "change": "delete",
                             "meta": {}}]
        case("bad_manifest", extra, [(b"ssmix2/" + f, b"F")])
        short_meta = self.v2(11, good)
        short_meta["meta"] = []
        case("bad_manifest", short_meta, [(b"ssmix2/" + f, b"F")])
        # Then a good one lands: nothing of the refused ones is in the tree.
        self.send(seq + 1, [Entry(PATIENT + b"/OMG-01/ok", b"OK")], version=2)
        wait_landed_through(self.central, seq + 1)
        self.assertEqual(quarantined(self.central), cases)
        self.assertEqual(snapshot(self.central.landed() / "ssmix2"), {PATIENT + b"/OMG-01/ok": sha(b"OK")})
        self.assertFalse((self.tmp / "central" / "escaped").exists())
        self.assertEqual([n for n in os.listdir(self.central.landed()) if n.startswith(".")], [], "leftovers")


if __name__ == "__main__":
    unittest.main()
