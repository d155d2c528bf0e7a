"""A raw DICOM upper-layer client (PS3.8) for hostile tests of medgw's storage
SCP, stdlib only. Unlike storescu it sends exactly what it is told: a correct
association request and C-STORE/C-ECHO by default, and any bytes at all
through `send_raw`, with every PDU the SCP answers readable through
`read_pdu`.

    with Scu(port) as scu:
        answer = scu.associate([(CR_IMAGE_STORAGE, [EXPLICIT_VR_LITTLE_ENDIAN])])
        assert answer["type"] == "accept" and answer["contexts"][1][0] == 0
        response = scu.c_store(1, CR_IMAGE_STORAGE, sop_uid, dataset_of(path))
        assert response["status"] == 0
        assert scu.release()

Presentation contexts get the ids 1, 3, 5... in the order given. The command
set is implicit VR little endian (PS3.7 6.3.1) whatever the context's
transfer syntax; the data set is sent as given (it must be in the accepted
transfer syntax: `dataset_of` of a dicom_tools file is explicit VR little
endian)."""
import socket
import struct
import time
from pathlib import Path

from dicom_tools import dataset_offset

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
IMPLEMENTATION_CLASS_UID = "2.25.253151434519128405426218014744541322981"  # fixed: this client
IMPLEMENTATION_VERSION = "MEDGW_SCU"
MAX_PDU = 16384  # what this client announces it accepts

# PDU types (PS3.8 9.3.1)
ASSOCIATE_RQ, ASSOCIATE_AC, ASSOCIATE_RJ, P_DATA, RELEASE_RQ, RELEASE_RP, ABORT = 1, 2, 3, 4, 5, 6, 7
PDU_NAMES = {1: "A-ASSOCIATE-RQ", 2: "A-ASSOCIATE-AC", 3: "A-ASSOCIATE-RJ", 4: "P-DATA-TF", 5: "A-RELEASE-RQ",
             6: "A-RELEASE-RP", 7: "A-ABORT"}

C_STORE_RQ, C_STORE_RSP, C_ECHO_RQ, C_ECHO_RSP = 0x0001, 0x8001, 0x0030, 0x8030
DATASET_PRESENT, NO_DATASET = 0x0000, 0x0101

# A PDU body larger than this is not read into memory (read_pdu raises).
READ_LIMIT = 64 << 20


class ScuError(Exception):
    """The SCP answered something a well-behaved exchange does not expect."""


class PeerEnded(ScuError):
    """The SCP aborted (A-ABORT) or closed the connection while an answer was awaited.
    `pdu` is (type, body) of the A-ABORT (or of any other unexpected PDU), None when the
    connection just closed."""

    def __init__(self, message, pdu=None):
        super().__init__(message)
        self.pdu = pdu


# --- Encoding ---


def pdu(pdu_type: int, body: bytes) -> bytes:
    """A whole PDU: type, reserved, 32-bit big endian length, body."""
    return struct.pack(">BBI", pdu_type, 0, len(body)) + body


def item(item_type: int, value: bytes) -> bytes:
    """An item or sub-item of an association PDU: type, reserved, 16-bit length, value."""
    return struct.pack(">BBH", item_type, 0, len(value)) + value


def _uid(text: str) -> bytes:
    return text.encode("ascii")  # items carry UIDs unpadded (PS3.8 9.3.2.2.1)


def _ae(title: str) -> bytes:
    raw = title.encode("ascii")
    if len(raw) > 16:
        raise ValueError(f"AE title {title!r} is longer than 16 characters")
    return raw.ljust(16, b" ")


def associate_rq(called: str, calling: str, contexts, max_pdu: int = MAX_PDU,
                 implementation_class_uid: str = IMPLEMENTATION_CLASS_UID,
                 application_context: str = APPLICATION_CONTEXT) -> bytes:
    """A-ASSOCIATE-RQ PDU. `contexts`: [(abstract syntax, [transfer syntaxes])], ids 1, 3, 5..."""
    body = struct.pack(">HH", 1, 0) + _ae(called) + _ae(calling) + b"\0" * 32
    body += item(0x10, _uid(application_context))
    for index, (abstract, syntaxes) in enumerate(contexts):
        value = struct.pack(">BBBB", 2 * index + 1, 0, 0, 0) + item(0x30, _uid(abstract))
        value += b"".join(item(0x40, _uid(ts)) for ts in syntaxes)
        body += item(0x20, value)
    user = item(0x51, struct.pack(">I", max_pdu)) + item(0x52, _uid(implementation_class_uid))
    user += item(0x55, IMPLEMENTATION_VERSION.encode("ascii"))
    body += item(0x50, user)
    return pdu(ASSOCIATE_RQ, body)


def pdv(context_id: int, data: bytes, command: bool, last: bool) -> bytes:
    """One PDV item: 32-bit length (data + 2), context id, message control header."""
    return struct.pack(">IBB", len(data) + 2, context_id, (1 if command else 0) | (2 if last else 0)) + data


def p_data(context_id: int, data: bytes, command: bool, last: bool) -> bytes:
    """A P-DATA-TF PDU holding one PDV."""
    return pdu(P_DATA, pdv(context_id, data, command, last))


def release_rq() -> bytes:
    return pdu(RELEASE_RQ, b"\0" * 4)


def abort_pdu(source: int = 0, reason: int = 0) -> bytes:
    return pdu(ABORT, struct.pack(">BBBB", 0, 0, source, reason))


def _command_element(element: int, value: bytes) -> bytes:
    return struct.pack("<HHI", 0x0000, element, len(value)) + value


def _us(value: int) -> bytes:
    return struct.pack("<H", value)


def _ui(text: str) -> bytes:
    raw = text.encode("ascii")
    return raw + b"\0" if len(raw) % 2 else raw


def command_set(elements: list[tuple[int, bytes]]) -> bytes:
    """A command set in implicit VR little endian: (element number of group 0000, value bytes)
    in ascending order, preceded by (0000,0000) CommandGroupLength counting the bytes after it."""
    body = b"".join(_command_element(number, value) for number, value in sorted(elements))
    return _command_element(0x0000, struct.pack("<I", len(body))) + body


def c_store_rq(sop_class: str, sop_instance: str, message_id: int = 1, priority: int = 0,
               dataset_type: int = DATASET_PRESENT) -> bytes:
    return command_set([
        (0x0002, _ui(sop_class)),
        (0x0100, _us(C_STORE_RQ)),
        (0x0110, _us(message_id)),
        (0x0700, _us(priority)),
        (0x0800, _us(dataset_type)),
        (0x1000, _ui(sop_instance)),
    ])


def c_echo_rq(message_id: int = 1) -> bytes:
    return command_set([
        (0x0002, _ui(VERIFICATION)),
        (0x0100, _us(C_ECHO_RQ)),
        (0x0110, _us(message_id)),
        (0x0800, _us(NO_DATASET)),
    ])


# --- Decoding ---


def split_items(data: bytes) -> list[tuple[int, bytes]]:
    """The items of an association PDU's variable part; raises ScuError when one runs past the end."""
    items = []
    at = 0
    while at < len(data):
        if len(data) - at < 4:
            raise ScuError("an item header is cut short")
        item_type, _, length = struct.unpack_from(">BBH", data, at)
        if at + 4 + length > len(data):
            raise ScuError("an item runs past its PDU")
        items.append((item_type, data[at + 4:at + 4 + length]))
        at += 4 + length
    return items


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\0 ").decode("ascii", "replace")


def parse_associate_ac(body: bytes) -> dict:
    """{"type": "accept", "contexts": {id: (result, transfer syntax)}, "max_pdu": int (0 = no
    limit / not said), "implementation_class_uid", "implementation_version", "called", "calling",
    "application_context", "protocol_version"}."""
    if len(body) < 68:
        raise ScuError(f"an A-ASSOCIATE-AC of {len(body)} bytes is shorter than its fixed fields")
    answer = {"type": "accept", "protocol_version": struct.unpack_from(">H", body, 0)[0],
              "called": _text(body[4:20]), "calling": _text(body[20:36]), "contexts": {}, "max_pdu": 0,
              "implementation_class_uid": "", "implementation_version": "", "application_context": ""}
    for item_type, value in split_items(body[68:]):
        if item_type == 0x10:
            answer["application_context"] = _text(value)
        elif item_type == 0x21:
            if len(value) < 4:
                raise ScuError("a presentation context item of the A-ASSOCIATE-AC is too short")
            syntax = ""
            for sub_type, sub in split_items(value[4:]):
                if sub_type == 0x40:
                    syntax = _text(sub)
            answer["contexts"][value[0]] = (value[2], syntax)
        elif item_type == 0x50:
            for sub_type, sub in split_items(value):
                if sub_type == 0x51 and len(sub) == 4:
                    answer["max_pdu"] = struct.unpack(">I", sub)[0]
                elif sub_type == 0x52:
                    answer["implementation_class_uid"] = _text(sub)
                elif sub_type == 0x55:
                    answer["implementation_version"] = _text(sub)
    return answer


def parse_pdvs(body: bytes) -> list[tuple[int, bool, bool, bytes]]:
    """The PDVs of a P-DATA-TF body: [(context id, command, last, data)]."""
    pdvs = []
    at = 0
    while at < len(body):
        if len(body) - at < 6:
            raise ScuError("a PDV header is cut short")
        length, context_id, control = struct.unpack_from(">IBB", body, at)
        if length < 2 or at + 4 + length > len(body):
            raise ScuError("a PDV runs past its PDU")
        pdvs.append((context_id, bool(control & 1), bool(control & 2), body[at + 6:at + 4 + length]))
        at += 4 + length
    return pdvs


def parse_command(data: bytes) -> dict:
    """A command set (implicit VR little endian) as {element number: value bytes}."""
    elements = {}
    at = 0
    while at < len(data):
        if len(data) - at < 8:
            raise ScuError("a command element header is cut short")
        group, number, length = struct.unpack_from("<HHI", data, at)
        if group != 0x0000 or at + 8 + length > len(data):
            raise ScuError(f"a malformed command element ({group:04X},{number:04X})")
        elements[number] = data[at + 8:at + 8 + length]
        at += 8 + length
    return elements


def _command_us(elements: dict, number: int) -> int | None:
    value = elements.get(number)
    return struct.unpack("<H", value)[0] if value is not None and len(value) == 2 else None


def dataset_of(path) -> bytes:
    """The bytes of a Part 10 file after its file meta group: what a C-STORE sends."""
    data = Path(path).read_bytes()
    return data[dataset_offset(data):]


# --- The client ---


class Scu:
    """One association's TCP connection to an SCP. Every PDU read waits at most `timeout` seconds
    (read_pdu raises TimeoutError after that): a hang of the SCP fails a test, never blocks it."""

    def __init__(self, port, called="MEDGW", calling="PACS01", host="127.0.0.1", timeout=30):
        self.port = int(port)
        self.called = called
        self.calling = calling
        self.host = host
        self.timeout = timeout
        self.sock = None
        self.peer_max_pdu = 0
        self.contexts = {}  # the accepted ones: id -> transfer syntax
        self.reset = False  # the connection ended with a TCP reset (ECONNRESET) rather than a FIN

    # -- connection --

    def connect(self) -> "Scu":
        """The TCP connection only (nothing is sent)."""
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def __enter__(self) -> "Scu":
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data: bytes):
        """Sends bytes as they are (sendall); BrokenPipeError/ConnectionResetError propagate."""
        if self.sock is None:
            self.connect()
        self.sock.sendall(data)

    def _read_exact(self, count: int, deadline: float) -> bytes | None:
        """`count` bytes, or None when the connection ends first (FIN or reset); TimeoutError
        when they have not all come by `deadline` (time.monotonic())."""
        chunks = []
        left = count
        while left > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{count - left} of {count} bytes came before the timeout")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(min(left, 1 << 20))
            except ConnectionResetError:
                self.reset = True
                return None
            if not chunk:
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def read_pdu(self, timeout=None) -> tuple[int, bytes] | None:
        """The next PDU as (type, body), or None when the connection ends before a whole PDU
        (see `reset`). Raises TimeoutError when the whole PDU has not come within `timeout`
        seconds (default: the Scu's), ScuError for a body over READ_LIMIT."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        header = self._read_exact(6, deadline)
        if header is None:
            return None
        pdu_type, _, length = struct.unpack(">BBI", header)
        if length > READ_LIMIT:
            raise ScuError(f"the SCP sent a {PDU_NAMES.get(pdu_type, pdu_type)} of {length} bytes")
        body = self._read_exact(length, deadline)
        if body is None:
            return None
        return pdu_type, body

    def at_eof(self, timeout=None) -> bool:
        """Whether the SCP closes the connection (FIN or reset) without sending anything more
        within `timeout`; False if it sends a byte, TimeoutError if it stays silent and open."""
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            self.reset = True
            return True

    def sends_nothing_within(self, seconds) -> bool:
        """True when the SCP neither sends a byte nor ends the connection within `seconds` (an
        idle connection it holds); False when it answers (a reject, say) or ends it."""
        self.sock.settimeout(seconds)
        try:
            self.sock.recv(1, socket.MSG_PEEK)
        except TimeoutError:
            return True
        except ConnectionResetError:
            self.reset = True
        return False

    # -- association --

    def associate(self, contexts, max_pdu: int = MAX_PDU) -> dict:
        """Connects if needed, sends an A-ASSOCIATE-RQ proposing `contexts` ([(abstract syntax,
        [transfer syntaxes])], ids 1, 3, 5...) and returns the SCP's answer:
          {"type": "accept", "contexts": {id: (result, ts)}, "max_pdu": ..., ...}
          {"type": "reject", "result": r, "source": s, "reason": n}
          {"type": "abort", "source": s, "reason": n}
          {"type": "closed"} (the connection ended without an answer)
          {"type": "other", "pdu": (type, body)}"""
        if self.sock is None:
            self.connect()
        self.send_raw(associate_rq(self.called, self.calling, contexts, max_pdu))
        return self.read_associate_answer()

    def read_associate_answer(self, timeout=None) -> dict:
        answer = self.read_pdu(timeout)
        if answer is None:
            return {"type": "closed"}
        pdu_type, body = answer
        if pdu_type == ASSOCIATE_AC:
            result = parse_associate_ac(body)
            self.peer_max_pdu = result["max_pdu"]
            self.contexts = {cid: ts for cid, (res, ts) in result["contexts"].items() if res == 0}
            return result
        if pdu_type == ASSOCIATE_RJ and len(body) >= 4:
            return {"type": "reject", "result": body[1], "source": body[2], "reason": body[3]}
        if pdu_type == ABORT and len(body) >= 4:
            return {"type": "abort", "source": body[2], "reason": body[3]}
        return {"type": "other", "pdu": answer}

    def release(self, timeout=None) -> bool:
        """A-RELEASE-RQ; True when the A-RELEASE-RP came (the connection is closed either way)."""
        try:
            self.send_raw(release_rq())
            answer = self.read_pdu(timeout)
        except (BrokenPipeError, ConnectionResetError):
            answer = None
        self.close()
        return answer is not None and answer[0] == RELEASE_RP

    def abort(self, source: int = 0, reason: int = 0):
        """A-ABORT, then closes the connection."""
        try:
            self.send_raw(abort_pdu(source, reason))
        except OSError:
            pass
        self.close()

    # -- DIMSE --

    def send_command(self, context_id: int, command: bytes):
        """A command set in one PDV (flagged command and last)."""
        self.send_raw(p_data(context_id, command, command=True, last=True))

    def send_dataset(self, context_id: int, dataset: bytes, pdv_size: int = 16000):
        """The data set in P-DATA-TF PDUs of one PDV each, at most `pdv_size` data bytes per PDV,
        the last flagged last (a 0-byte data set is one empty PDV flagged last). The size is the
        caller's: this client does not enforce the SCP's announced maximum (hostile tests break it)."""
        if pdv_size < 1:
            raise ValueError("pdv_size must be at least 1")
        view = memoryview(dataset)
        offsets = list(range(0, len(view), pdv_size)) or [0]
        for index, start in enumerate(offsets):
            last = index == len(offsets) - 1
            self.send_raw(p_data(context_id, bytes(view[start:start + pdv_size]), command=False, last=last))

    def read_response(self, timeout=None) -> dict:
        """The next DIMSE response command set (command PDVs up to the one flagged last) as
        {"status", "comment", "sop_instance", "sop_class", "command_field", "responded_to",
        "dataset_type", "context_id", "elements"}. Raises PeerEnded on A-ABORT, another PDU or
        the connection ending; TimeoutError when the SCP stays silent."""
        fragments = []
        while True:
            answer = self.read_pdu(timeout)
            if answer is None:
                raise PeerEnded("the SCP closed the connection instead of answering"
                                + (" (reset)" if self.reset else ""))
            pdu_type, body = answer
            if pdu_type != P_DATA:
                raise PeerEnded(f"the SCP sent {PDU_NAMES.get(pdu_type, pdu_type)} instead of a response", answer)
            for context_id, command, last, data in parse_pdvs(body):
                if not command:
                    raise ScuError("the SCP sent a data set PDV where a response command was expected")
                fragments.append(data)
                if last:
                    elements = parse_command(b"".join(fragments))
                    status = _command_us(elements, 0x0900)
                    if status is None:
                        raise ScuError("the response has no Status (0000,0900)")
                    return {
                        "status": status,
                        "comment": _text(elements.get(0x0902, b"")),
                        "sop_instance": _text(elements.get(0x1000, b"")),
                        "sop_class": _text(elements.get(0x0002, b"")),
                        "command_field": _command_us(elements, 0x0100),
                        "responded_to": _command_us(elements, 0x0120),
                        "dataset_type": _command_us(elements, 0x0800),
                        "context_id": context_id,
                        "elements": elements,
                    }

    def c_store(self, context_id: int, sop_class: str, sop_instance: str, dataset_bytes: bytes,
                message_id: int = 1, pdv_size: int = 16000, timeout=None) -> dict:
        """C-STORE-RQ command (one PDV), the data set (PDVs of at most `pdv_size` bytes), then the
        response: {"status": int, "comment": str ("" when none), "sop_instance": str, ...}
        (see read_response; PeerEnded when the SCP aborts or closes instead)."""
        try:
            self.send_command(context_id, c_store_rq(sop_class, sop_instance, message_id))
            self.send_dataset(context_id, dataset_bytes, pdv_size)
        except (BrokenPipeError, ConnectionResetError) as error:
            raise self._ended_while_sending(error) from error
        return self.read_response(timeout)

    def _ended_while_sending(self, error) -> PeerEnded:
        """The SCP closed (typically after an A-ABORT) while we were still sending: the A-ABORT
        is read if it is still in the socket's buffer (a TCP reset usually discards it)."""
        try:
            answer = self.read_pdu(timeout=1)
        except OSError:
            answer = None
        what = PDU_NAMES.get(answer[0], answer[0]) if answer else "nothing readable"
        return PeerEnded(f"the SCP ended the connection while the C-STORE was sent ({error!r}; {what})", answer)

    def c_echo(self, context_id: int, message_id: int = 1, timeout=None) -> int:
        """C-ECHO-RQ on a context accepted for Verification; returns the response's status."""
        try:
            self.send_command(context_id, c_echo_rq(message_id))
        except (BrokenPipeError, ConnectionResetError) as error:
            raise self._ended_while_sending(error) from error
        return self.read_response(timeout)["status"]
