"""`medgw run` as a real child process, with a NOTIFY_SOCKET the test reads
(as systemd would) and the status server on a free loopback port."""
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from helpers import MEDGW


class Daemon:
    def __init__(self, config: Path, directory: Path, watchdog_usec: int | None = None, env: dict | None = None):
        self.config = config
        self.directory = directory
        self.watchdog_usec = watchdog_usec
        self.extra_env = env or {}
        self.log = directory / "daemon.log"
        self.process = None
        self.port = None
        self.messages: list[str] = []
        self.sock = None

    def start(self, wait_ready: bool = True) -> "Daemon":
        self.sock_path = self.directory / f"notify-{time.monotonic_ns()}.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.sock_path))
        # A fresh list and stop flag per start, handed to the reader: a reader left from the previous
        # start must never append to this start's list.
        self.messages = []
        self.reader_stop = threading.Event()
        # Read as systemd does, all the time: a full socket would block the daemon's loop.
        self.reader = threading.Thread(target=self._read_forever, args=(self.sock, self.messages, self.reader_stop),
                                       daemon=True)
        self.reader.start()
        env = dict(os.environ, NOTIFY_SOCKET=str(self.sock_path), **self.extra_env)
        env.pop("WATCHDOG_USEC", None)
        env.pop("WATCHDOG_PID", None)
        if self.watchdog_usec:
            env["WATCHDOG_USEC"] = str(self.watchdog_usec)
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([str(MEDGW), "run", "-c", str(self.config)], stdout=log, stderr=log,
                                            env=env)
        if wait_ready:
            try:
                self.wait_message(lambda m: "READY=1" in m, timeout=60)
                self.port = self.status_port()
            except BaseException:
                self.stop(signal.SIGKILL)  # never leave a daemon behind
                raise
        return self

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def status_port(self) -> int:
        deadline = time.time() + 30
        while time.time() < deadline:
            text = self.log.read_bytes()[self.log_offset:].decode(errors="replace")
            match = re.search(r"event=service\.ready .*status=http://[^ :]+:(\d+)/status", text)
            if match:
                return int(match.group(1))
            time.sleep(0.05)
        raise AssertionError("no service.ready line:\n" + self.log_text()[-3000:])

    @staticmethod
    def _read_forever(sock, messages, stop):
        # The socket is closed only after this thread has returned (see stop): closing it under a blocked
        # recv() lets the next start's socket reuse the descriptor and this thread steal its messages
        # (READY=1 went missing that way in CI).
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            messages.append(data.decode())

    def read_messages(self, timeout: float):
        time.sleep(timeout)

    def wait_message(self, predicate, timeout: float = 30) -> str:
        """The first message (since start) that matches, waiting for it."""
        seen = 0
        deadline = time.time() + timeout
        while True:
            for message in self.messages[seen:]:
                if predicate(message):
                    return message
            seen = len(self.messages)
            if time.time() >= deadline:
                raise AssertionError(f"no such notify message in {self.messages!r}\n{self.log_text()[-3000:]}")
            if self.process.poll() is not None:
                raise AssertionError(f"medgw run exited ({self.process.returncode}):\n{self.log_text()[-3000:]}")
            self.read_messages(min(0.5, max(0.01, deadline - time.time())))

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def send(self, sig):
        self.process.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout: float = 60) -> int:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=timeout)
        if self.sock:
            self.reader_stop.set()
            self.reader.join()
            self.sock.close()
            self.sock = None
            self.sock_path.unlink(missing_ok=True)
        return self.process.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop(signal.SIGKILL if exc[0] else signal.SIGTERM)


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
