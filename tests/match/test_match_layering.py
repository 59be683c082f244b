"""`haven.match` sits below the stores that use it: it never imports `haven.library`."""

import ast
from pathlib import Path

import haven.match

MATCH = Path(haven.match.__file__).parent


def test_match_never_imports_the_national_library():
    upward = []
    for path in sorted(MATCH.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n == "haven.library" or n.startswith("haven.library.") for n in names):
                upward.append(f"{path.name}:{node.lineno}")
    assert upward == [], f"haven.match imports haven.library at {upward}"
