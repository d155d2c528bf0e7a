"""DESIGN.md §2: crypto -> spool -> collectors -> daemon; a lower layer never
includes a higher one, and headers are included by module path."""
import re
import unittest

from helpers import SOURCE_DIR

LAYERS = ["crypto", "spool", "collectors", "daemon"]
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
            "crypto": "",
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


if __name__ == "__main__":
    unittest.main()
