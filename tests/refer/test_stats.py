"""`refer stats` figures on the hand-made operation."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from haven.refer.cli import refer_app
from haven.refer.operation import iter_subjects
from haven.refer.stats import operation_stats

runner = CliRunner()


def test_stats_numbers(operation):
    s = operation_stats(iter_subjects(operation), frozenset({"JM"}))
    assert s["totals"] == {"subjects": 7, "records": 9, "attributed": 5, "review": 1,
                           "unattributed": 1, "shared": 1, "with_indicators": 1}
    assert s["packages"]["FR"] == {"subjects": 2, "records": 3, "primary": 1, "shared_in": 1,
                                   "mean_confidence": 0.95}
    assert s["packages"]["ES"]["primary"] == 1 and s["packages"]["ES"]["mean_confidence"] == 0.7
    assert s["packages"]["XX"] == {"subjects": 3, "records": 3}
    assert "JM" not in s["packages"] and s["countries"] == 4
    assert s["no_legislation"] == {"JM": {"subjects": 1, "records": 1}}
    assert s["indicators"] == {"disposable_email": 1}
    assert s["confidence"] == {"0.0–0.2": 0, "0.2–0.4": 0, "0.4–0.6": 0, "0.6–0.8": 2,
                               "0.8–1.0": 3}


def test_stats_cli_reads_the_operations_no_legislation_file(operation):
    (operation / "no_legislation.txt").write_text("# kept aside\nJM\n")
    res = runner.invoke(refer_app, ["stats", "--op", str(operation), "--json"])
    assert res.exit_code == 0, res.output
    figures = json.loads(res.output)
    assert figures["no_legislation"]["JM"]["subjects"] == 1
    res = runner.invoke(refer_app, ["stats", "--op", str(operation)])
    assert res.exit_code == 0 and "JM: 1 subject(s)" in " ".join(res.output.split())


def test_stats_without_attribution_says_what_to_run(tmp_path):
    res = runner.invoke(refer_app, ["stats", "--op", str(tmp_path)])
    assert res.exit_code == 2 and "haven intel attribute" in " ".join(res.output.split())
