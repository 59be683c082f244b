"""Analyst decisions: only loaded records, listed with id/time/kind, undone by id, honoured."""

from __future__ import annotations

import json

import duckdb
import pytest
import yaml
from typer.testing import CliRunner

from haven.intel.cli import intel_app
from haven.intel.decisions import list_decisions, read_decisions
from haven.intel.synth import generate, write_list

runner = CliRunner()


def _subjects(op) -> dict[str, str]:
    con = duckdb.connect(str(op / "intel.duckdb"), read_only=True)
    rows = con.sql("SELECT r.file || ':' || r.row, s.subject_id FROM subject_records s "
                   "JOIN records r USING (record_id)").fetchall()
    con.close()
    return dict(rows)


def _run(*args):
    return runner.invoke(intel_app, [str(a) for a in args])


@pytest.fixture()
def op(tmp_path):
    write_list(generate(150, seed=5), tmp_path / "list.csv", tmp_path / "truth.csv")
    op = tmp_path / "op"
    assert _run("load", tmp_path / "list.csv", "--op", op).exit_code == 0
    res = _run("resolve", "--op", op)
    assert res.exit_code == 0, res.output
    return op


def _two_singles_and_a_pair(op):
    groups: dict[str, list[str]] = {}
    for ref, s in _subjects(op).items():
        groups.setdefault(s, []).append(ref)
    singles = sorted(g[0] for g in groups.values() if len(g) == 1)[:2]
    pair = sorted(sorted(g) for g in groups.values() if len(g) >= 2)[0]
    return singles, pair


def test_merge_and_split_refuse_records_that_were_never_loaded(op):
    for kind, refs in (("merge", ["list.csv:1", "list.csv:999", "other.csv:3"]),
                       ("split", ["list.csv:999"])):
        res = _run(kind, *refs, "--op", op)
        assert res.exit_code != 0
        text = " ".join(res.output.split())
        assert "never loaded" in text and "list.csv:999" in text
        assert "list.csv:1," not in text  # the loaded one is not blamed
        assert "Traceback" not in res.output
    assert "other.csv:3" in " ".join(_run("merge", "list.csv:1", "other.csv:3", "--op", op)
                                      .output.split())
    assert not (op / "decisions.yaml").exists()  # nothing recorded


def test_merge_before_any_load_says_to_load_first(tmp_path):
    res = _run("merge", "a.csv:1", "a.csv:2", "--op", tmp_path / "empty-op")
    assert res.exit_code != 0
    assert "haven intel load" in " ".join(res.output.split())


def test_a_merge_needs_two_records(op):
    res = _run("merge", "list.csv:1", "--op", op)
    assert res.exit_code != 0 and "at least two" in res.output


def test_decisions_list_shows_id_time_kind_records_and_note(op):
    (singles, pair) = _two_singles_and_a_pair(op)
    assert _run("merge", *singles, "--op", op, "--note", "same passport").exit_code == 0
    assert _run("split", pair[0], "--op", op).exit_code == 0
    res = _run("decisions", "list", "--op", op, "--json")
    assert res.exit_code == 0, res.output
    listed = json.loads(res.output)["decisions"]
    assert [(d["id"], d["kind"], d["records"]) for d in listed] == [
        ("D1", "merge", singles), ("D2", "split", [pair[0]])]
    assert listed[0]["note"] == "same passport"
    assert all(d["at"].endswith("Z") and d["undone"] is None for d in listed)
    table = _run("decisions", "list", "--op", op)
    assert table.exit_code == 0
    assert "D1" in table.output and "D2" in table.output and "merge" in table.output


def test_undo_takes_a_decision_back_and_resolve_honours_it(op):
    (singles, pair) = _two_singles_and_a_pair(op)
    assert _run("merge", *singles, "--op", op).exit_code == 0
    assert _run("split", pair[0], "--op", op).exit_code == 0
    assert _run("resolve", "--op", op).exit_code == 0
    after = _subjects(op)
    assert after[singles[0]] == after[singles[1]]
    assert after[pair[0]] != after[pair[1]]

    res = _run("decisions", "undo", "D1", "--op", op)
    assert res.exit_code == 0, res.output
    assert _run("resolve", "--op", op).exit_code == 0
    after = _subjects(op)
    assert after[singles[0]] != after[singles[1]]  # the merge is gone
    assert after[pair[0]] != after[pair[1]]  # the split still holds

    assert _run("decisions", "undo", "d2", "--op", op).exit_code == 0  # ids are case-blind
    assert _run("resolve", "--op", op).exit_code == 0
    after = _subjects(op)
    assert after[pair[0]] == after[pair[1]]

    # Undone decisions stay on record; in force there are none.
    assert read_decisions(op).merge == [] and read_decisions(op).split == []
    listed = json.loads(_run("decisions", "list", "--op", op, "--json").output)["decisions"]
    assert listed == []
    listed = json.loads(_run("decisions", "list", "--op", op, "--all", "--json").output)
    assert [d["id"] for d in listed["decisions"]] == ["D1", "D2"]
    assert all(d["undone"] for d in listed["decisions"])


def test_undo_of_an_unknown_or_undone_decision_is_a_one_line_error(op):
    (singles, _) = _two_singles_and_a_pair(op)
    assert _run("merge", *singles, "--op", op).exit_code == 0
    res = _run("decisions", "undo", "D7", "--op", op)
    assert res.exit_code != 0 and "no decision 'D7'" in res.output and "D1" in res.output
    assert _run("decisions", "undo", "D1", "--op", op).exit_code == 0
    res = _run("decisions", "undo", "D1", "--op", op)
    assert res.exit_code != 0 and "already undone" in res.output
    # A new decision never reuses an undone one's id.
    assert _run("merge", *singles, "--op", op).exit_code == 0
    assert [d.id for d in list_decisions(op)] == ["D1", "D2"]


def test_hand_written_decisions_without_ids_get_ids_and_still_apply(op):
    (singles, pair) = _two_singles_and_a_pair(op)
    (op / "decisions.yaml").write_text(yaml.safe_dump({"merge": [singles], "split": [[pair[0]]]}))
    assert [(d.id, d.kind) for d in list_decisions(op)] == [("D1", "merge"), ("D2", "split")]
    assert _run("resolve", "--op", op).exit_code == 0
    after = _subjects(op)
    assert after[singles[0]] == after[singles[1]] and after[pair[0]] != after[pair[1]]
    assert _run("decisions", "undo", "D1", "--op", op).exit_code == 0
    written = yaml.safe_load((op / "decisions.yaml").read_text())
    assert written["merge"][0]["id"] == "D1" and written["merge"][0]["undone"]
    assert written["split"][0]["id"] == "D2"
