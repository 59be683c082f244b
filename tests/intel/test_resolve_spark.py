"""The Spark backend of `intel resolve` gives the DuckDB backend's subjects on the same list."""

from __future__ import annotations

import json

import duckdb
import pytest
from typer.testing import CliRunner

from haven.intel.attribute import attribute_operation
from haven.intel.cli import intel_app
from haven.intel.decisions import add_decision
from haven.intel.load import load_files
from haven.intel.resolve import resolve_operation
from haven.intel.synth import generate, write_list
from haven.spark import java_available

pytest.importorskip("pyspark", reason="PySpark is not installed (scripts/spark-deps.sh installs it)")
pytest.importorskip("jellyfish", reason="jellyfish is not installed (scripts/spark-deps.sh installs it)")
pytest.importorskip("pandas", reason="pandas is not installed (scripts/spark-deps.sh installs it)")
if not java_available():
    pytest.skip("no Java runtime for Spark (scripts/spark-deps.sh installs one)",
                allow_module_level=True)

from haven.intel.spark_backend import spark_session  # noqa: E402  (needs pyspark)

# JVM start-up plus two Spark predictions of ~1,000 blocked pairs each.
pytestmark = pytest.mark.timeout(300)
runner = CliRunner()
# Rows: above resolve.MIN_TRAIN, so the model is trained (u sampling, EM) and term-frequency
# adjusted, and the Spark side has to reproduce the TF tables as well.
ROWS = 1200
# Weights are stored rounded to 3 decimals; "why" parts to 2.
WEIGHT_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def spark():
    # Two shuffle partitions: every partition is a task, and the list is tiny.
    session = spark_session("local[2]", {"spark.sql.shuffle.partitions": "2"})
    yield session
    session.stop()


def _snapshot(op):
    con = duckdb.connect(str(op / "intel.duckdb"), read_only=True)
    subjects = con.sql(
        "SELECT s.subject_id, list(r.file || ':' || r.row ORDER BY r.file, r.row) "
        "FROM subject_records s JOIN records r USING (record_id) GROUP BY s.subject_id"
    ).fetchall()
    links = {(a, b): (w, json.loads(why), same) for a, b, w, why, same in con.sql(
        "SELECT record_id_l, record_id_r, match_weight, why, same_subject FROM links").fetchall()}
    con.close()
    return {sid: tuple(refs) for sid, refs in subjects}, links


@pytest.fixture(scope="module")
def both(tmp_path_factory, spark):
    """One list with a manual split and merge, resolved on DuckDB, then on Spark."""
    d = tmp_path_factory.mktemp("resolve-spark")
    write_list(generate(ROWS, seed=7), d / "list.csv", d / "truth.csv")
    op = d / "op"
    load_files([d / "list.csv"], op)
    resolve_operation(op)
    subjects, _ = _snapshot(op)
    multi = sorted(refs for refs in subjects.values() if len(refs) >= 3)[0]
    singles = sorted(refs[0] for refs in subjects.values() if len(refs) == 1)[:2]
    add_decision(op, "split", [multi[0]], "test")
    add_decision(op, "merge", singles, "test")

    resolve_operation(op)
    attribute_operation(op)
    duck = _snapshot(op)
    duck_model = op / "model.json.duckdb"
    duck_model.write_bytes((op / "model.json").read_bytes())
    duck_subjects = (op / "subjects.jsonl").read_text()

    resolve_operation(op, backend="spark", spark=spark)
    attribute_operation(op)
    sp = _snapshot(op)
    return {"op": op, "duckdb": duck, "spark": sp, "split": multi[0], "merge": singles,
            "duckdb_model": duck_model, "duckdb_subjects": duck_subjects,
            "spark_subjects": (op / "subjects.jsonl").read_text()}


def _model(path):
    """(column, level label) → (m, u), and the prior; what a model says about the data."""
    model = json.loads(path.read_text())
    levels = {(c["output_column_name"], lv["label_for_charts"]):
              (lv.get("m_probability"), lv.get("u_probability"))
              for c in model["comparisons"] for lv in c["comparison_levels"]}
    return levels, model["probability_two_random_records_match"]


def test_spark_and_duckdb_give_the_same_subjects(both):
    duck, sp = both["duckdb"][0], both["spark"][0]
    assert sum(len(r) for r in duck.values()) == ROWS
    assert sum(1 for r in duck.values() if len(r) > 1) > 100  # a list with real merging
    assert sorted(sp.values()) == sorted(duck.values())
    assert sp.keys() == duck.keys()  # ids come from the record sets, so they agree too


def test_subjects_jsonl_is_identical_after_attribute(both):
    assert both["spark_subjects"] == both["duckdb_subjects"]


def test_spark_links_carry_the_same_match_weights(both):
    duck, sp = both["duckdb"][1], both["spark"][1]
    assert duck.keys() == sp.keys() and len(duck) > 500
    for pair, (w, why, same) in duck.items():
        w2, why2, same2 = sp[pair]
        assert w2 == pytest.approx(w, abs=WEIGHT_TOLERANCE), pair
        assert why2.keys() == why.keys(), pair
        for field, part in why.items():
            assert why2[field] == pytest.approx(part, abs=0.011), (pair, field)
        assert same2 == same


def test_term_frequency_adjustments_reach_the_spark_weights(both):
    # Exact matches on names are TF-adjusted: the same exact match is worth more on a rare
    # name than on a common one, on Spark as on DuckDB.
    parts = {round(why["last_f"], 2) for _, why, _ in both["spark"][1].values()
             if why.get("last_f", 0) > 5}
    assert len(parts) > 3


def test_spark_backend_keeps_the_trained_model_and_the_manual_decisions(both):
    op = both["op"]
    # The Spark run trained again on DuckDB: the same model, up to the last bits of DuckDB's
    # multi-threaded sums (measured: 0.0022607726056910167 vs 0.002260772605691026).
    (levels, prior), (duck_levels, duck_prior) = _model(op / "model.json"), _model(both["duckdb_model"])
    assert levels.keys() == duck_levels.keys()
    for key, pair in duck_levels.items():  # the null level carries no m/u
        assert [v is None for v in levels[key]] == [v is None for v in pair], key
        for got, want in zip(levels[key], pair):
            assert want is None or got == pytest.approx(want, rel=1e-9), key
    assert prior == pytest.approx(duck_prior, rel=1e-9)
    subjects = set(both["spark"][0].values())
    assert (both["split"],) in subjects
    assert any(set(both["merge"]) <= set(refs) for refs in subjects)


def test_cli_resolve_with_spark_backend_and_reused_model(both, spark):
    op = both["op"]
    res = runner.invoke(intel_app, ["resolve", "--op", str(op), "--backend", "spark",
                                    "--reuse-model"])
    assert res.exit_code == 0, res.output
    assert "backend: spark" in res.output
    assert _snapshot(op)[0] == both["duckdb"][0]
    # The module's session was joined, not stopped by the command.
    assert spark.sparkContext._jsc is not None
