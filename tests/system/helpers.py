"""Shared helpers for the system tests: where the built binaries are, and
running them as an operator would (real processes, real exit codes)."""
import base64
import hashlib
import io
import json
import os
import sqlite3
import subprocess
import tarfile
import tempfile
from pathlib import Path

BINARY_DIR = Path(os.environ.get("MEDGW_BINARY_DIR", Path(__file__).resolve().parents[2] / "build"))
SOURCE_DIR = Path(os.environ.get("MEDGW_SOURCE_DIR", Path(__file__).resolve().parents[2]))
MEDGW = BINARY_DIR / "daemon" / "medgw"
SAMPLE = BINARY_DIR / "tools" / "sample" / "medgw-sample"


def testdata_dir() -> Path:
    candidates = [os.environ.get("MEDGW_TESTDATA"), SOURCE_DIR.parent / "shared" / "testdata", "/work/shared/testdata"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "age-cctv").is_dir():
            return Path(candidate)
    raise AssertionError("the public test data (shared/testdata) was not found; set MEDGW_TESTDATA")


def run(*args, check=False, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


class TempDir:
    def __enter__(self) -> Path:
        self._dir = tempfile.TemporaryDirectory(prefix="medgw-system-")
        return Path(self._dir.name)

    def __exit__(self, *exc):
        self._dir.cleanup()


# --- The central's view of a spool: decrypt, unpack, replay the manifests ---


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def new_identity(directory: Path) -> tuple[Path, str]:
    """A central identity made by medgw itself; returns (key file, recipient)."""
    key = directory / "central.key"
    run(MEDGW, "keys", "generate", "-o", key, check=True)
    recipient = run(MEDGW, "keys", "recipient", key, check=True).stdout.strip()
    return key, recipient


def write_gateway_config(directory: Path, recipient: str, sources: str, extra: str = "") -> Path:
    """A config for collect/status tests (central.* point nowhere: nothing uploads)."""
    config = directory / "medgw.yaml"
    config.write_text(
        "facility: {code: \"131234567\", name: \"Test Hospital\"}\n"
        f"state_dir: {directory / 'state'}\n"
        f"sources:\n{sources}"
        "central:\n  url: https://c.example.jp/files/\n  ca: /a\n  cert: /b\n  key: /c\n"
        f"  recipients: [{recipient}]\n" + extra)
    return config


def entry_path(entry: dict, key: str = "path") -> bytes:
    if key in entry:
        return entry[key].encode()
    return base64.b64decode(entry[key + "_base64"])


def open_object(file: Path, identity: Path) -> tuple[dict, dict]:
    """Decrypts one spooled object with the real `age` CLI and unpacks it;
    returns (manifest, {member name bytes: content}). A medgw-object/2
    manifest comes back with its entries in full, as /1 lists them: each
    file's path and size from its tar member, its sha256 computed here."""
    plain = subprocess.run(["age", "-d", "-i", str(identity), str(file)], capture_output=True, check=True).stdout
    if plain.startswith(ZSTD_MAGIC):
        plain = subprocess.run(["zstd", "-d", "-c", "-q"], input=plain, capture_output=True, check=True).stdout
    members = {}
    order = []
    manifest = None
    with tarfile.open(fileobj=io.BytesIO(plain), mode="r:", encoding="utf-8", errors="surrogateescape") as archive:
        for member in archive:
            data = archive.extractfile(member).read() if member.isfile() else None
            if member.name == "MANIFEST.json":
                if order:
                    raise AssertionError(f"{file}: MANIFEST.json is not the first member")
                manifest = json.loads(data)
            elif data is not None:
                name = member.name.encode("utf-8", "surrogateescape")
                members[name] = data
                order.append((name, member))
    if manifest is None:
        raise AssertionError(f"{file}: no MANIFEST.json")
    if manifest["format"] == "medgw-object/2":
        manifest["entries"] = expand_v2(manifest, order, members)
    elif manifest["format"] != "medgw-object/1":
        raise AssertionError(f"{file}: unknown format {manifest['format']!r}")
    return manifest, members


def expand_v2(manifest: dict, order: list, members: dict) -> list[dict]:
    """The entries of a medgw-object/2 manifest in full: a letter per entry;
    A and M are the next tar member, the others the next listed entry."""
    names = {"A": "add", "M": "modify", "R": "rename", "D": "delete", "W": "withdraw"}
    listed = iter(manifest["entries"])
    content = iter(zip(order, manifest["meta"]))
    entries = []
    if len(manifest["meta"]) != len(order) or sum(len(members[n]) for n, _ in order) != manifest["content_bytes"]:
        raise AssertionError("a medgw-object/2 manifest does not match its members")
    for letter in manifest["changes"]:
        if letter in "AM":
            (name, member), meta = next(content)
            source, _, path = name.partition(b"/")
            entry = {"source": source.decode(), "size": len(members[name]), "mtime": member.mtime,
                     "sha256": hashlib.sha256(members[name]).hexdigest(), "change": names[letter], "meta": meta}
            try:
                entry["path"] = path.decode("utf-8")
            except UnicodeDecodeError:
                entry["path_base64"] = base64.b64encode(path).decode()
            entries.append(entry)
        else:
            entry = next(listed)
            if entry["change"] != names[letter]:
                raise AssertionError(f"entry {entry['change']!r} under letter {letter!r}")
            entries.append(entry)
    if next(listed, None) is not None or next(content, None) is not None:
        raise AssertionError("a medgw-object/2 manifest lists more than its letters say")
    return entries


def committed_objects(state_dir: Path, live: bool = False) -> list[Path]:
    """The spool's objects in seq order, as state.db records them; fails when
    a recorded file is missing or the folder holds an unrecorded object.
    With live=True (a daemon is running) an object's file written before its
    row commits, as the spool does by design, is left out instead."""
    db = sqlite3.connect(f"file:{state_dir / 'state.db'}?mode=ro", uri=True)
    try:
        names = [row[0] for row in db.execute("SELECT file_name FROM objects ORDER BY seq")]
    finally:
        db.close()
    spool = state_dir / "spool"
    on_disk = {p.name for p in spool.glob("*.age")} if spool.is_dir() else set()
    missing = [n for n in names if n not in on_disk]
    extra = on_disk - set(names)
    if live:
        extra = set()
    if missing or extra:
        raise AssertionError(f"spool and state.db disagree: missing {missing[:3]}, unrecorded {sorted(extra)[:3]}")
    return [spool / n for n in names]


class Central:
    """Replays every object's manifest in seq order into {(source, path): sha256},
    checking each entry the way a strict central would."""

    def __init__(self, identity: Path):
        self.identity = identity
        self.files: dict[tuple[str, bytes], str] = {}
        self.seen_objects: set[str] = set()
        self.content_entries: list[tuple[str, bytes, str]] = []  # every (source, path, sha256) sent with content
        self.round = {"content": 0, "rename": 0, "delete": 0}
        self.withdrawn: list[str] = []  # patient IDs of withdraw entries, in order
        self.members: dict[tuple[str, bytes], bytes] = {}  # latest content of each file sent

    def apply_new(self, state_dir: Path) -> dict:
        """Applies the objects not seen before; returns counts of this round."""
        self.round = {"content": 0, "rename": 0, "delete": 0}
        for file in committed_objects(state_dir):
            if file.name in self.seen_objects:
                continue
            self.seen_objects.add(file.name)
            manifest, members = open_object(file, self.identity)
            for entry in manifest["entries"]:
                self.apply(entry, members)
        return self.round

    def apply(self, entry: dict, members: dict):
        source, path, change = entry["source"], entry_path(entry), entry["change"]
        key = (source, path)
        if change in ("add", "modify"):
            data = members.get(source.encode() + b"/" + path)
            if data is None:
                raise AssertionError(f"{change} of {path!r} without content")
            digest = hashlib.sha256(data).hexdigest()
            if digest != entry["sha256"] or len(data) != entry["size"]:
                raise AssertionError(f"{path!r}: content does not match its manifest entry")
            if change == "add" and key in self.files:
                raise AssertionError(f"add of {path!r}, which the central already has")
            if change == "modify" and key not in self.files:
                raise AssertionError(f"modify of {path!r}, which the central does not have")
            self.files[key] = digest
            self.members[key] = data
            self.content_entries.append((source, path, digest))
            self.round["content"] += 1
        elif change == "rename":
            old = (source, entry_path(entry, "from"))
            if old not in self.files or self.files[old] != entry["sha256"]:
                raise AssertionError(f"rename from {old[1]!r}, which the central does not have with that content")
            if key in self.files:
                raise AssertionError(f"rename onto {path!r}, which the central already has")
            if source.encode() + b"/" + path in members:
                raise AssertionError(f"rename of {path!r} carried the content again")
            self.files[key] = self.files.pop(old)
            self.round["rename"] += 1
        elif change == "delete":
            if self.files.get(key) != entry["sha256"]:
                raise AssertionError(f"delete of {path!r}, which the central does not have with that content")
            del self.files[key]
            self.round["delete"] += 1
        elif change == "withdraw":
            # The central deletes what it holds of the patient; for SS-MIX2
            # sources that is the patient's folder (pid[0:3]/pid[3:6]/pid/).
            patient = entry["meta"]["patient_id"]
            folder = f"{patient[:3]}/{patient[3:6]}/{patient}/".encode()
            for stored in [k for k in self.files if k[0].startswith("ssmix2") and k[1].startswith(folder)]:
                del self.files[stored]
            self.withdrawn.append(patient)
        else:
            raise AssertionError(f"unexpected change {change!r}")

    def tree(self, source: str) -> dict[bytes, str]:
        return {path: digest for (s, path), digest in self.files.items() if s == source}


def snapshot(root: Path) -> dict[bytes, str]:
    """{relative path bytes: sha256} of the regular files under root (symlinks not followed)."""
    result = {}
    base = os.fsencode(root)
    for directory, _dirs, files in os.walk(base):
        for name in files:
            full = os.path.join(directory, name)
            if os.path.islink(full) or not os.path.isfile(full):
                continue
            with open(full, "rb") as handle:
                result[os.path.relpath(full, base)] = hashlib.sha256(handle.read()).hexdigest()
    return result


# --- The reference receiver on loopback ---

RECEIVER = BINARY_DIR / "receiver" / "medgw-receiver"


def gateway_key(config: Path) -> str:
    return json.loads(run(MEDGW, "status", "--json", "-c", config, check=True).stdout)["gateway_key"]


class Receiver:
    """medgw-receiver as a real child process on a free loopback port."""

    def __init__(self, directory: Path, pki, gateway_keys: list[str], facility: str = "131234567",
                 landing: bool = True, identity: Path | None = None, server=None, extra: str = "", port: int = 0):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        server_cert, server_key = server or pki.server
        lines = [
            f'listen: "127.0.0.1:{port}"',
            f"tls: {{ca: {pki.ca.pem}, cert: {server_cert}, key: {server_key}}}",
            f"data_dir: {directory / 'data'}",
            "idle_timeout: 10s",
        ]
        if landing:
            lines += [f"landing: {directory / 'landing'}", f"identity: {identity}"]
        lines.append("facilities:")
        lines.append(f'  - {{code: "{facility}", clients: [{pki.client_cn}], gateways: [{", ".join(gateway_keys)}]}}')
        self.config = directory / "receiver.yaml"
        self.config.write_text("\n".join(lines) + "\n" + extra)
        self.process = None
        self.port = None
        self.log = directory / "receiver.log"

    def start(self) -> "Receiver":
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([str(RECEIVER), "-c", str(self.config)], stdout=subprocess.PIPE, stderr=log)
        line = self.process.stdout.readline().decode()
        self.process.stdout.close()
        if "listening on" not in line:
            raise AssertionError(f"medgw-receiver did not start: {line!r} {self.log.read_text()}")
        port = int(line.rsplit(" ", 1)[1])
        if self.port is not None and port != self.port:
            raise AssertionError("restarted receiver on another port")
        self.port = port
        return self

    def restart_on_same_port(self):
        text = self.config.read_text().replace('listen: "127.0.0.1:0"', f'listen: "127.0.0.1:{self.port}"')
        self.config.write_text(text)
        return self.start()

    def kill(self, sig=9):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)

    def status(self) -> str:
        return run(RECEIVER, "status", "-c", self.config, check=True).stdout

    def landed(self, facility: str = "131234567") -> Path:
        return self.directory / "landing" / facility

    def wait_landed(self, objects: int, timeout: float = 120):
        """Until `objects` objects are landed (landed through == highest seq)."""
        import re
        import time
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.status()
            match = re.search(r"(\d+) objects .* highest seq (\d+), landed through (\d+)", text)
            if match and int(match.group(1)) >= objects and match.group(3) == match.group(2):
                return text
            time.sleep(0.2)
        raise AssertionError(f"not landed in time:\n{self.status()}\n{self.log.read_text()[-3000:]}")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill(15)


def delivery_config(directory: Path, recipient: str, sources: str, pki, port: int, extra: str = "",
                    receipt_key: Path | None = None, cert=None, ca: Path | None = None) -> Path:
    """A gateway config that uploads to the receiver on loopback."""
    client_cert, client_key = cert or pki.client
    config = directory / "medgw.yaml"
    central = (f"central:\n  url: https://localhost:{port}/files/\n  ca: {ca or pki.ca.pem}\n"
               f"  cert: {client_cert}\n  key: {client_key}\n  recipients: [{recipient}]\n  chunk: 1MiB\n")
    if receipt_key:
        central += f"  receipt_key: {receipt_key}\n"
    config.write_text(
        "facility: {code: \"131234567\", name: \"Test Hospital\"}\n"
        f"state_dir: {directory / 'state'}\n"
        f"sources:\n{sources}" + central + extra)
    return config
