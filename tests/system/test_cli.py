"""The medgw command line, driven as a hospital's IT team would."""
import json
import os
import re
import unittest

from helpers import BINARY_DIR, MEDGW, SOURCE_DIR, TempDir, run

BENCH_SPOOL = BINARY_DIR / "bench" / "medgw-bench-spool"

LOCATED = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<message>.*)$")


class CheckConfig(unittest.TestCase):
    def test_the_documented_example_is_valid(self):
        result = run(MEDGW, "check-config", "-c", SOURCE_DIR / "packaging" / "medgw.yaml")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("valid; facility 131234567, 3 sources", result.stdout)
        # Missing folders and certificates on this machine are warnings, not errors...
        self.assertTrue(all(": warning: " in line for line in result.stderr.splitlines()), result.stderr)
        # ...unless --strict.
        strict = run(MEDGW, "check-config", "--strict", "-c", SOURCE_DIR / "packaging" / "medgw.yaml")
        self.assertEqual(strict.returncode, 2)

    def test_three_errors_three_located_lines(self):
        with TempDir() as tmp:
            config = tmp / "medgw.yaml"
            config.write_text(
                "facility:\n"
                "  code: \"131234567\"\n"
                "sources:\n"
                "  - name: std\n"
                "    type: ssmix2\n"
                "    path: /srv/ssmix2\n"
                "    settle: 30 seconds\n"
                "central:\n"
                "  ca: /etc/medgw/tls/ca.pem\n"
                "  cert: /etc/medgw/tls/client.pem\n"
                "  key: /etc/medgw/tls/client.key\n"
                "  recipients: [age1gyn7t3scvay5zn6x55lk49h5u4n8hjzq4ya3vdp59kqt36a303wq3qas87]\n"
                "  colour: blue\n")
            result = run(MEDGW, "check-config", "-c", config)
            self.assertEqual(result.returncode, 2)
            located = [LOCATED.match(line) for line in result.stderr.splitlines()]
            located = [m for m in located if m]
            self.assertEqual(len(located), 3, result.stderr)
            self.assertTrue(all(m["file"] == str(config) for m in located))
            self.assertEqual([(m["line"], m["col"]) for m in located], [("7", "13"), ("8", "1"), ("13", "3")])
            self.assertIn("bad duration '30 seconds'", located[0]["message"])
            self.assertIn("missing required key 'central.url'", located[1]["message"])
            self.assertIn("unknown key 'central.colour'", located[2]["message"])
            self.assertIn("3 errors", result.stderr)

    def test_enroll_refuses_a_ticket_of_another_facility(self):
        secret = "q7Vb3xY_kP0-aZ9sT2mN4cR8wE1uL6hJ5gF0dS3aQwE"
        with TempDir() as tmp:
            ticket = tmp / "other.ticket"
            ticket.write_text("# medgw enrollment ticket: facility 139999999\nfacility: 139999999\nticket: %s\n" % secret)
            config = SOURCE_DIR / "packaging" / "medgw.yaml"
            result = run(MEDGW, "enroll", "-c", config, "--ticket-file", ticket)
            self.assertEqual(result.returncode, 1, result.stderr)
            self.assertIn(str(ticket), result.stderr)
            self.assertIn("139999999", result.stderr)
            self.assertIn("131234567", result.stderr)
            self.assertNotIn(secret, result.stderr + result.stdout)
            ticket.write_text("facility: 131234567\nticket %s\n" % secret)
            result = run(MEDGW, "enroll", "-c", config, "--ticket-file", ticket)
            self.assertEqual(result.returncode, 1, result.stderr)
            self.assertIn(str(ticket) + ":2:", result.stderr)
            self.assertNotIn(secret, result.stderr + result.stdout)
            self.assertEqual(run(MEDGW, "enroll", "-c", config).returncode, 2)

    def test_unreadable_config(self):
        with TempDir() as tmp:
            config = tmp / "medgw.yaml"
            config.write_text("facility: {code: '131234567'}\n")
            config.chmod(0)
            result = run(MEDGW, "check-config", "-c", config)
            self.assertEqual(result.returncode, 2)
            # root can read a 0000 file; either way the answer is located.
            self.assertRegex(result.stderr, re.escape(str(config)) + r":\d+:\d+: ")
        result = run(MEDGW, "check-config", "-c", "/nonexistent/medgw.yaml")
        self.assertEqual(result.returncode, 2)
        self.assertIn("/nonexistent/medgw.yaml:1:1: cannot read the config file", result.stderr)

    def test_reference_matches_docs(self):
        result = run(MEDGW, "check-config", "--reference")
        self.assertEqual(result.returncode, 0)
        self.assertEqual(result.stdout, (SOURCE_DIR / "docs" / "config.md").read_text())


class Status(unittest.TestCase):
    def write_config(self, tmp):
        config = tmp / "medgw.yaml"
        config.write_text(
            "facility: {code: \"131234567\", name: \"Demo\"}\n"
            f"state_dir: {tmp / 'state'}\n"
            "sources:\n"
            f"  - {{name: ssmix2, type: ssmix2, path: {tmp / 'ssmix2'}}}\n"
            "central:\n  url: https://c.example.jp/files/\n  ca: /a\n  cert: /b\n  key: /c\n"
            "  recipients: [age1gyn7t3scvay5zn6x55lk49h5u4n8hjzq4ya3vdp59kqt36a303wq3qas87]\n")
        return config

    def test_status_before_any_collection(self):
        with TempDir() as tmp:
            config = self.write_config(tmp)
            text = run(MEDGW, "status", "-c", config)
            self.assertEqual(text.returncode, 0, text.stderr)
            self.assertIn("not initialised yet", text.stdout)
            document = json.loads(run(MEDGW, "status", "--json", "-c", config, check=True).stdout)
            self.assertEqual(document["facility"], "131234567")
            self.assertFalse(document["state"]["ok"])
            self.assertEqual(document["sources"][0]["name"], "ssmix2")

    def test_status_of_a_spool(self):
        with TempDir() as tmp:
            config = self.write_config(tmp)
            source = tmp / "files"
            source.mkdir()
            for i in range(30):
                (source / f"f{i}").write_bytes(os.urandom(1000 + i))
            run(BENCH_SPOOL, source, tmp / "state", "age1gyn7t3scvay5zn6x55lk49h5u4n8hjzq4ya3vdp59kqt36a303wq3qas87", check=True)
            document = json.loads(run(MEDGW, "status", "--json", "-c", config, check=True).stdout)
            self.assertTrue(document["state"]["ok"])
            self.assertEqual(document["state"]["schema"], 8)  # spool 3 + collectors 5
            self.assertEqual(document["spool"]["ready_objects"], 1)
            self.assertEqual(document["spool"]["capacity"], "ok")
            self.assertGreater(document["spool"]["spooled_bytes"], 30000)
            self.assertEqual(document["delivered"]["objects"], 0)
            text = run(MEDGW, "status", "-c", config, check=True).stdout
            self.assertIn("spool:     1 ready", text)
            self.assertIn("capacity:  ok", text)


class CommandLine(unittest.TestCase):
    def test_version_and_help(self):
        version = run(MEDGW, "--version")
        self.assertEqual(version.returncode, 0)
        self.assertRegex(version.stdout, r"^medgw \d+\.\d+\.\d+ \(commit ")
        for args in (["--help"], ["run", "--help"], ["encrypt", "--help"], ["keys", "generate", "--help"]):
            result = run(MEDGW, *args)
            self.assertEqual(result.returncode, 0, args)
            self.assertIn("Usage: medgw", result.stdout)

    def test_exit_codes(self):
        self.assertEqual(run(MEDGW, "no-such-command").returncode, 2)
        self.assertEqual(run(MEDGW, "status", "--bogus").returncode, 2)
        # A usage problem is named, with what to give instead.
        usage = run(MEDGW, "backup", "forget", "--repository", "/nonexistent")
        self.assertEqual(usage.returncode, 2)
        self.assertIn("--keep-daily N", usage.stderr)


if __name__ == "__main__":
    unittest.main()
