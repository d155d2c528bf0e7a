"""age v1 interoperability: medgw's encrypt/decrypt against the Debian `age`
CLI, both directions, at chunk-boundary sizes, with 1 and 3 recipients and
with passphrases (age reads those from a terminal: driven through `script`)."""
import os
import subprocess
import time
import unittest
from pathlib import Path

from helpers import MEDGW, TempDir, run

SIZES = [0, 1, 65535, 65536, 65537, 131072, 10 * 1024 * 1024]
PASSPHRASE = "correct horse battery staple"


def keygen(path: Path) -> str:
    run("age-keygen", "-o", path, check=True)
    return run("age-keygen", "-y", path, check=True).stdout.strip()


def age_with_tty(command: str, answers: int) -> subprocess.CompletedProcess:
    """Runs an age command that prompts for a passphrase on its terminal."""
    process = subprocess.Popen(["script", "-qec", command, "/dev/null"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(answers):
        time.sleep(0.5)
        process.stdin.write((PASSPHRASE + "\n").encode())
        process.stdin.flush()
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(command, process.returncode, out, err)


class AgeInterop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = TempDir()
        cls.dir = cls._tmp.__enter__()
        cls.keys = [cls.dir / f"key{i}.txt" for i in range(3)]
        cls.recipients = [keygen(key) for key in cls.keys]
        cls.inputs = {}
        for size in SIZES:
            path = cls.dir / f"plain-{size}"
            path.write_bytes(os.urandom(size))
            cls.inputs[size] = path
        cls.passfile = cls.dir / "passphrase"
        cls.passfile.write_text(PASSPHRASE + "\n")
        cls.passfile.chmod(0o600)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.__exit__(None, None, None)

    def test_medgw_encrypts_age_decrypts(self):
        for count in (1, 3):
            for size, plain in self.inputs.items():
                with self.subTest(size=size, recipients=count):
                    encrypted = self.dir / f"m-{count}-{size}.age"
                    args = [a for r in self.recipients[:count] for a in ("-r", r)]
                    run(MEDGW, "encrypt", *args, "-o", encrypted, plain, check=True)
                    for key in self.keys[:count]:
                        # To stdout: age -o creates its file lazily, never for an empty plaintext.
                        out = subprocess.run(["age", "-d", "-i", str(key), str(encrypted)], capture_output=True, check=True)
                        self.assertEqual(out.stdout, plain.read_bytes())

    def test_age_encrypts_medgw_decrypts(self):
        for count in (1, 3):
            for size, plain in self.inputs.items():
                with self.subTest(size=size, recipients=count):
                    encrypted = self.dir / f"a-{count}-{size}.age"
                    args = [a for r in self.recipients[:count] for a in ("-r", r)]
                    run("age", *args, "-o", encrypted, plain, check=True)
                    for key in self.keys[:count]:
                        out = self.dir / f"a-{count}-{size}.out"
                        run(MEDGW, "decrypt", "-i", key, "-o", out, encrypted, check=True)
                        self.assertEqual(out.read_bytes(), plain.read_bytes())
                        self.assertEqual(out.stat().st_mode & 0o777, 0o600)

    def test_stdin_and_stdout_streaming(self):
        plain = self.inputs[131072]
        with open(plain, "rb") as source:
            encrypted = subprocess.run([str(MEDGW), "encrypt", "-r", self.recipients[0]], stdin=source,
                                       capture_output=True, check=True).stdout
        decrypted = subprocess.run(["age", "-d", "-i", str(self.keys[0])], input=encrypted,
                                   capture_output=True, check=True).stdout
        self.assertEqual(decrypted, plain.read_bytes())
        back = subprocess.run([str(MEDGW), "decrypt", "-i", str(self.keys[0]), "-"], input=encrypted,
                              capture_output=True, check=True).stdout
        self.assertEqual(back, plain.read_bytes())

    def test_passphrase_medgw_to_age(self):
        plain = self.inputs[65537]
        encrypted = self.dir / "m-pass.age"
        run(MEDGW, "encrypt", "--passphrase-file", self.passfile, "-o", encrypted, plain, check=True)
        self.assertIn(b"-> scrypt ", encrypted.read_bytes()[:80])
        out = self.dir / "m-pass.out"
        result = age_with_tty(f"age -d -o {out} {encrypted}", answers=1)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(out.read_bytes(), plain.read_bytes())

    def test_passphrase_age_to_medgw(self):
        plain = self.inputs[65536]
        encrypted = self.dir / "a-pass.age"
        result = age_with_tty(f"age -p -o {encrypted} {plain}", answers=2)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        out = self.dir / "a-pass.out"
        run(MEDGW, "decrypt", "--passphrase-file", self.passfile, "-o", out, encrypted, check=True)
        self.assertEqual(out.read_bytes(), plain.read_bytes())

    def test_refusals(self):
        plain = self.inputs[1]
        encrypted = self.dir / "refuse.age"
        run("age", "-r", self.recipients[0], "-o", encrypted, plain, check=True)
        # A truncated file leaves no output file behind and exits 1.
        cut = self.dir / "cut.age"
        cut.write_bytes(encrypted.read_bytes()[:-5])
        out = self.dir / "never"
        result = run(MEDGW, "decrypt", "-i", self.keys[0], "-o", out, cut)
        self.assertEqual(result.returncode, 1)
        self.assertFalse(out.exists())
        self.assertEqual([p.name for p in self.dir.glob(".never*")], [])
        # The wrong key: "no identity matched".
        result = run(MEDGW, "decrypt", "-i", self.keys[1], "-o", out, encrypted)
        self.assertEqual(result.returncode, 1)
        self.assertIn("no identity matched", result.stderr)
        # A key readable by others is refused.
        exposed = self.dir / "exposed.txt"
        exposed.write_bytes(self.keys[0].read_bytes())
        exposed.chmod(0o644)
        result = run(MEDGW, "decrypt", "-i", exposed, "-o", out, encrypted)
        self.assertEqual(result.returncode, 1)
        self.assertIn("chmod 600", result.stderr)
        # Usage errors exit 2.
        self.assertEqual(run(MEDGW, "encrypt", "-r", "age1nope", plain).returncode, 2)
        self.assertEqual(run(MEDGW, "encrypt", plain).returncode, 2)
        self.assertEqual(run(MEDGW, "encrypt", "-r", self.recipients[0], "--passphrase-file", self.passfile, plain).returncode, 2)


class Keys(unittest.TestCase):
    def test_generate_and_recipient_agree_with_age_keygen(self):
        with TempDir() as tmp:
            key = tmp / "gateway.key"
            result = run(MEDGW, "keys", "generate", "-o", key, check=True)
            self.assertEqual(key.stat().st_mode & 0o777, 0o600)
            recipient = run(MEDGW, "keys", "recipient", key, check=True).stdout.strip()
            self.assertIn(recipient, result.stderr)
            self.assertEqual(recipient, run("age-keygen", "-y", key, check=True).stdout.strip())
            again = run(MEDGW, "keys", "generate", "-o", key)
            self.assertEqual(again.returncode, 1)
            self.assertIn("refusing to overwrite", again.stderr)
            self.assertEqual(run(MEDGW, "keys", "recipient", key, check=True).stdout.strip(), recipient)
            age_key = tmp / "age.key"
            expected = keygen(age_key)
            self.assertEqual(run(MEDGW, "keys", "recipient", age_key, check=True).stdout.strip(), expected)
            self.assertEqual(run(MEDGW, "keys", "generate").returncode, 2)


if __name__ == "__main__":
    unittest.main()
