"""`haven scan` loads only what the scan needs, and its early-started workers analyse alike
whether forked or spawned."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from haven.scan import workers

# Run `haven scan` and write the modules its main process ended with to $MODULES_OUT.
_HOOK = """
import atexit, json, os, sys
atexit.register(lambda: json.dump(sorted(sys.modules), open(os.environ["MODULES_OUT"], "w")))
sys.argv = ["haven", *sys.argv[1:]]
from haven.cli import main
main()
"""

# Never needed by a scan without PDQ hash sets (the service, intel, victim identification,
# the near index and its compiled kernels), nor by a scan of a new case without hash sets
# (SQLAlchemy: that case is written and reported through sqlite3, `haven.store.direct`).
NOT_FOR_A_PLAIN_SCAN = ("fastapi", "uvicorn", "starlette", "splink", "duckdb", "faiss", "numba",
                        "sqlalchemy", "haven.store.models", "haven.match.rematch",
                        # the HEIF decoder: imported at the first HEIF file (haven.signals.pdq)
                        "pillow_heif",
                        "pandas", "pyspark", "haven.service", "haven.intel", "haven.victimid",
                        "haven.refer", "haven.match.near", "haven.match.kernels",
                        # Typer's value conversion through pydantic: not for plain values
                        # (haven.commandline._QuickValues)
                        "pydantic")
# Image decoding is the workers': the main process imports it only to hand it to workers it
# forks (imported once before the fork instead of once in each worker), never otherwise.
DECODERS = ("PIL", "pdqhash")


def _photo(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((320, 240), Image.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _evidence(tmp_path: Path) -> Path:
    ev = tmp_path / "evidence"
    ev.mkdir()
    for i in range(4):
        (ev / f"photo_{i}.jpg").write_bytes(_photo(i))
    (ev / "notes.txt").write_text("benign notes\n")
    return ev


def _scan(tmp_path: Path, *args: str, env: dict | None = None) -> tuple[set[str], dict]:
    """(modules loaded in the main process, findings by path) of one `haven scan`."""
    out = tmp_path / f"modules-{len(list(tmp_path.iterdir()))}.json"
    done = subprocess.run([sys.executable, "-c", _HOOK, "scan", *args],
                          env={**os.environ, **(env or {}), "MODULES_OUT": str(out)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    case = Path(args[args.index("--case") + 1])
    with open(case / "findings.jsonl") as fh:
        findings = {f["path"]: f for f in map(json.loads, fh)}
    return set(json.loads(out.read_text())), findings


def _loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


def test_a_plain_scan_loads_neither_the_service_nor_faiss_numba_or_pil_in_its_main_process(
        tmp_path):
    ev = _evidence(tmp_path)
    modules, findings = _scan(tmp_path, str(ev), "--case", str(tmp_path / "case"),
                              "--workers", "2", env={workers.START_ENV: "spawn"})
    assert {f["finding"] for f in findings.values()} == {"fresh", "other"}
    assert all(f["pdq"] for p, f in findings.items() if p.endswith(".jpg"))
    loaded = [name for name in NOT_FOR_A_PLAIN_SCAN + DECODERS if _loaded(modules, name)]
    assert not loaded, f"a plain scan loaded {loaded}"
    assert "haven.scan.pipeline" in modules and "sqlite3" in modules  # the hook saw the scan


def test_a_scan_ends_with_its_case_database_closed(tmp_path):
    """The command ends without the interpreter's last collections (`end_quickly`): the case
    store is still closed at exit, its write-ahead log checkpointed into case.db."""
    ev = _evidence(tmp_path)
    case = tmp_path / "case"
    _scan(tmp_path, str(ev), "--case", str(case), "--workers", "2")
    assert (case / "case.db").is_file()
    assert not (case / "case.db-wal").exists() and not (case / "case.db-shm").exists()


def test_forking_workers_imports_the_decoders_once_before_the_fork(tmp_path):
    ev = _evidence(tmp_path)
    modules, _findings = _scan(tmp_path, str(ev), "--case", str(tmp_path / "case"),
                               "--workers", "2", env={workers.START_ENV: "fork"})
    loaded = [name for name in NOT_FOR_A_PLAIN_SCAN if _loaded(modules, name)]
    assert not loaded, f"a plain scan loaded {loaded}"
    assert all(_loaded(modules, name) for name in DECODERS)


def test_a_scan_against_pdq_hashes_loads_the_near_index_and_finds_the_near_copy(tmp_path):
    from haven.signals.pdq import pdq_from_bytes

    ev = _evidence(tmp_path)
    known = pdq_from_bytes(_photo(2)).hex
    nearby = f"{int(known[0], 16) ^ 0b0111:x}" + known[1:]  # 3 bits away
    sets = tmp_path / "known.csv"
    sets.write_text(f"pdq,series\n{nearby},SERIES-A\n")
    case = tmp_path / "case"
    done = subprocess.run([sys.executable, "-m", "haven.cli", "hashsets", "import", str(sets),
                           "--name", "known", "--case", str(case)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    modules, findings = _scan(tmp_path, str(ev), "--case", str(case), "--workers", "2")
    assert _loaded(modules, "faiss") and _loaded(modules, "haven.match.near")
    assert findings["evidence/photo_2.jpg"]["finding"] == "near-known"
    assert {f["finding"] for p, f in findings.items() if p != "evidence/photo_2.jpg"} <= {
        "fresh", "other"}


def test_forked_and_spawned_workers_find_the_same(tmp_path):
    ev = _evidence(tmp_path)
    results = []
    for method in ("fork", "spawn"):
        _m, findings = _scan(tmp_path, str(ev), "--case", str(tmp_path / f"case-{method}"),
                             "--workers", "2", env={workers.START_ENV: method})
        results.append({p: (f["finding"], f["sha256"], f["pdq"]) for p, f in findings.items()})
    assert results[0] == results[1] and len(results[0]) == 5


def test_workers_are_forked_only_from_a_process_with_one_thread(monkeypatch):
    monkeypatch.delenv(workers.START_ENV, raising=False)
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert workers.start_method() == "spawn"  # a thread could hold a lock the child needs
    finally:
        release.set()
        other.join()
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        assert workers.start_method() == "fork"


def test_one_worker_means_no_pool():
    assert workers.start_workers(1) is None


def test_analysing_processes_keep_freed_memory_where_glibc_allows():
    glibc = sys.platform.startswith("linux") and (
        os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    pool = workers.start_workers(2)
    try:
        # each worker applies it at its start (`_worker_ready`); there, it takes again
        assert pool.submit(workers.keep_freed_memory).result(timeout=60) is glibc
    finally:
        pool.shutdown()


def test_a_heif_photo_is_decoded_by_forked_workers_that_never_imported_the_heif_decoder(
        tmp_path):
    """pillow-heif loads at the first HEIF file, in the worker that meets it: the photo hashes
    as when pillow-heif was registered up front."""
    pillow_heif = pytest.importorskip("pillow_heif")
    from haven.signals.pdq import pdq_from_bytes

    ev = _evidence(tmp_path)
    buf = io.BytesIO()
    pillow_heif.from_pillow(Image.open(io.BytesIO(_photo(7)))).save(buf, quality=90)
    (ev / "phone.heic").write_bytes(buf.getvalue())
    modules, findings = _scan(tmp_path, str(ev), "--case", str(tmp_path / "case"),
                              "--workers", "2", env={workers.START_ENV: "fork"})
    assert not _loaded(modules, "pillow_heif")
    heic = findings["evidence/phone.heic"]
    assert heic["finding"] == "fresh" and heic["pdq"] == pdq_from_bytes(buf.getvalue()).hex
