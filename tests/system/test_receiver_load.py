"""Issue 14, acceptance 2: 200 gateways (200 facilities, each its own client
certificate and signing key) upload at the same time over real mutual TLS on
loopback while 1,000 idle TCP connections are held open (re-opened as the
receiver closes them). Every upload must complete with a receipt and land;
the receiver must stay under one core on average and its RSS flat.

MEDGW_LOAD_ROUNDS (default 1) repeats the 200 uploads; the figures are
printed (uploads, receiver CPU, RSS start/peak/end, runtime)."""
import os
import re
import socket
import threading
import time
import unittest
import uuid
from concurrent.futures import ThreadPoolExecutor

from helpers import BINARY_DIR, RECEIVER, Receiver, TempDir, new_identity, run
from pki import Pki
from tus_client import Entry, GatewayKey, Tus, build_object, cpu_seconds, rss_bytes, thread_cpu_seconds

GATEWAYS = 200
IDLE = 1000


def facility_code(n: int) -> str:
    return f"13{n:07d}"


class IdleHolder:
    """Holds `count` plain TCP connections that never speak; one the receiver
    closes is opened again after a pause, so about `count` stay open."""

    def __init__(self, port: int, count: int):
        self.port = port
        self.count = count
        self.sockets: list[socket.socket] = []
        self.reopened = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.hold, daemon=True)

    def open_one(self):
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", self.port))
        except OSError:
            s.close()
            return
        s.setblocking(False)
        self.sockets.append(s)

    def start(self):
        for _ in range(self.count):
            self.open_one()
        self.thread.start()
        return self

    def hold(self):
        while not self.stopped.wait(0.5):
            alive = []
            for s in self.sockets:
                try:
                    if s.recv(1) == b"":
                        s.close()
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    s.close()
                    continue
                alive.append(s)
            self.sockets = alive
            for _ in range(self.count - len(alive)):
                self.open_one()
                self.reopened += 1

    def stop(self):
        self.stopped.set()
        self.thread.join()
        for s in self.sockets:
            s.close()


class RssSampler:
    def __init__(self, pid: int):
        self.pid = pid
        self.samples: list[int] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def sample(self):
        while not self.stopped.wait(0.1):
            self.samples.append(rss_bytes(self.pid))

    def start(self):
        self.samples.append(rss_bytes(self.pid))
        self.thread.start()
        return self

    def stop(self):
        self.stopped.set()
        self.thread.join()
        self.samples.append(rss_bytes(self.pid))


class Load(unittest.TestCase):
    def test_200_gateways_while_1000_idle_connections_are_held(self):
        rounds = int(os.environ.get("MEDGW_LOAD_ROUNDS", "1"))
        with TempDir() as tmp:
            pki = Pki(tmp / "pki", facility=facility_code(0))
            identity, recipient = new_identity(tmp)
            gateways = []
            for n in range(GATEWAYS):
                cert = pki.client if n == 0 else pki.ca.issue(f"gw{n}", f"gw-{facility_code(n)}", server=False)
                gateways.append((facility_code(n), cert, GatewayKey.generate()))
            extra = "".join(f'  - {{code: "{code}", clients: [gw-{code}], gateways: [{key.public_text()}]}}\n'
                            for code, _, key in gateways[1:])
            receiver = Receiver(tmp / "central", pki, [gateways[0][2].public_text()], facility=facility_code(0),
                                identity=identity, extra=extra).start()
            try:
                self.run_rounds(receiver, pki, recipient, gateways, rounds)
            finally:
                receiver.kill(15)

    def run_rounds(self, receiver, pki, recipient, gateways, rounds):
        pid = receiver.process.pid

        def make(round_index):
            with ThreadPoolExecutor(8) as pool:
                return list(pool.map(lambda g: build_object(
                    g[2], recipient, round_index + 1,
                    [Entry(f"{g[0][-3:]}/000/{g[0]}{round_index}/20240401/OMG-01/o{uuid.uuid4().hex}".encode(),
                           os.urandom(64 << 10))], facility=g[0]), gateways))

        objects = [make(r) for r in range(rounds)]
        idle = IdleHolder(receiver.port, IDLE).start()
        rss = RssSampler(pid).start()
        cpu_before = cpu_seconds(pid)
        serving_before = thread_cpu_seconds(pid, excluding="medgw-landing")
        started = time.time()
        results = []
        after_round = []  # RSS after each round: flat means no growth from round to round
        try:
            for r in range(rounds):
                def upload(pair):
                    (code, cert, _), obj = pair
                    tus = Tus(receiver.port, pki, cert=cert, timeout=60)
                    try:
                        for _ in range(5):
                            try:
                                answer = tus.upload(obj, chunk=32 << 10)
                                break
                            except OSError:
                                tus.close()
                                time.sleep(0.5)
                        receipt = tus.receipt(obj.object_id)
                        return answer.status, receipt.status
                    finally:
                        tus.close()

                with ThreadPoolExecutor(GATEWAYS) as pool:
                    results += list(pool.map(upload, zip(gateways, objects[r])))
                after_round.append(rss_bytes(pid))
        finally:
            elapsed = time.time() - started
            cpu = cpu_seconds(pid) - cpu_before
            serving = thread_cpu_seconds(pid, excluding="medgw-landing") - serving_before
            held = len(idle.sockets)
            idle.stop()
            rss.stop()
        completed = sum(1 for answer, receipt in results if answer == 204 and receipt == 200)
        # Every object lands too.
        deadline = time.time() + 120
        landed = 0
        while time.time() < deadline:
            text = run(RECEIVER, "status", "-c", receiver.config, check=True).stdout
            landed = sum(1 for h, l in re.findall(r"highest seq (\d+), landed through (\d+)", text) if h == l == str(rounds))
            if landed == GATEWAYS:
                break
            time.sleep(1)
        mib = 1 << 20
        print(f"\nload: {completed}/{GATEWAYS * rounds} uploads completed with receipts in {elapsed:.1f} s "
              f"({rounds} round(s)); {landed}/{GATEWAYS} facilities landed; receiver CPU {cpu:.1f} s = "
              f"{cpu / elapsed:.0%} of one core ({serving / elapsed:.0%} serving, the rest landing); RSS start {rss.samples[0] / mib:.1f} MiB, peak "
              f"{max(rss.samples) / mib:.1f} MiB, end {rss.samples[-1] / mib:.1f} MiB; "
              f"{held} idle connections held at the end, {idle.reopened} re-opened; RSS after each round "
              f"{', '.join(f'{x / mib:.1f}' for x in after_round)} MiB")
        self.assertEqual(completed, GATEWAYS * rounds, results[:10])
        self.assertEqual(landed, GATEWAYS)
        cache = BINARY_DIR / "CMakeCache.txt"
        sanitized = cache.exists() and "MEDGW_SANITIZE:BOOL=ON" in cache.read_text()
        if not sanitized:  # ASan's shadow memory and quarantine make both meaningless
            self.assertLess(serving / elapsed, 1.0)
            self.assertLess(max(rss.samples), 256 * mib)
            self.assertLess(rss.samples[-1] - rss.samples[0], 96 * mib)
            self.assertLess(after_round[-1] - after_round[0], 32 * mib)
        log = receiver.log.read_text()
        self.assertNotIn("event=receiver.landing_quarantined", log)


if __name__ == "__main__":
    unittest.main()
