"""DESIGN.md §2: base -> crypto -> spool -> collectors -> daemon; a lower layer never
includes a higher one, and headers are included by module path."""
import re
from pathlib import Path
import unittest

from helpers import SOURCE_DIR

# Each folder with its library, lowest first. A folder may include and link
# only those before it (the daemon's sub-folders are layers of their own).
LAYERS = [
    ("base", "medgw_base"),
    ("crypto", "medgw_crypto"),
    ("backupstore", "medgw_backupstore"),
    ("claims", "medgw_claims"),
    ("spool", "medgw_spool"),
    ("collectors", "medgw_collectors"),
    ("dicom", "medgw_dicom"),
    ("fhir", "medgw_fhir"),
    ("daemon/config", "medgw_config"),
    ("daemon/runtime", "medgw_runtime"),
    ("daemon/delivery", "medgw_delivery"),
    ("daemon/backup", "medgw_backup"),
    ("daemon/media", "medgw_media"),
    ("daemon/support", "medgw_support"),
    ("daemon/service", "medgw_service"),
    ("daemon/cli", "medgw_cli"),
]
# Capabilities beside the chain (a folder of their own between two layers):
# they build on a layer below them, but the layer above need not use them.
# claims (the DPC/UKE record logic) builds on base alone, so that
# medgw-receiver can share it without the gateway's layers.
# backupstore (a backup repository's key-free side) likewise: the central
# keeps facilities' backups and runs their retention with it.
# dicom (the DICOM source: storage SCP, staging, study feed) builds on
# collectors; the runtime registers its source type. fhir likewise.
BESIDE_THE_CHAIN = {"backupstore", "claims", "dicom", "fhir", "daemon/backup", "daemon/media"}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)


def include_layer(include: str) -> str | None:
    """The layer folder an include names ("daemon/service/x.hpp" -> "daemon/service")."""
    for folder, _ in LAYERS:
        if include.startswith(folder + "/"):
            return folder
    return None


class Layering(unittest.TestCase):
    def test_lower_layers_do_not_include_higher_ones(self):
        checked = 0
        for level, (folder, _) in enumerate(LAYERS):
            higher = {f for f, _ in LAYERS[level + 1:]}
            for source in sorted((SOURCE_DIR / folder).rglob("*.[ch]pp")):
                for include in INCLUDE.findall(source.read_text()):
                    where = include_layer(include)
                    self.assertNotIn(where, higher, f"{source.relative_to(SOURCE_DIR)} includes <{include}>")
                    self.assertNotIn(include.split("/")[0], {"tools", "receiver", "tests"},
                                     f"{source.relative_to(SOURCE_DIR)} includes <{include}>")
                    if "/" not in include and include.endswith(".hpp"):
                        self.fail(f"{source.relative_to(SOURCE_DIR)}: include <{include}> by module path")
                checked += 1
        self.assertGreater(checked, 20)

    def test_every_daemon_source_belongs_to_a_layer(self):
        for source in sorted((SOURCE_DIR / "daemon").rglob("*.[ch]pp")):
            self.assertIsNotNone(include_layer(source.relative_to(SOURCE_DIR).as_posix()),
                                 f"{source.relative_to(SOURCE_DIR)} is in no daemon layer")

    def test_cmake_links_follow_the_layers(self):
        for level, (folder, library) in enumerate(LAYERS):
            text = (SOURCE_DIR / folder / "CMakeLists.txt").read_text()
            text = text.replace(f"medgw_add_library({library}", "")
            for _, higher in LAYERS[level + 1:]:
                self.assertNotRegex(text, rf"\b{higher}\b", f"{folder} links {higher}")
            if level > 0 and folder in BESIDE_THE_CHAIN:
                self.assertTrue(any(re.search(rf"\b{lower}\b", text) for _, lower in LAYERS[:level]),
                                f"{folder} should build on a layer below it")
            elif level > 0:
                below = next(f for f, _ in reversed(LAYERS[:level]) if f not in BESIDE_THE_CHAIN)
                self.assertIn(dict(LAYERS)[below], text, f"{folder} should build on {below}")

    def test_base_includes_nothing_of_medgw(self):
        """The ground layer stands alone: only the standard library and the C
        libraries it wraps."""
        medgw_modules = {p.name for p in SOURCE_DIR.iterdir() if p.is_dir() and (p / "CMakeLists.txt").exists()}
        for source in sorted((SOURCE_DIR / "base").rglob("*.[ch]pp")):
            for include in INCLUDE.findall(source.read_text()):
                top = include.split("/")[0]
                if top == "base":
                    continue
                self.assertNotIn(top, medgw_modules, f"{source.relative_to(SOURCE_DIR)} includes <{include}>")

    def test_the_receiver_does_not_link_the_gateway_layers(self):
        text = (SOURCE_DIR / "receiver" / "CMakeLists.txt").read_text()
        for layer in ("spool", "collectors", "daemon"):
            self.assertNotIn(f"medgw_{layer}", text)
        # The DPC/UKE filters it erases with are the gateway's own (claims/), not a copy.
        self.assertIn("medgw_claims", text)


class Sizes(unittest.TestCase):
    """Architecture issue: no file over 600 lines and no function over 120
    lines where the product's logic lives, so a newcomer finds small rooms."""
    FOLDERS = ["daemon", "receiver", "collectors", "claims", "backupstore", "dicom", "fhir"]

    def test_no_file_over_600_lines(self):
        for folder in self.FOLDERS:
            for source in sorted((SOURCE_DIR / folder).rglob("*.[ch]pp")):
                lines = len(source.read_text(errors="replace").splitlines())
                self.assertLessEqual(lines, 600, f"{source.relative_to(SOURCE_DIR)} has {lines} lines; split it by aspect")

    def test_no_function_over_120_lines(self):
        from code_size import function_lengths
        checked = 0
        for folder in self.FOLDERS:
            for source in sorted((SOURCE_DIR / folder).rglob("*.cpp")):
                for length, line, head in function_lengths(source):
                    checked += 1
                    self.assertLessEqual(length, 120, f"{source.relative_to(SOURCE_DIR)}:{line} {head}: {length} lines")
        self.assertGreater(checked, 300)

    def test_the_size_check_finds_a_long_function(self):
        """The checker itself: a body of 130 lines is seen as 130 lines."""
        import tempfile
        from code_size import function_lengths
        with tempfile.NamedTemporaryFile("w", suffix=".cpp", delete=False) as file:
            file.write("namespace x {\nint f(int a) {\n" + "  a += 1;  // }\n" * 128 + "  return a;\n}\n}\n")
        try:
            self.assertEqual(function_lengths(Path(file.name)), [(131, 2, "int f(int a)")])
        finally:
            Path(file.name).unlink()


class TestNames(unittest.TestCase):
    def test_every_system_test_class_is_registered_with_ctest(self):
        """tests/CMakeLists.txt lists the system tests by module or by class;
        a class of a module listed by class, or a module not listed at all,
        would never run in CI."""
        cmake = (SOURCE_DIR / "tests" / "CMakeLists.txt").read_text()
        listed = set(re.search(r"set\(MEDGW_SYSTEM_TESTS(.*?)\)", cmake, re.S).group(1).split())
        for module in sorted((SOURCE_DIR / "tests" / "system").glob("test_*.py")):
            name = module.stem
            if name in listed:
                continue
            classes = re.findall(r"^class (\w+)\((?:unittest\.)?TestCase\)", module.read_text(), re.M)
            self.assertTrue(classes, f"{name} has no test class")
            for cls in classes:
                self.assertIn(f"{name}.{cls}", listed, f"{name}.{cls} is not in MEDGW_SYSTEM_TESTS")
        for entry in listed:
            self.assertTrue((SOURCE_DIR / "tests" / "system" / (entry.split(".")[0] + ".py")).exists(), entry)


    def test_no_catch_test_name_has_a_semicolon(self):
        """catch_discover_tests splits a name at ';' into two ctest tests that
        each match nothing, so the test would never run under ctest."""
        names = re.compile(r'TEST_CASE\("([^"]*)"')
        found = 0
        for source in sorted((SOURCE_DIR / "tests").rglob("*.cpp")):
            for name in names.findall(source.read_text()):
                found += 1
                self.assertNotIn(";", name, f"{source.relative_to(SOURCE_DIR)}: {name}")
        self.assertGreater(found, 100)


if __name__ == "__main__":
    unittest.main()
