"""A hostile-but-valid gateway for medgw-receiver's tests: real mutual TLS
(the test PKI), correctly signed medgw objects (age + tar.zst + MANIFEST.json
built with the stock `age` and `zstd` tools), and a small tus 1.0 client that
can also send what a real gateway never would."""
import base64
import hashlib
import http.client
import io
import json
import os
import socket
import ssl
import subprocess
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

FACILITY = "131234567"


# --- Signing ---

class GatewayKey:
    """An Ed25519 gateway key: new, or the gateway's own state_dir/signing.key."""

    def __init__(self, private: Ed25519PrivateKey):
        self.private = private

    @classmethod
    def generate(cls) -> "GatewayKey":
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_state_dir(cls, state_dir: Path) -> "GatewayKey":
        # crypto/signing.cpp: "medgw-signing-key/1 <base64 of the 32-byte seed>\n"
        text = (state_dir / "signing.key").read_text().strip()
        prefix = "medgw-signing-key/1 "
        assert text.startswith(prefix), "not a medgw signing key"
        seed = base64.b64decode(text[len(prefix):] + "=" * (-len(text[len(prefix):]) % 4))
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def public_text(self) -> str:
        raw = self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return "ed25519:" + base64.b64encode(raw).decode()

    def sign(self, object_id: str, seq, facility: str, sha256: str) -> bytes:
        statement = f"medgw-object/1\n{object_id}\n{seq}\n{facility}\n{sha256}\n".encode()
        return self.private.sign(statement)


# --- Objects ---

@dataclass
class Entry:
    path: bytes
    content: bytes | None = None  # add/modify
    change: str = "add"
    source: str = "ssmix2"
    sha256: str | None = None  # rename/delete: the content's
    size: int | None = None
    from_path: bytes | None = None
    meta: dict = field(default_factory=dict)


def _path_fields(entry: dict, key: str, value: bytes):
    try:
        entry[key] = value.decode("utf-8")
    except UnicodeDecodeError:
        # What the gateway does (spool/object.cpp): a lossy rendering and the exact bytes.
        entry[key] = value.decode("utf-8", "replace")
        entry[key + "_base64"] = base64.b64encode(value).decode()


def manifest(entries: list[Entry], object_id: str, seq: int, facility: str = FACILITY, version: int = 1) -> dict:
    """A medgw-object/1 manifest (every entry in full) or /2 (a letter per
    entry; the entries with content are only their members)."""
    items = []
    for e in entries:
        item = {"source": e.source}
        _path_fields(item, "path", e.path)
        if e.change != "withdraw":
            data = e.content or b""
            item["size"] = e.size if e.size is not None else len(data)
            item["mtime"] = "2024-04-01T00:00:00.000000000Z"
            item["sha256"] = e.sha256 or hashlib.sha256(data).hexdigest()
        item["change"] = e.change
        if e.change == "rename":
            _path_fields(item, "from", e.from_path)
        item["meta"] = e.meta
        items.append(item)
    header = {"facility": facility, "gateway": "test", "object_id": object_id, "seq": seq,
              "created": "2024-04-01T00:00:00Z"}
    if version == 1:
        return {"format": "medgw-object/1", **header, "entries": items}
    content = [i for i in items if i["change"] in ("add", "modify")]
    letters = {"add": "A", "modify": "M", "rename": "R", "delete": "D", "withdraw": "W"}
    return {"format": "medgw-object/2", **header, "changes": "".join(letters[i["change"]] for i in items),
            "content_bytes": sum(i["size"] for i in content), "meta": [i["meta"] for i in content],
            "entries": [i for i in items if i["change"] not in ("add", "modify")]}


class _Zeros(io.RawIOBase):
    def __init__(self, size):
        self.left = size

    def readable(self):
        return True

    def readinto(self, buffer):
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def plain_tar(manifest_json: dict, members: list[tuple[bytes, bytes | int]]) -> bytes:
    """A pax tar.zst: MANIFEST.json, then members (name bytes, content bytes or
    a size of zeros streamed without holding them). Non-UTF-8 names are
    written with hdrcharset=BINARY, as libarchive does."""
    zstd = subprocess.Popen(["zstd", "-q", "-c", "-3"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    import threading
    out = []
    reader = threading.Thread(target=lambda: out.append(zstd.stdout.read()), daemon=True)
    reader.start()
    try:
        with tarfile.open(fileobj=zstd.stdin, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8",
                          errors="surrogateescape") as archive:
            data = json.dumps(manifest_json).encode()
            info = tarfile.TarInfo("MANIFEST.json")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
            for name, content in members:
                info = tarfile.TarInfo(name.decode("utf-8", "surrogateescape"))
                if isinstance(content, int):
                    info.size = content
                    archive.addfile(info, io.BufferedReader(_Zeros(content), 1 << 20))
                else:
                    info.size = len(content)
                    archive.addfile(info, io.BytesIO(content))
    finally:
        zstd.stdin.close()
        reader.join()
        zstd.stdout.close()
        zstd.wait()
    return out[0]


def encrypt(plain: bytes, recipient: str) -> bytes:
    return subprocess.run(["age", "-r", recipient], input=plain, capture_output=True, check=True).stdout


@dataclass
class SignedObject:
    object_id: str
    seq: int
    facility: str
    data: bytes  # the age file
    sha256: str
    sig: bytes

    def metadata(self, **override) -> str:
        fields = {"object_id": self.object_id, "seq": str(self.seq), "facility": self.facility, "gateway": "test",
                  "sha256": self.sha256, "sig": base64.b64encode(self.sig).decode(),
                  "created": "2024-04-01T00:00:00Z"}
        fields.update({k: v for k, v in override.items()})
        return ",".join(f"{k} {base64.b64encode(v.encode() if isinstance(v, str) else v).decode()}"
                        for k, v in fields.items() if v is not None)


def signed(key: GatewayKey, data: bytes, object_id: str, seq, facility: str = FACILITY) -> SignedObject:
    digest = hashlib.sha256(data).hexdigest()
    return SignedObject(object_id, seq, facility, data, digest, key.sign(object_id, seq, facility, digest))


def build_object(key: GatewayKey, recipient: str, seq: int, entries: list[Entry], object_id: str | None = None,
                 facility: str = FACILITY, extra_members: list[tuple[bytes, bytes | int]] = (),
                 manifest_object_id: str | None = None, version: int = 1) -> SignedObject:
    object_id = object_id or str(uuid.uuid4())
    members = [(e.source.encode() + b"/" + e.path, e.content) for e in entries if e.change in ("add", "modify")]
    plain = plain_tar(manifest(entries, manifest_object_id or object_id, seq, facility, version),
                      members + list(extra_members))
    return signed(key, encrypt(plain, recipient), object_id, seq, facility)


# --- tus over mutual TLS ---

def client_context(pki, cert=None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca.pem))
    cert_file, key_file = cert or pki.client
    context.load_cert_chain(str(cert_file), str(key_file))
    return context


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes

    def header(self, name: str):
        return self.headers.get(name.lower())


class Tus:
    """One keep-alive connection to the receiver."""

    def __init__(self, port: int, pki, cert=None, timeout: float = 60):
        self.port = port
        self.context = client_context(pki, cert)
        self.timeout = timeout
        self.connection = None

    def _connection(self) -> http.client.HTTPSConnection:
        if self.connection is None:
            self.connection = http.client.HTTPSConnection("localhost", self.port, context=self.context,
                                                          timeout=self.timeout)
        return self.connection

    def request(self, method: str, target: str, body: bytes | None = None, headers: dict | None = None) -> Answer:
        all_headers = {"Tus-Resumable": "1.0.0"}
        all_headers.update(headers or {})
        for attempt in range(2):
            connection = self._connection()
            try:
                connection.request(method, target, body=body, headers=all_headers)
                response = connection.getresponse()
                data = response.read()
                answer = Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
                if response.will_close:
                    self.close()
                return answer
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A keep-alive connection the server closed meanwhile: once more.
                self.close()
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def create(self, obj: SignedObject, length: int | None = None, metadata: str | None = None) -> Answer:
        return self.request("POST", "/files/", headers={
            "Upload-Length": str(len(obj.data) if length is None else length),
            "Upload-Metadata": obj.metadata() if metadata is None else metadata})

    def patch(self, location: str, offset: int, data: bytes, headers: dict | None = None) -> Answer:
        all_headers = {"Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset)}
        all_headers.update(headers or {})
        return self.request("PATCH", location, body=data, headers=all_headers)

    def head(self, location: str) -> Answer:
        return self.request("HEAD", location)

    def receipt(self, object_id: str) -> Answer:
        return self.request("GET", f"/files/receipts/{object_id}")

    def upload(self, obj: SignedObject, chunk: int = 1 << 20, retries: int = 30) -> Answer:
        """Uploads the whole object as a gateway would (resuming after 503s);
        returns the last PATCH's answer."""
        created = self.create(obj)
        if created.status != 201:
            return created
        location = created.header("location")
        offset = 0
        answer = None
        for _ in range(retries + len(obj.data) // chunk + 1):
            answer = self.patch(location, offset, obj.data[offset:offset + chunk])
            if answer.status == 204:
                offset = int(answer.header("upload-offset"))
                if offset == len(obj.data):
                    return answer
            elif answer.status in (423, 429, 503):
                time.sleep(float(answer.header("retry-after") or 1) / 4)
                head = self.head(location)
                offset = int(head.header("upload-offset"))
                if offset == len(obj.data):
                    return head
            else:
                return answer
        return answer


def stored_file(receiver, obj: SignedObject) -> Path:
    return receiver.directory / "data" / "store" / obj.facility / f"{obj.seq}-{obj.object_id}.age"


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int, excluding: str) -> float:
    """utime + stime of a process's threads but those named `excluding`."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended
        name = text.split("(", 1)[1].rsplit(")", 1)[0]
        if name == excluding:
            continue
        fields = text.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def raw_connections(port: int, count: int, host: str = "127.0.0.1") -> list[socket.socket]:
    """`count` plain TCP connections that never speak."""
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.setblocking(True)
        s.settimeout(5)
        try:
            s.connect((host, port))
        except OSError:
            s.close()
            continue
        sockets.append(s)
    return sockets
