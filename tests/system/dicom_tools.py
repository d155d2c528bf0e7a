"""DICOM for the tests and benchmarks, without pydicom: a minimal Part 10
writer (explicit VR little endian, elements sorted, even lengths), CT/CR/SR
instances made from it, dcmtk's `storescu` as the sending modality, and a
throwaway Orthanc (Debian's /usr/sbin/Orthanc) as a real PACS to compare with.

A receiver rewrites the file meta group (its own implementation UID, source
AE), so received files are compared by `dataset_sha256`: the bytes after the
meta group. The writer emits the encoding DCMTK itself writes (defined lengths,
no dataset group lengths, UIDs padded with NUL, text with a space), so a
dataset survives storescu -> storescp +B -> Orthanc byte for byte. Sequences of
undefined length (make_sr(undefined_length=True)) do not: storescu re-encodes
every dataset it sends with defined lengths.

dcmtk 3.6.7 leaves Nagle's algorithm on unless the environment says
TCP_NODELAY=1: an SCP's small C-STORE response then waits for the peer's
delayed ACK, about 45 ms per instance on loopback (20 small instances take
0.95 s instead of 0.08 s). storescu, storescp and Orthanc are started here with
TCP_NODELAY=1 (`DCMTK_ENV`); only the SCP's side matters."""
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from daemon_helpers import free_port

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"
CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
BASIC_TEXT_SR_STORAGE = "1.2.840.10008.5.1.4.1.1.88.11"
IMPLEMENTATION_CLASS_UID = "2.25.164849417911235427431960317526430427633"  # fixed: this writer
IMPLEMENTATION_VERSION = "MEDGW_TESTS"

STORESCU = "/usr/bin/storescu"
STORESCP = "/usr/bin/storescp"
DCMDUMP = "/usr/bin/dcmdump"
ORTHANC = "/usr/sbin/Orthanc"

# VRs whose explicit-VR header has 2 reserved bytes and a 32-bit length.
_LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"}
_UNDEFINED = 0xFFFFFFFF
DCMTK_ENV = {"TCP_NODELAY": "1"}  # see the module's docstring
_CHUNK = 1 << 20


def new_uid() -> str:
    """A fresh UID under the UUID-derived root 2.25 (PS3.5 B.2)."""
    return f"2.25.{uuid.uuid4().int}"


# --- Encoding ---


def _tag(tag: int) -> bytes:
    return struct.pack("<HH", tag >> 16, tag & 0xFFFF)


def _header(tag: int, vr: str, length: int) -> bytes:
    if vr in _LONG_VRS:
        return _tag(tag) + vr.encode() + b"\0\0" + struct.pack("<I", length)
    if length > 0xFFFF:
        raise ValueError(f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {vr}: {length} bytes do not fit a 16-bit length")
    return _tag(tag) + vr.encode() + struct.pack("<H", length)


def _value(vr: str, value) -> bytes:
    if isinstance(value, bytes):
        raw = value
    elif vr == "US":
        raw = b"".join(struct.pack("<H", v) for v in (value if isinstance(value, (list, tuple)) else [value]))
    elif vr == "UL":
        raw = b"".join(struct.pack("<I", v) for v in (value if isinstance(value, (list, tuple)) else [value]))
    else:
        raw = (value if isinstance(value, str) else "\\".join(str(v) for v in value)).encode("utf-8")
    if len(raw) % 2:
        raw += b"\0" if vr in ("UI", "OB", "UN") else b" "
    return raw


def element(tag: int, vr: str, value) -> bytes:
    """One explicit VR little endian element; `value` is bytes (taken as is, padded to even), a str,
    a number or a list (backslash-joined), or for SQ a list of items (each a list of elements)."""
    if vr == "SQ":
        return sequence(tag, value)
    raw = _value(vr, value)
    return _header(tag, vr, len(raw)) + raw


def item(elements: list[tuple], undefined_length: bool = False) -> bytes:
    body = encode_elements(elements, undefined_length)
    if undefined_length:
        return _tag(0xFFFEE000) + struct.pack("<I", _UNDEFINED) + body + _tag(0xFFFEE00D) + b"\0\0\0\0"
    return _tag(0xFFFEE000) + struct.pack("<I", len(body)) + body


def sequence(tag: int, items: list[list[tuple]], undefined_length: bool = False) -> bytes:
    """An SQ element; with undefined_length its items and their nested sequences are undefined too."""
    body = b"".join(item(i, undefined_length) for i in items)
    if undefined_length:
        return _header(tag, "SQ", _UNDEFINED) + body + _tag(0xFFFEE0DD) + b"\0\0\0\0"
    return _header(tag, "SQ", len(body)) + body


def encode_elements(elements: list[tuple], undefined_length: bool = False) -> bytes:
    """(tag, vr, value) tuples, encoded in ascending tag order (duplicates refused)."""
    ordered = sorted(elements, key=lambda e: e[0])
    tags = [e[0] for e in ordered]
    if len(set(tags)) != len(tags):
        raise ValueError("duplicate tag in a dataset")
    out = []
    for tag, vr, value in ordered:
        out.append(sequence(tag, value, undefined_length) if vr == "SQ" else element(tag, vr, value))
    return b"".join(out)


def file_meta(sop_class: str, sop_instance: str, transfer_syntax: str = EXPLICIT_VR_LITTLE_ENDIAN) -> bytes:
    """Preamble, "DICM" and the group 0002 with its group length."""
    group = encode_elements([
        (0x00020001, "OB", b"\x00\x01"),
        (0x00020002, "UI", sop_class),
        (0x00020003, "UI", sop_instance),
        (0x00020010, "UI", transfer_syntax),
        (0x00020012, "UI", IMPLEMENTATION_CLASS_UID),
        (0x00020013, "SH", IMPLEMENTATION_VERSION),
    ])
    return b"\0" * 128 + b"DICM" + element(0x00020000, "UL", len(group)) + group


def write_part10(path, sop_class: str, sop_instance: str, elements: list[tuple], pixel_data=None) -> Path:
    """Writes a Part 10 file. `pixel_data` is (length, iterable of byte chunks) for (7FE0,0010) OW,
    written last and streamed; the chunks must add up to `length` (even)."""
    path = Path(path)
    if any(e[0] >= 0x7FE00010 for e in elements) and pixel_data is not None:
        raise ValueError("pixel data is given separately and comes last")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        out.write(file_meta(sop_class, sop_instance))
        out.write(encode_elements(elements))
        if pixel_data is not None:
            length, chunks = pixel_data
            if length % 2:
                raise ValueError("pixel data length must be even")
            out.write(_header(0x7FE00010, "OW", length))
            written = 0
            for chunk in chunks:
                out.write(chunk)
                written += len(chunk)
            if written != length:
                raise ValueError(f"pixel data: {written} bytes written, {length} declared")
    return path


# --- Instances ---


def _patient_study(patient_id, patient_name, issuer, study_uid, series_uid, sop_class, sop_uid, modality,
                   study_date, series_number=1, instance_number=1) -> list[tuple]:
    name_bytes = patient_name.encode("utf-8")
    elements = [
        # ISO_IR 192 (UTF-8) only when a name needs it; ISO_IR 100 (Latin-1) is ASCII-compatible.
        (0x00080005, "CS", "ISO_IR 192" if not patient_name.isascii() else "ISO_IR 100"),
        (0x00080016, "UI", sop_class),
        (0x00080018, "UI", sop_uid),
        (0x00080020, "DA", study_date),
        (0x00080030, "TM", "101500"),
        (0x00080050, "SH", ""),
        (0x00080060, "CS", modality),
        (0x00080070, "LO", "medgw tests"),
        (0x00080090, "PN", ""),
        (0x00100010, "PN", name_bytes),
        (0x00100020, "LO", patient_id),
        (0x00100030, "DA", ""),
        (0x00100040, "CS", ""),
        (0x0020000D, "UI", study_uid),
        (0x0020000E, "UI", series_uid),
        (0x00200010, "SH", "1"),
        (0x00200011, "IS", str(series_number)),
        (0x00200013, "IS", str(instance_number)),
    ]
    if issuer is not None:
        elements.append((0x00100021, "LO", issuer))
    return elements


def _image(rows, cols, frames=None) -> list[tuple]:
    elements = [
        (0x00280002, "US", 1),
        (0x00280004, "CS", "MONOCHROME2"),
        (0x00280010, "US", rows),
        (0x00280011, "US", cols),
        (0x00280100, "US", 16),
        (0x00280101, "US", 16),
        (0x00280102, "US", 15),
        (0x00280103, "US", 0),
        (0x00280301, "CS", "NO"),  # BurnedInAnnotation
    ]
    if frames is not None:
        elements.append((0x00280008, "IS", str(frames)))
    return elements


def pixel_chunks(seed: str, frames: int, frame_bytes: int):
    """(length, chunks): deterministic per seed, every frame different and incompressible (a stand-in
    for the worst case; real CT compresses to about half). Never more than one frame (or 1 MiB) in memory."""
    generator = random.Random(hashlib.sha256(seed.encode()).digest())

    def chunks():
        for frame in range(frames):
            left = frame_bytes
            header = struct.pack("<II", frame, frames)[:left]  # the frame number, readable in a hex dump
            yield header
            left -= len(header)
            while left > 0:
                size = min(left, _CHUNK)
                yield generator.randbytes(size)
                left -= size

    return frames * frame_bytes, chunks()


def make_ct(path, patient_id, patient_name, study_uid, series_uid, sop_uid, frames, rows=512, cols=512,
            study_date="20261101", issuer=None, enhanced=True, instance_number=1) -> Path:
    """A multi-frame CT instance: Enhanced CT Image Storage (or CT Image Storage with NumberOfFrames when
    enhanced=False), 16-bit pixels, frames * rows * cols * 2 bytes of pixel data written in chunks."""
    sop_class = ENHANCED_CT_IMAGE_STORAGE if enhanced else CT_IMAGE_STORAGE
    elements = _patient_study(patient_id, patient_name, issuer, study_uid, series_uid, sop_class, sop_uid, "CT",
                              study_date, instance_number=instance_number)
    elements += _image(rows, cols, frames)
    elements += [
        (0x00080008, "CS", "ORIGINAL\\PRIMARY\\VOLUME\\NONE" if enhanced else "ORIGINAL\\PRIMARY\\AXIAL"),
        (0x00200052, "UI", "2.25.1" + str(int(hashlib.sha256(study_uid.encode()).hexdigest()[:24], 16))),
        (0x52009229, "SQ", [[  # SharedFunctionalGroupsSequence > PixelMeasuresSequence
            (0x00289110, "SQ", [[(0x00180050, "DS", "1"), (0x00280030, "DS", "0.5\\0.5")]]),
        ]]),
    ]
    return write_part10(path, sop_class, sop_uid, elements, pixel_chunks(sop_uid, frames, rows * cols * 2))


def make_cr(path, patient_id, patient_name, study_uid, series_uid, sop_uid, rows=256, cols=256,
            study_date="20261101", issuer=None, instance_number=1) -> Path:
    """A small single-frame Computed Radiography instance (rows * cols * 2 bytes of pixels)."""
    elements = _patient_study(patient_id, patient_name, issuer, study_uid, series_uid, CR_IMAGE_STORAGE, sop_uid,
                              "CR", study_date, instance_number=instance_number)
    elements += _image(rows, cols)
    elements += [(0x00080008, "CS", "ORIGINAL\\PRIMARY"), (0x00185101, "CS", "PA")]
    return write_part10(path, CR_IMAGE_STORAGE, sop_uid, elements, pixel_chunks(sop_uid, 1, rows * cols * 2))


def _code(value, scheme, meaning) -> list[tuple]:
    return [(0x00080100, "SH", value), (0x00080102, "SH", scheme), (0x00080104, "LO", meaning)]


def make_sr(path, patient_id, patient_name, study_uid, series_uid, sop_uid, study_date="20261101", issuer=None,
            texts=("No acute findings.", "Impression: normal study."), undefined_length=False,
            instance_number=1) -> Path:
    """A Basic Text SR: a CONTAINER root with one TEXT content item per entry of `texts`. With
    undefined_length every sequence and item has undefined length (delimitation items)."""
    elements = _patient_study(patient_id, patient_name, issuer, study_uid, series_uid, BASIC_TEXT_SR_STORAGE,
                              sop_uid, "SR", study_date, instance_number=instance_number)
    content = [[
        (0x0040A010, "CS", "CONTAINS"),
        (0x0040A040, "CS", "TEXT"),
        (0x0040A043, "SQ", [_code("121071", "DCM", "Finding")]),
        (0x0040A160, "UT", text),
    ] for text in texts]
    elements += [
        (0x00080023, "DA", study_date),
        (0x00080033, "TM", "101500"),
        (0x0040A040, "CS", "CONTAINER"),
        (0x0040A043, "SQ", [_code("11528-7", "LN", "Radiology Report")]),
        (0x0040A050, "CS", "SEPARATE"),
        (0x0040A491, "CS", "COMPLETE"),
        (0x0040A493, "CS", "UNVERIFIED"),
    ]
    elements.append((0x0040A730, "SQ", content))
    path = Path(path)
    with open(path, "wb") as out:
        out.write(file_meta(BASIC_TEXT_SR_STORAGE, sop_uid))
        out.write(encode_elements(elements, undefined_length))
    return path


def make_study(directory, patient_id, patient_name, n_instances, kind="cr", study_uid=None, **kwargs):
    """n_instances of one kind ("cr", "ct", "sr") in one study and series, written as
    directory/<kind>-<n>.dcm; returns ([(path, sop_uid)], study_uid). kwargs go to make_<kind>
    (for "ct": frames, rows, cols, ...)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    study_uid = study_uid or new_uid()
    series_uid = new_uid()
    maker = {"cr": make_cr, "ct": make_ct, "sr": make_sr}[kind]
    if kind == "ct":
        kwargs.setdefault("frames", 4)
    made = []
    for number in range(1, n_instances + 1):
        sop_uid = new_uid()
        path = directory / f"{kind}-{number:05d}.dcm"
        maker(path, patient_id, patient_name, study_uid, series_uid, sop_uid, instance_number=number, **kwargs)
        made.append((path, sop_uid))
    return made, study_uid


# --- Reading back ---


def dataset_offset(source) -> int:
    """Offset of the dataset in a Part 10 file (path or bytes): just after the file meta group,
    walked element by element (explicit VR LE, as PS3.10 requires for group 0002)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        head = bytes(source[:65536])
    else:
        with open(source, "rb") as f:
            head = f.read(65536)
    if head[128:132] != b"DICM":
        raise ValueError("not a DICOM Part 10 file (no DICM at 128)")
    offset = 132
    while offset + 8 <= len(head):
        group = struct.unpack_from("<H", head, offset)[0]
        if group != 0x0002:
            return offset
        vr = head[offset + 4:offset + 6].decode("latin-1")
        if vr in _LONG_VRS:
            length = struct.unpack_from("<I", head, offset + 8)[0]
            offset += 12 + length
        else:
            length = struct.unpack_from("<H", head, offset + 6)[0]
            offset += 8 + length
    if offset >= len(head) and len(head) < 65536:
        return len(head)  # meta only
    raise ValueError("file meta group longer than 64 KiB")


def dataset_sha256(source) -> str:
    """SHA-256 (hex) of a Part 10 file's dataset, i.e. the bytes after the meta group (path or bytes)."""
    offset = dataset_offset(source)
    digest = hashlib.sha256()
    if isinstance(source, (bytes, bytearray, memoryview)):
        digest.update(memoryview(source)[offset:])
    else:
        with open(source, "rb") as f:
            f.seek(offset)
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def dcmdump(path, *options) -> str:
    """dcmdump's text of a file; fails if dcmdump exits non-zero or logs a warning or an error
    (a value it had to correct, a length that does not add up)."""
    result = subprocess.run([DCMDUMP, *options, str(path)], capture_output=True, text=True, errors="replace")
    if result.returncode != 0 or re.search(r"^[WEF]: ", result.stdout + result.stderr, re.M):
        raise AssertionError(f"dcmdump {path} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result.stdout


# --- storescu ---


def storescu(port, files, called="MEDGW", calling="PACS01", host="127.0.0.1", extra=(), timeout=3600):
    """Sends `files` in one association with dcmtk's storescu, verbosely; returns the CompletedProcess
    (text). It goes on after a failed C-STORE (--no-halt), and then exits 0 even if stores failed
    (without --no-halt it stops and exits with the status's high byte, 167 for 0xA7xx): read the
    statuses with store_statuses. It exits 1 when it cannot associate. Each
    file's SOP class is proposed with the uncompressed transfer syntaxes, explicit VR little endian
    first, one presentation context per syntax (dcmtk's default); a compressed file's own syntax is
    proposed as well. Socket and DIMSE timeouts are 10 minutes: a receiver that makes 300 MiB durable
    before answering may take a while."""
    args = [STORESCU, "-v", "--no-halt", "--required", "-to", "30", "-ta", "30", "-ts", "600", "-td", "600",
            "-aec", called, "-aet", calling, *extra, host, str(port), *[str(f) for f in files]]
    return subprocess.run(args, capture_output=True, text=True, errors="replace", timeout=timeout,
                          env=dict(os.environ, **DCMTK_ENV))


# The strings of DU_cstoreStatusString (dcmtk 3.6.7, dcmnet/libsrc/diutil.cc) storescu prints as
# "I: Received Store Response (<string>)"; a string stands for a class of codes, not one code.
STORE_STATUS_NAMES = {
    "Success": 0x0000,
    "Refused: SOPClassNotSupported": 0x0122,
    "Warning: CoercionOfDataElements": 0xB000,
    "Warning: DataSetDoesNotMatchSOPClass": 0xB007,
    "Warning: ElementsDiscarded": 0xB006,
    "Refused: OutOfResources": 0xA700,  # any 0xA7xx
    "Error: DataSetDoesNotMatchSOPClass": 0xA900,  # any 0xA9xx
    "Error: CannotUnderstand": 0xC000,  # any 0xCxxx
}

_RESPONSE = re.compile(r"^I: Received Store Response(?: \((.*)\))?\s*$")
_DEBUG_STATUS = re.compile(r"^[ID]: DIMSE Status\s*:\s*0x([0-9a-fA-F]{4})")


def store_statuses(completed) -> list[int]:
    """The status of each C-STORE response storescu received, in order, as ints. From `-v` output a
    name maps to the first code of its class (0xA700 for any "Refused: OutOfResources" 0xA7xx);
    "Unknown Status: 0x..." keeps its code. With `-d` the exact codes of the DIMSE dumps are used.
    A file storescu did not send (no presentation context, unreadable) has no entry."""
    text = (completed.stdout or "") + (completed.stderr or "")
    lines = text.splitlines()
    statuses = []
    exact = [int(m.group(1), 16) for line in lines if (m := _DEBUG_STATUS.match(line))]
    names = []
    for line in lines:
        match = _RESPONSE.match(line)
        if match:
            names.append(match.group(1))
    if names and all(n is None for n in names):  # -d: "Received Store Response" then the dump
        return exact
    for name in names:
        if name is None:
            raise AssertionError("mixed -v and -d storescu output")
        unknown = re.fullmatch(r"Unknown Status: 0x([0-9a-fA-F]+)", name)
        if unknown:
            statuses.append(int(unknown.group(1), 16))
        elif name in STORE_STATUS_NAMES:
            statuses.append(STORE_STATUS_NAMES[name])
        else:
            raise AssertionError(f"storescu printed an unknown store status name: {name!r}")
    return statuses


# --- storescp (the reference receiver) ---


class StoreScp:
    """dcmtk's storescp on a free loopback port, writing what it receives bit-preserving (+B) into
    `directory`. Files are named <modality>.<SOP instance UID> (e.g. CT.2.25.123)."""

    def __init__(self, directory, aet="STORESCP", extra=()):
        self.directory = Path(directory)
        self.aet = aet
        self.extra = tuple(extra)
        self.port = None
        self.process = None

    def __enter__(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = open(self.directory.parent / f"storescp-{self.port}.log", "wb")
        self.process = subprocess.Popen([STORESCP, "-v", "+B", "-aet", self.aet, "-od", str(self.directory),
                                         "-ts", "600", *self.extra, str(self.port)],
                                        stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ, **DCMTK_ENV))
        wait_port(self.port, self.process, "storescp")
        return self

    def file(self, sop_uid: str) -> Path:
        matches = list(self.directory.glob(f"*.{sop_uid}"))
        if len(matches) != 1:
            raise AssertionError(f"storescp holds {len(matches)} files for {sop_uid}")
        return matches[0]

    def __exit__(self, *exc):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.log.close()


def wait_port(port: int, process=None, what="server", timeout: float = 30, host="127.0.0.1"):
    """Until a TCP connect to host:port succeeds; fails early if `process` exits."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what} exited ({process.returncode}) before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{what} does not listen on {host}:{port} after {timeout} s")


# --- Orthanc ---


def _dicomweb_plugin() -> Path | None:
    for candidate in (Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so"),
                      *sorted(Path("/usr/lib/orthanc").glob("libOrthancDicomWeb.so*"))):
        if candidate.exists():
            return candidate
    return None


class Orthanc:
    """A throwaway Orthanc: loopback use only (RemoteAccessAllowed false refuses non-local HTTP
    clients, so no authentication), DICOM AE ORTHANC accepting any calling AE, storage and index in a
    temporary folder, DICOMweb at /dicom-web/ when the plugin is installed. The folder (with
    orthanc.log) is kept when the `with` block fails."""

    def __init__(self, aet="ORTHANC", directory=None):
        self.aet = aet
        self._own_directory = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="medgw-orthanc-"))
        self.http_port = None
        self.dicom_port = None
        self.process = None
        self.dicomweb = _dicomweb_plugin() is not None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> "Orthanc":
        self.http_port = free_port()
        self.dicom_port = free_port()
        while self.dicom_port == self.http_port:
            self.dicom_port = free_port()
        storage = self.directory / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        config = {
            "Name": "medgw-tests",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "StorageCompression": False,
            "HttpServerEnabled": True,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomServerEnabled": True,
            "DicomAet": self.aet,
            "DicomPort": self.dicom_port,
            "DicomCheckCalledAet": False,
            "DicomAlwaysAllowStore": True,
            "DicomScpTimeout": 600,
            "UnknownSopClassAccepted": False,
            "OverwriteInstances": False,
            "SaveJobs": False,
            "LuaScripts": [],
            "Plugins": [],
        }
        plugin = _dicomweb_plugin()
        if plugin:
            config["Plugins"] = [str(plugin)]
            config["DicomWeb"] = {"Enable": True, "Root": "/dicom-web/", "EnableWado": True, "WadoRoot": "/wado",
                                  "Host": "127.0.0.1", "Ssl": False}
        self.config = self.directory / "orthanc.json"
        self.config.write_text(json.dumps(config, indent=2))
        self.log = self.directory / "orthanc.log"
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([ORTHANC, "--no-jobs", str(self.config)], stdout=log, stderr=log,
                                            cwd=self.directory, env=dict(os.environ, **DCMTK_ENV))
        deadline = time.time() + 60
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"Orthanc exited ({self.process.returncode}):\n{self.log_text()[-3000:]}")
            try:
                self.get_json("/system")
                break
            except (OSError, urllib.error.URLError):
                if time.time() > deadline:
                    self.stop(signal.SIGKILL)
                    raise AssertionError(f"Orthanc does not answer /system:\n{self.log_text()[-3000:]}")
                time.sleep(0.1)
        wait_port(self.dicom_port, self.process, "Orthanc")
        return self

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def request(self, path: str, method="GET", data: bytes | None = None, headers=None) -> bytes:
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.read()

    def get_json(self, path: str):
        return json.loads(self.request(path))

    def store(self, files, calling="PACS01", extra=()):
        """Sends the files to Orthanc's DICOM port (called AE = its AET); returns storescu's CompletedProcess."""
        return storescu(self.dicom_port, files, called=self.aet, calling=calling, extra=extra)

    def instances(self) -> list[str]:
        return self.get_json("/instances")

    def instance_file(self, instance_id: str) -> bytes:
        return self.request(f"/instances/{instance_id}/file")

    def tags(self, instance_id: str) -> dict:
        """Orthanc's /instances/{id}/simplified-tags: {"PatientID": ..., "SOPInstanceUID": ...}."""
        return self.get_json(f"/instances/{instance_id}/simplified-tags")

    def find_instance(self, sop_uid: str) -> str:
        """The Orthanc id of the instance with this SOPInstanceUID."""
        found = json.loads(self.request("/tools/lookup", method="POST", data=sop_uid.encode()))
        ids = [f["ID"] for f in found if f["Type"] == "Instance"]
        if len(ids) != 1:
            raise AssertionError(f"Orthanc holds {len(ids)} instances with SOPInstanceUID {sop_uid}")
        return ids[0]

    def stop(self, sig=signal.SIGTERM, timeout: float = 60):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> "Orthanc":
        try:
            return self.start()
        except BaseException:
            self.stop(signal.SIGKILL)
            raise

    def __exit__(self, exc_type, *exc):
        self.stop()
        if exc_type is None and self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)
        elif exc_type is not None:
            print(f"Orthanc's folder and log kept: {self.directory}")
