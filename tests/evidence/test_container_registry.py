"""The container registry finds every kind by itself, tries them in priority order, and
sniffing loads no decoder library: those load with the first container of their kind."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from haven.evidence.registry import containers, find_container, register

SRC = str(Path(__file__).resolve().parents[2] / "src")
DECODERS = ("py7zr", "pycdlib", "pytsk3", "pyewf", "pyvmdk", "pyvhdi", "pyqcow",
            "zipfile", "tarfile")


def _run(code: str) -> dict:
    """Run `code` in a fresh interpreter (sys.modules untouched by this test session)."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": SRC}).stdout
    return json.loads(out.splitlines()[-1])


def test_every_module_in_the_containers_package_is_found_in_priority_order():
    names = [kind.name for kind in containers()]
    assert names == ["zip", "7z", "tar", "android-backup", "iso", "disk", "e01", "vmdk", "vhd", "qcow", "vdi", "dmg",
                     "unopened"]
    assert [k.priority for k in containers()] == sorted(k.priority for k in containers())


def test_sniffing_imports_no_decoder_and_nothing_outside_the_standard_library():
    found = _run("""
        import json, sys
        before = set(sys.modules)
        from haven.evidence.registry import HEAD_SIZE, containers, find_container
        heads = [b"PK\\x03\\x04" + bytes(60), b"7z\\xbc\\xaf\\x27\\x1c", b"\\x1f\\x8b\\x08",
                 bytes(HEAD_SIZE), b"\\xff\\xd8\\xff\\xe0" + bytes(HEAD_SIZE)]
        kinds = [getattr(find_container(h, 10**6), "name", None) for h in heads]
        new = sorted({m.split(".")[0] for m in set(sys.modules) - before})
        print(json.dumps({"kinds": kinds, "count": len(containers()), "new": new}))
    """)
    assert found["kinds"] == ["zip", "7z", "tar", None, None]
    assert found["count"] >= 11
    outside = [m for m in found["new"] if m != "haven" and m not in sys.stdlib_module_names]
    assert outside == []
    assert [m for m in DECODERS if m in found["new"]] == []


def test_a_decoder_loads_when_its_first_container_is_opened(tmp_path: Path):
    archive = tmp_path / "a.7z"
    py7zr = pytest.importorskip("py7zr")
    with py7zr.SevenZipFile(archive, "w") as z:
        z.writestr(b"benign", "note.txt")
    found = _run(f"""
        import json, sys
        from haven.evidence.walk import walk
        from haven.evidence.base import Item
        before = "py7zr" in sys.modules
        paths = [e.path for e in walk([{str(archive)!r}]) if isinstance(e, Item)]
        print(json.dumps({{"before": before, "after": "py7zr" in sys.modules,
                          "pycdlib": "pycdlib" in sys.modules, "paths": paths}}))
    """)
    assert found == {"before": False, "after": True, "pycdlib": False,
                     "paths": ["a.7z", "a.7z/note.txt"]}


def test_register_refuses_a_kind_without_its_attributes_or_with_a_taken_name():
    with pytest.raises(TypeError, match="priority"):
        @register
        class NoPriority:  # noqa: F841 - the decorator is what is tested
            name = "nopriority"
            expands = False

            @classmethod
            def sniff(cls, head, size):
                return False

            def members(self, item, limits):
                return iter(())

    with pytest.raises(ValueError, match="'zip'"):
        @register
        class AnotherZip:  # noqa: F841
            name, priority, expands = "zip", 5, True

            @classmethod
            def sniff(cls, head, size):
                return False

            def members(self, item, limits):
                return iter(())
    assert find_container(b"PK\x03\x04" + bytes(60), None).__name__ == "Zip"
