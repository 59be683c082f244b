"""The signal-type registry: every hash haven knows is one registered type, and nothing outside
`haven.signals` spells out a list of hash names."""

import ast
import hashlib
import io
from pathlib import Path

import pytest

from haven import signals
from haven.hashsets.model import HashEntry
from haven.scan.analyse import Analysis
from haven.service.models import LookupEntry
from haven.store.models import HashEntryRow, ItemRow

SRC = Path(__file__).resolve().parents[2] / "src" / "haven"


def test_registry_lists_the_hashes_in_matching_order():
    names = signals.names()
    assert names[:3] == ["md5", "sha1", "sha256"]
    assert {"pdq", "vpdq"} <= set(names)
    assert names.index("sha256") < names.index("pdq") < names.index("vpdq")
    assert signals.near_names() == {"pdq", "vpdq"}
    assert [t.name for t in signals.scanned_digests()] == ["md5", "sha1", "sha256"]
    assert [t.name for t in signals.item_types()] == ["md5", "sha1", "sha256", "pdq"]


def test_lookup_by_name_is_case_insensitive_and_names_the_known_types():
    assert signals.get("SHA256").name == "sha256"
    with pytest.raises(signals.UnknownSignalType, match="known: md5, sha1"):
        signals.get("tmk")


@pytest.mark.parametrize("st", signals.signal_types(), ids=lambda t: t.name)
def test_every_type_validates_its_examples_and_rejects_bad_values(st):
    assert st.examples
    for value in st.examples:
        assert st.validate(value.upper()) == value
        assert st.distance(value, value) == 0
        assert st.matches(value, value)
    assert st.validate("  ") is None and st.validate(None) is None
    with pytest.raises(signals.InvalidSignal, match=f"not {st.hex_length} hex"):
        st.validate(st.examples[0][:-1])
    with pytest.raises(ValueError):  # readers catch ValueError per row
        st.validate("z" * st.hex_length)
    assert st.content and st.content <= {"file", "image", "video"}
    assert st.near == (st.default_threshold > 0)


def test_digest_types_compute_what_hashlib_computes_and_never_match_near():
    data = b"benign test content"
    for st in signals.digest_types():
        assert st.compute(data) == hashlib.new(st.name, data).hexdigest()
        assert st.validate(st.compute(data))
        other = st.compute(b"other")
        assert not st.matches(st.compute(data), other)
        assert st.width * 2 == st.hex_length
    codes = [t.store_code for t in signals.digest_types()]
    assert len(set(codes)) == len(codes)
    # segment files on disk name their kind by these bytes: they never change
    assert {t.name: t.store_code for t in signals.digest_types()
            if t.store_code <= 3} == {"md5": 1, "sha1": 2, "sha256": 3}


def test_pdq_distance_and_threshold():
    pdq = signals.get("pdq")
    a, b = pdq.examples[:2]
    assert pdq.distance(a, b) == 1
    flipped = format(int(a, 16) ^ ((1 << 32) - 1), "064x")
    assert pdq.distance(a, flipped) == 32
    assert pdq.matches(a, format(int(a, 16) ^ ((1 << 31) - 1), "064x"))
    assert not pdq.matches(a, flipped)
    assert pdq.matches(a, flipped, threshold=32)


def test_pdq_compute_of_a_generated_picture_is_a_valid_pdq():
    from PIL import Image

    img = Image.new("RGB", (96, 64))
    img.putdata([((x * 5) % 256, (y * 7) % 256, (x * y) % 256) for y in range(64) for x in range(96)])
    buf = io.BytesIO()
    img.save(buf, "PNG")
    value = signals.get("pdq").compute(buf.getvalue())
    assert signals.get("pdq").validate(value) == value


def test_schema_decisions_are_kept_by_the_models():
    """A type with an entry column has a field/column of its name on every entry model; a
    scanned one-value type on the analysis and the item row."""
    for st in signals.entry_types():
        assert st.name in HashEntry.__dataclass_fields__, st.name
        assert hasattr(HashEntryRow, st.name), st.name
        assert hasattr(LookupEntry, st.name), st.name
    for st in signals.item_types():
        assert st.name in Analysis.__dataclass_fields__, st.name
        assert hasattr(ItemRow, st.name), st.name


def _hash_name_literals(path: Path, hash_names: set[str]) -> list[str]:
    """Tuple/list/set literals holding two or more hash names, as "file:line: literal"."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            continue
        named = [e.value for e in node.elts
                 if isinstance(e, ast.Constant) and isinstance(e.value, str)
                 and e.value.lower() in hash_names]
        if len(named) >= 2 and "noqa: signal-names" not in lines[node.lineno - 1]:
            found.append(f"{path}:{node.lineno}: {ast.unparse(node)[:100]}")
    return found


def test_no_list_of_hash_names_outside_the_signal_registry():
    """Code iterates `haven.signals` instead of naming hashes: a literal tuple, list or set
    of two or more signal-type names anywhere else in haven fails this test (so a new type
    reaches every reader, matcher and report by itself)."""
    hash_names = set(signals.names())
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if (SRC / "signals") in path.parents or "migrations" in path.parts:
            continue
        offenders += _hash_name_literals(path, hash_names)
    assert not offenders, "iterate haven.signals instead of:\n" + "\n".join(offenders)


def test_the_guard_catches_a_literal_and_honours_the_marker(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text('for k in ("md5", "sha256"):\n    pass\nx = ["pdq", "other"]\n'
                     'y = {"SHA1", "vpdq"}  # noqa: signal-names (a file header)\n')
    found = _hash_name_literals(probe, set(signals.names()))
    assert len(found) == 1 and ":1: ('md5', 'sha256')" in found[0]
