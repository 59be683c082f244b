"""The Spark engine (local[2]) gives the same findings as the local scan on the same evidence."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from haven.cli import app
from haven.demo import build_demo, jpeg_bytes, make_image
from haven.report.findings import write_reports
from haven.scan import spark as spark_engine
from haven.scan.pipeline import ScanOptions, scan
from haven.spark import java_available
from haven.store.case import CaseStore

pyspark = pytest.importorskip(
    "pyspark", reason="PySpark is not installed (scripts/spark-deps.sh installs it)"
)
if not java_available():
    pytest.skip("no Java runtime for Spark (scripts/spark-deps.sh installs one)",
                allow_module_level=True)

# Spark's JVM start-up is part of the budget; the whole module runs in ~20 s here.
pytestmark = pytest.mark.timeout(120)

# Members above this go through the staging directory, below it travel as bytes: the demo's
# images are larger, its text files smaller, so both routes are taken.
INLINE_LIMIT = 4096


@pytest.fixture(scope="module")
def sc():
    context = spark_engine.spark_context("local[2]", app_name="haven-test")
    yield context
    context.stop()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def evidence(tmp_path_factory):
    """The demo seizure plus a corrupt zip, and a second seizure that is a zip file itself."""
    root = tmp_path_factory.mktemp("spark-ev")
    paths = build_demo(root / "demo")
    ev = paths["evidence"]
    (ev / "Documents" / "letter.txt").write_text("Dear team, the picnic is on Saturday.\n")
    good = _zip({"a.jpg": jpeg_bytes(make_image(700)), "b.txt": b"hello\n"})
    (ev / "Downloads" / "damaged.zip").write_bytes(good[: len(good) // 2])  # a walker problem
    second = root / "phone-export.zip"
    second.write_bytes(_zip({
        "DCIM/img_1.jpg": jpeg_bytes(make_image(701)),
        "DCIM/img_2.jpg": jpeg_bytes(make_image(702)),
        "DCIM/corrupt.jpg": jpeg_bytes(make_image(703))[:900],
        "notes/todo.txt": b"buy stamps\n",
    }))
    return paths, [str(ev), str(second)]


def _new_case(paths: dict, case: Path) -> CaseStore:
    runner = CliRunner()
    for name, file, extra in paths["hashsets"]:
        r = runner.invoke(app, ["hashsets", "import", str(file), "--name", name, "--case", str(case), *extra])
        assert r.exit_code == 0, r.output
    return CaseStore(case)


def _lines(case: Path) -> list[str]:
    return (case / "findings.jsonl").read_text().splitlines()


def test_spark_findings_equal_local_findings(evidence, sc, tmp_path, monkeypatch):
    paths, sources = evidence
    local_case, spark_case = tmp_path / "local", tmp_path / "spark"

    local = _new_case(paths, local_case)
    scan(sources, local, ScanOptions(workers=1))
    write_reports(local)

    routes = {"bytes": 0, "staged": 0}
    real_read = spark_engine.read_member

    def counting_read(item, staging, inline_limit):
        data, staged, error = real_read(item, staging, inline_limit)
        if error is None:
            routes["staged" if staged else "bytes"] += 1
        return data, staged, error

    monkeypatch.setattr(spark_engine, "read_member", counting_read)
    store = _new_case(paths, spark_case)
    progress = spark_engine.scan_spark(sources, store, ScanOptions(), sc=sc,
                                       inline_limit=INLINE_LIMIT, batch_items=8)
    write_reports(store)

    local_lines, spark_lines = _lines(local_case), _lines(spark_case)
    assert len(spark_lines) == len(local_lines) > 25
    for a, b in zip(local_lines, spark_lines):
        assert a == b
    assert routes["bytes"] > 0 and routes["staged"] > 0, routes
    assert progress.counts.get("known") and progress.counts.get("near-known")
    assert progress.counts.get("error")
    # The staging directory under the case is gone once the scan ends.
    assert not list(spark_case.glob("spark-staging-*"))
    # Findings cover every kind the local scan gives, walker problems included.
    text = "\n".join(spark_lines)
    assert "damaged.zip" in text and "phone-export.zip/DCIM/corrupt.jpg" in text

    # A second Spark run over the same evidence resumes: nothing new, findings unchanged.
    again = spark_engine.scan_spark(sources, store, ScanOptions(), sc=sc)
    assert again.items == 0 and again.skipped == progress.items
    write_reports(store)
    assert _lines(spark_case) == spark_lines
    shutil.rmtree(paths["case"], ignore_errors=True)


def _without_times(lines: list[str]) -> list[dict]:
    import json

    out = []
    for line in lines:
        f = json.loads(line)
        for h in f["history"]:
            h.pop("at"), h["earlier"].pop("analysed_at")
        f["notes"] = [n.split(" (", 1)[1] if n.startswith("content changed") else n
                      for n in f["notes"]]
        out.append(f)
    return out


def test_spark_rescan_supersedes_changed_items_as_the_local_scan_does(sc, tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "a.jpg").write_bytes(jpeg_bytes(make_image(801)))
    (ev / "b.jpg").write_bytes(jpeg_bytes(make_image(802)))
    (ev / "p.zip").write_bytes(_zip({"x.jpg": jpeg_bytes(make_image(803)), "y.txt": b"y\n"}))
    local, spark = CaseStore(tmp_path / "local", create=True), CaseStore(tmp_path / "spark", create=True)
    scan([str(ev)], local, ScanOptions(workers=1))
    spark_engine.scan_spark([str(ev)], spark, ScanOptions(), sc=sc)
    (ev / "a.jpg").write_bytes(jpeg_bytes(make_image(804)))
    (ev / "p.zip").write_bytes(_zip({"x.jpg": jpeg_bytes(make_image(805)), "y.txt": b"y\n"}))
    done_local = scan([str(ev)], local, ScanOptions(workers=1))
    done_spark = spark_engine.scan_spark([str(ev)], spark, ScanOptions(), sc=sc)
    # a.jpg, p.zip, x.jpg changed; y.txt too when the zip's 2-second member time moved on
    assert (done_spark.changed, done_spark.skipped) == (done_local.changed, done_local.skipped)
    assert done_local.changed + done_local.skipped == 5 and done_local.changed in (3, 4)
    write_reports(local)
    write_reports(spark)
    found = _without_times(_lines(tmp_path / "spark"))
    assert found == _without_times(_lines(tmp_path / "local"))
    assert sum(1 for f in found if f["history"]) == 3
