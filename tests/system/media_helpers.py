"""Shared by test_media and test_media_viewer: a hospital with the public NHO
sample and a generated storage (standardized + extended), its medgw config,
and the stock tools that read media back (xorriso, age, tar)."""
import os
import pty
import shutil
import subprocess
from pathlib import Path

from helpers import MEDGW, SAMPLE, new_identity, run, testdata_dir

PASSPHRASE = "correct horse battery staple"


def make_hospital(directory: Path, patients: int = 40, seed: int = 7) -> dict:
    """Writes a generated storage and a config reading it and the NHO sample."""
    run(SAMPLE, "--out", directory / "hospital", "--patients", patients, "--seed", seed, "--only", "ssmix2",
        check=True)
    _, recipient = new_identity(directory)
    nho = testdata_dir() / "ssmix2-nho" / "sampleData"
    gen = directory / "hospital" / "ssmix2"
    config = directory / "medgw.yaml"
    config.write_text(
        'facility: {code: "131234567", name: "テスト病院"}\n'
        f"state_dir: {directory / 'state'}\n"
        "sources:\n"
        f"  - {{name: nho, type: ssmix2, path: {nho}}}\n"
        f"  - {{name: gen, type: ssmix2, path: {gen / 'std'}, extended_path: {gen / 'ext'}}}\n"
        "central:\n  url: https://c.example.jp/files/\n  ca: /a\n  cert: /b\n  key: /c\n"
        f"  recipients: [{recipient}]\n")
    passphrase = directory / "passphrase.txt"
    passphrase.write_text(PASSPHRASE + "\n")
    passphrase.chmod(0o600)
    rows = [line.rstrip("\n").split("\t") for line in (directory / "hospital" / "patients.tsv").open(encoding="utf-8")]
    return {"config": config, "passphrase": passphrase, "nho": nho, "gen_std": gen / "std", "gen_ext": gen / "ext",
            "patients": rows[1:]}


def back_up_and_lose_the_sources(directory: Path, hospital: dict) -> Path:
    """Backs the hospital up (the NHO sample through a copy of it), deletes
    the storage, and returns the recovery identity."""
    nho_copy = directory / "nho-copy"
    shutil.copytree(hospital["nho"], nho_copy)
    key = directory / "recovery.key"
    run("age-keygen", "-o", key, check=True)
    recipient = run("age-keygen", "-y", key, check=True).stdout.strip()
    (directory / "repository").mkdir()
    config = hospital["config"]
    config.write_text(config.read_text().replace(str(hospital["nho"]), str(nho_copy)) +
                      f"backup: {{repository: {directory / 'repository'}, recipients: [{recipient}]}}\n")
    run(MEDGW, "backup", "run", "-c", config, check=True)
    shutil.rmtree(nho_copy)
    shutil.rmtree(directory / "hospital" / "ssmix2")
    return key


def export(hospital: dict, out: Path, *extra) -> subprocess.CompletedProcess:
    args = [MEDGW, "export-media", "-c", hospital["config"], "--out", out, *extra]
    if "--no-encrypt" not in extra:
        args += ["--passphrase-file", hospital["passphrase"]]
    return run(*args)


def tree(root: Path) -> dict[bytes, bytes]:
    """Every file under root: relative path bytes -> content."""
    out = {}
    for folder, _, files in os.walk(os.fsencode(root)):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, os.fsencode(root))] = f.read()
    return out


def iso_files(iso: Path, mode: str) -> list[str]:
    """The files of an ISO image as xorriso reads them: mode "nojoliet" reads
    the Rock Ridge tree, "norock" the Joliet tree, "ecma119" the plain one."""
    result = run("xorriso", "-read_fs", mode, "-indev", iso, "-find", "/", "-type", "f", check=True)
    return [line.strip().strip("'") for line in result.stdout.splitlines() if line.startswith("'")]


def age_decrypt(file: Path, out: Path, passphrase: str = PASSPHRASE) -> int:
    """Runs the stock `age -d` under a pseudo-terminal (age reads a passphrase
    only from a terminal) and types the passphrase; returns its exit status."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("age", ["age", "-d", "-o", str(out), str(file)])
    seen = b""
    typed = False
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if not typed and b"passphrase" in seen.lower():
            os.write(fd, passphrase.encode() + b"\n")
            typed = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status)
