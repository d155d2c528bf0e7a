"""medgw doctor (issue 18, acceptance 2): each broken condition of this
machine or of the path to the central gives the right FAIL/WARN and the
remedy, with the real binaries: medgw-receiver over mutual TLS with a
throwaway PKI, the real `medgw run` for the service, real files, locks and
filesystems. Conditions a test cannot set on the shared machine are made
real inside namespaces: a tiny tmpfs for "disk nearly full" and a lowered
per-namespace inotify limit (user.max_inotify_watches), so nothing outside
the test changes. The table of conditions, verdicts and remedies observed is
printed at the end."""
import http.server
import json
import os
import shutil
import sqlite3
import ssl
import subprocess
import threading
import time
import unittest
from email.utils import formatdate
from pathlib import Path

from daemon_helpers import Daemon, free_port
from helpers import MEDGW, SAMPLE, Receiver, TempDir, delivery_config, gateway_key, new_identity, run
from pki import Pki, spki_pin

OBSERVED: list[tuple[str, str, str, str]] = []  # condition, check, verdict, remedy


def doctor(config: Path, prefix: list[str] | None = None, timeout: float = 120) -> tuple[int, dict]:
    result = subprocess.run([*(prefix or []), str(MEDGW), "doctor", "--json", "-c", str(config)], capture_output=True,
                            text=True, timeout=timeout)
    try:
        return result.returncode, json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"doctor printed no JSON (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")


def namespaces_usable() -> bool:
    """A user namespace (with its own mount namespace) can be entered here."""
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True).returncode == 0


class ClockOffCentral:
    """A tus-looking HTTPS server at /files/ (the test PKI's server
    certificate, client certificates required) whose Date header is `offset`
    seconds off; other paths answer 404."""

    def __init__(self, pki: Pki, offset: float):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def date_time_string(self, timestamp=None):
                return formatdate(time.time() + outer.offset, usegmt=True)

            def do_OPTIONS(self):
                if not self.path.startswith("/files/"):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(204)
                self.send_header("Tus-Resumable", "1.0.0")
                self.send_header("Tus-Version", "1.0.0")
                self.send_header("Tus-Extension", "creation")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.offset = offset
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(pki.server[0]), str(pki.server[1]))
        context.load_verify_locations(str(pki.ca.pem))
        context.verify_mode = ssl.CERT_REQUIRED
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class ConnectProxy:
    """An HTTP CONNECT proxy on loopback: tunnels to the requested port, or
    answers 403 when `refuse`; remembers the Proxy-Authorization it saw."""

    def __init__(self, refuse: bool = False):
        import socket
        self.refuse = refuse
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.tunnels = 0
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        import socket
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(client, socket), daemon=True).start()

    def serve(self, client, socket):
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = client.recv(4096)
            if not chunk:
                client.close()
                return
            request += chunk
        target = request.split(b" ")[1].decode()
        if self.refuse or not request.startswith(b"CONNECT "):
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            client.close()
            return
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        self.tunnels += 1
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(2)
                except OSError:
                    pass

    def close(self):
        self.listener.close()


class Doctor(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.holder = TempDir()
        cls.tmp = cls.holder.__enter__()
        cls.tmp.chmod(0o755)  # the "service user" of one case must reach its files
        cls.data = cls.tmp / "hospital"
        run(SAMPLE, "--out", cls.data, "--patients", "4", "--seed", "11", check=True)
        cls.pki = Pki(cls.tmp / "pki")
        cls.identity, cls.recipient = new_identity(cls.tmp)
        cls.sources = (f"  - {{name: ssmix2, type: ssmix2, path: {cls.data / 'ssmix2' / 'std'}, settle: 0s}}\n"
                       f"  - {{name: dpc, type: dpc, path: {cls.data / 'dpc'}, settle: 0s}}\n")
        config = delivery_config(cls.tmp, cls.recipient, cls.sources, cls.pki, port=1)
        assert run(MEDGW, "collect", "--once", "-c", config).returncode == 0
        cls.gateway_key = gateway_key(config)
        cls.receiver = Receiver(cls.tmp / "central", cls.pki, [cls.gateway_key], identity=cls.identity).start()

    @classmethod
    def tearDownClass(cls):
        cls.receiver.kill(15)
        width = max(len(row[0]) for row in OBSERVED) if OBSERVED else 10
        print("\ncondition".ljust(width + 1) + " | check | verdict | remedy", flush=True)
        for condition, check, verdict, remedy in OBSERVED:
            print(f"{condition.ljust(width)} | {check} | {verdict} | {remedy}", flush=True)
        cls.holder.__exit__(None, None, None)

    def config(self, name: str, port: int | None = None, extra: str = "", sources: str | None = None, **args) -> Path:
        folder = self.tmp / name
        folder.mkdir(exist_ok=True)
        config = delivery_config(folder, self.recipient, sources or self.sources, self.pki,
                                 self.receiver.port if port is None else port, extra=extra, **args)
        (folder / "state").mkdir(mode=0o700, exist_ok=True)
        return config

    def expect(self, condition: str, report: dict, check_id: str, verdict: str, finding: str = "", remedy: str = ""):
        checks = {check["id"]: check for check in report["checks"]}
        self.assertIn(check_id, checks, json.dumps(report, indent=1))
        check = checks[check_id]
        OBSERVED.append((condition, check_id, check["verdict"], check["remedy"] or check["finding"]))
        self.assertEqual(check["verdict"], verdict, json.dumps(check, ensure_ascii=False))
        self.assertIn(finding, check["finding"])
        self.assertIn(remedy, check["remedy"])
        if verdict == "FAIL":
            self.assertTrue(report["failed"])
        return check

    # --- the path to the central ------------------------------------------------

    def test_everything_right_with_the_service_running(self):
        status_port = free_port()
        config = self.config("good", extra=f"status: {{listen: \"127.0.0.1:{status_port}\"}}\n")
        shutil.copytree(self.tmp / "state", self.tmp / "good" / "state", dirs_exist_ok=True)
        with Daemon(config, self.tmp / "good"):
            code, report = doctor(config)
        for check_id in ("config", "state.db", "key.central.key", "source.ssmix2", "source.dpc", "files", "dns", "tcp",
                         "tls", "client_cert", "tus", "clock", "certificate", "upload_window"):
            self.expect("nothing broken, service running", report, check_id, "OK")
        self.expect("nothing broken, service running", report, "service", "OK", "running and healthy")
        self.assertEqual(code, 0, json.dumps(report, indent=1))

    def test_wrong_ca(self):
        code, report = doctor(self.config("wrong-ca", ca=self.pki.other_ca.pem))
        self.expect("wrong CA (central.ca of another CA)", report, "tls", "FAIL", "not signed by central.ca",
                    "central.ca must be the CA file")
        self.expect("wrong CA (central.ca of another CA)", report, "tus", "SKIP")
        self.assertEqual(code, 1)

    def test_expired_client_certificate(self):
        cert = self.pki.ca.issue("client-expired", self.pki.client_cn, server=False, days_valid=(-30, -1))
        code, report = doctor(self.config("expired-client", cert=cert))
        self.expect("expired client certificate", report, "certificate", "FAIL", "expired", "renew")
        self.expect("expired client certificate", report, "client_cert", "FAIL", "refused this gateway's certificate",
                    "renew or re-enroll")
        self.assertEqual(code, 1)

    def test_hostname_mismatch(self):
        with Receiver(self.tmp / "central-wrong-host", self.pki, [self.gateway_key], landing=False,
                      server=self.pki.server_wrong_host) as receiver:
            code, report = doctor(self.config("wrong-host", port=receiver.port))
        self.expect("hostname mismatch", report, "tls", "FAIL", "does not name localhost",
                    "central.url must use the host name in the central's certificate")
        self.assertEqual(code, 1)

    def test_pin_mismatch(self):
        config = self.config("pin")
        config.write_text(config.read_text().replace(
            "  chunk: 1MiB\n", f"  chunk: 1MiB\n  pin: [\"{spki_pin(self.pki.server_other_ca[0])}\"]\n"))
        code, report = doctor(config)
        self.expect("pin mismatch", report, "tls", "OK")
        self.expect("pin mismatch", report, "pin", "FAIL", "matches none of central.pin", "do not remove the pin")
        self.assertEqual(code, 1)

    def test_central_down(self):
        code, report = doctor(self.config("down", port=free_port()))
        self.expect("central down", report, "dns", "OK")
        self.expect("central down", report, "tcp", "FAIL", "nothing accepts connections", "firewall")
        self.expect("central down", report, "tls", "SKIP")
        self.assertEqual(code, 1)

    def test_proxy_down(self):
        code, report = doctor(self.with_proxy(f"http://user:pw@127.0.0.1:{free_port()}"))
        check = self.expect("proxy down", report, "proxy", "FAIL", "does not answer", "check central.proxy")
        self.assertNotIn("pw", check["finding"])  # the proxy's credentials are never shown
        self.expect("proxy down", report, "tls", "SKIP")
        self.assertEqual(code, 1)

    def test_through_a_working_proxy(self):
        proxy = ConnectProxy()
        try:
            code, report = doctor(self.with_proxy(f"http://gw:Secr3tPw@127.0.0.1:{proxy.port}"))
        finally:
            proxy.close()
        self.expect("through a CONNECT proxy", report, "proxy", "OK", f"127.0.0.1:{proxy.port} accepts")
        self.expect("through a CONNECT proxy", report, "tcp", "OK", "tunnel")
        self.expect("through a CONNECT proxy", report, "tus", "OK")
        self.assertNotIn("Secr3tPw", json.dumps(report))
        self.assertGreater(proxy.tunnels, 0)

    def test_proxy_refuses_the_tunnel(self):
        proxy = ConnectProxy(refuse=True)
        try:
            code, report = doctor(self.with_proxy(f"http://127.0.0.1:{proxy.port}"))
        finally:
            proxy.close()
        self.expect("proxy refuses CONNECT (403)", report, "proxy", "OK")
        self.expect("proxy refuses CONNECT (403)", report, "tcp", "FAIL", "did not open a tunnel", "allow CONNECT")
        self.assertEqual(code, 1)

    def with_proxy(self, proxy: str) -> Path:
        config = self.config("proxy")
        config.write_text(config.read_text().replace("  chunk: 1MiB\n", f"  chunk: 1MiB\n  proxy: \"{proxy}\"\n"))
        return config

    def test_clock_ten_minutes_off(self):
        central = ClockOffCentral(self.pki, offset=-600)
        try:
            code, report = doctor(self.config("clock", port=central.port))
        finally:
            central.close()
        self.expect("clock 10 min off (central's Date)", report, "tus", "OK")
        self.expect("clock 10 min off (central's Date)", report, "clock", "FAIL", "ahead of the central",
                    "timedatectl set-ntp true")
        self.assertEqual(code, 1)

    def test_not_a_tus_endpoint(self):
        central = ClockOffCentral(self.pki, offset=0)
        try:
            config = self.config("not-tus", port=central.port)
            config.write_text(config.read_text().replace("/files/", "/other/"))
            code, report = doctor(config)
        finally:
            central.close()
        self.expect("central.url not a tus endpoint (HTTP 404)", report, "tus", "FAIL", "HTTP 404",
                    "tus 1.0 upload URL")
        self.expect("clock right", report, "clock", "OK")
        self.assertEqual(code, 1)

    # --- this machine -----------------------------------------------------------

    def test_client_key_mode_0644(self):
        cert, key = self.pki.ca.issue("client-open", self.pki.client_cn, server=False)
        key.chmod(0o644)
        code, report = doctor(self.config("open-key", cert=(cert, key)))
        self.expect("client key mode 0644", report, "key.central.key", "FAIL", "readable by group or others",
                    f"chmod 600 {key}")
        self.assertEqual(code, 1)

    def test_state_dir_open_to_others(self):
        config = self.config("open-state")
        (self.tmp / "open-state" / "state").chmod(0o777)
        code, report = doctor(config)
        self.expect("state_dir mode 0777", report, "state_dir", "FAIL", "open to others", "chmod 0750")

    def test_unreadable_source(self):
        if os.geteuid() != 0:
            self.skipTest("checking access as the service user needs root (CI runs as root)")
        # The service user is the owner of state_dir when there is no medgw user: nobody here.
        source = self.tmp / "closed-source"
        shutil.copytree(self.data / "ssmix2" / "std", source, dirs_exist_ok=True)
        source.chmod(0o700)
        sources = (f"  - {{name: ssmix2, type: ssmix2, path: {source}, settle: 0s}}\n"
                   f"  - {{name: dpc, type: dpc, path: {self.data / 'dpc'}, settle: 0s}}\n")
        config = self.config("unreadable", sources=sources)
        os.chown(self.tmp / "unreadable" / "state", 65534, 65534)
        for folder in (self.data, self.data / "dpc"):
            folder.chmod(0o755)
        code, report = doctor(config)
        self.expect("unreadable source (as the service user)", report, "source.ssmix2", "FAIL", "cannot read",
                    "setfacl -R -m u:medgw:rX")
        self.expect("readable source beside it", report, "source.dpc", "OK")
        self.assertEqual(code, 1)

    def test_source_shaped_like_another_type(self):
        sources = f"  - {{name: dpc, type: dpc, path: {self.data / 'ssmix2' / 'std'}, settle: 0s}}\n"
        code, report = doctor(self.config("misshaped", sources=sources))
        self.expect("SS-MIX2 tree configured as DPC", report, "source.dpc", "WARN", "named as dpc files are",
                    "right folder")

    def test_bad_config(self):
        config = self.tmp / "bad.yaml"
        config.write_text("facility: {code: \"99\"}\nsources: []\ncentrl: {}\n")
        code, report = doctor(config)
        self.expect("bad config", report, "config", "FAIL", "error(s)", "medgw check-config")
        self.assertIn("unknown key 'centrl'", report["checks"][0]["finding"])
        self.assertEqual(code, 1)

    def test_locked_state_db(self):
        config = self.config("locked")
        state = self.tmp / "locked" / "state"
        shutil.copytree(self.tmp / "state", state, dirs_exist_ok=True)
        holder = sqlite3.connect(state / "state.db", isolation_level=None)
        try:
            holder.execute("PRAGMA locking_mode=EXCLUSIVE")
            holder.execute("BEGIN EXCLUSIVE")
            holder.execute("UPDATE spool_counters SET value = value")
            started = time.monotonic()
            code, report = doctor(config)
            elapsed = time.monotonic() - started
        finally:
            holder.close()
        self.expect("locked state.db", report, "state.db", "FAIL", "locked by another process", "fuser -v")
        self.assertLess(elapsed, 30)
        self.assertEqual(code, 1)

    def test_receipt_key_missing_while_the_central_signs(self):
        code, report = doctor(self.config("no-receipt-key"))
        self.expect("central.receipt_key unset, central signs receipts", report, "receipt_key", "WARN", "unchecked",
                    "receipt key")

    def test_service_not_running(self):
        code, report = doctor(self.config("stopped", extra=f"status: {{listen: \"127.0.0.1:{free_port()}\"}}\n"))
        self.expect("service not running", report, "service", "WARN", "not running", "systemctl enable --now medgw")

    def test_disk_nearly_full(self):
        config = self.config("full", extra="spool: {min_free: 4MiB, max_bytes: 64MiB}\n")
        state = self.tmp / "full" / "state"
        # An 8 MiB tmpfs over state_dir, filled to 1 MiB free: private to this doctor in a mount
        # namespace, or (root without namespaces) mounted for the test and unmounted after it.
        fill = f"mount -t tmpfs -o size=8m tmpfs {state} && head -c 7340032 /dev/zero > {state}/filler"
        if namespaces_usable():
            result = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                                     f"{fill} && exec {MEDGW} doctor --json -c {config}"],
                                    capture_output=True, text=True, timeout=120)
        elif os.geteuid() == 0:
            subprocess.run(["sh", "-c", fill], check=True)
            try:
                result = subprocess.run([str(MEDGW), "doctor", "--json", "-c", str(config)], capture_output=True,
                                        text=True, timeout=120)
            finally:
                subprocess.run(["umount", str(state)], check=True)
        else:
            self.skipTest("needs root or a user and mount namespace (unshare) for a small tmpfs")
        report = json.loads(result.stdout)
        self.expect("disk nearly full (8 MiB tmpfs, 1 MiB free)", report, "disk", "FAIL", "below spool.min_free",
                    "lower spool.min_free")
        self.assertEqual(result.returncode, 1)
        self.assertFalse((state / "filler").exists(), "the tmpfs leaked out of its namespace")

    def test_inotify_limit_too_low(self):
        if not namespaces_usable():
            self.skipTest("needs a user namespace (unshare) for its own inotify limit")
        config = self.config("inotify")
        script = f"echo 20 > /proc/sys/user/max_inotify_watches && exec {MEDGW} doctor --json -c {config}"
        result = subprocess.run(["unshare", "--user", "--map-root-user", "sh", "-c", script], capture_output=True,
                                text=True, timeout=120)
        report = json.loads(result.stdout)
        self.expect("inotify limit too low (20 in a user namespace)", report, "inotify", "WARN", "limit 20 watches",
                    "fs.inotify.max_user_watches = 524288")
        # Outside the namespace the machine's limit is untouched.
        code, report = doctor(config)
        self.expect("inotify limit of the machine", report, "inotify", "OK")


if __name__ == "__main__":
    unittest.main()
