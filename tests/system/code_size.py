"""Sizes of C++ files and function bodies, for the layering test's limits.
Function bodies are found by brace matching after comments and literals are
blanked: a body is a `{` at namespace or class scope whose head holds a `)`
(lambdas and blocks inside count toward their function)."""
import re
from pathlib import Path

NOT_FUNCTION = re.compile(r"\b(class|struct|namespace|enum|union)\b|=\s*$")


def blank_comments_and_literals(text: str) -> str:
    out = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
        elif text.startswith('R"', i) and re.match(r'R"([^(\s]*)\(', text[i:]):
            delimiter = re.match(r'R"([^(\s]*)\(', text[i:]).group(1)
            end = text.find(")" + delimiter + '"', i)
            j = n if end < 0 else end + len(delimiter) + 2
        elif text[i] == '"' or (text[i] == "'" and not (i > 0 and text[i - 1].isalnum())):
            j = i + 1
            while j < n and text[j] != text[i] and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j += 1
        else:
            out.append(text[i])
            i += 1
            continue
        out.append(re.sub(r"[^\n]", " ", text[i:j]))
        i = j
    return "".join(out)


def function_lengths(path: Path) -> list[tuple[int, int, str]]:
    """(length in lines, first line, head) of each function body."""
    text = blank_comments_and_literals(path.read_text(errors="replace"))
    results, stack = [], []
    head_start, line = 0, 1
    for i, c in enumerate(text):
        if c == "\n":
            line += 1
        elif c == "{":
            head = text[head_start:i]
            if any(kind == "function" for kind, _, _ in stack):
                kind = "block"
            elif ")" in head and not NOT_FUNCTION.search(head):
                kind = "function"
            else:
                kind = "scope"
            stack.append((kind, line, " ".join(head.split())[-70:]))
            head_start = i + 1
        elif c == "}":
            if stack:
                kind, start, head = stack.pop()
                if kind == "function":
                    results.append((line - start + 1, start, head))
            head_start = i + 1
        elif c == ";":
            head_start = i + 1
    return results
