"""DESIGN.md §2: base -> crypto -> spool -> collectors -> daemon; a lower layer never
includes a higher one, and headers are included by module path."""
import re
import unittest

from helpers import SOURCE_DIR

LAYERS = ["base", "crypto", "spool", "collectors", "daemon"]
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)


class Layering(unittest.TestCase):
    def test_lower_layers_do_not_include_higher_ones(self):
        checked = 0
        for level, layer in enumerate(LAYERS):
            forbidden = set(LAYERS[level + 1:]) | {"tools", "receiver", "tests"}
            for source in sorted((SOURCE_DIR / layer).rglob("*.[ch]pp")):
                for include in INCLUDE.findall(source.read_text()):
                    top = include.split("/")[0]
                    self.assertNotIn(top, forbidden, f"{source.relative_to(SOURCE_DIR)} includes <{include}>")
                    if "/" not in include and include.endswith(".hpp"):
                        self.fail(f"{source.relative_to(SOURCE_DIR)}: include <{include}> by module path")
                checked += 1
        self.assertGreater(checked, 20)

    def test_cmake_links_follow_the_layers(self):
        links = {
            "base": "",
            "crypto": "medgw_base",
            "spool": "medgw_crypto",
            "collectors": "medgw_spool",
            "daemon": "medgw_collectors",
        }
        for level, layer in enumerate(LAYERS):
            text = (SOURCE_DIR / layer / "CMakeLists.txt").read_text()
            for higher in LAYERS[level + 1:]:
                self.assertNotIn(f"medgw_{higher}", text.replace(f"medgw_add_library(medgw_{layer}", ""),
                                 f"{layer} links {higher}")
            if links[layer]:
                self.assertIn(links[layer], text)


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


class TestNames(unittest.TestCase):
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
