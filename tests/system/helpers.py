"""Shared helpers for the system tests: where the built binaries are, and
running them as an operator would (real processes, real exit codes)."""
import os
import subprocess
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
