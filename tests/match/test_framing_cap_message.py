"""Where the hash-only hypotheses are not searched, the user is told instead of finding fewer
edited copies in silence: above `framing.MAX_ROWS` known PDQ hashes (a scan and a re-match
leave them out), and against national libraries' PDQ hashes."""

from __future__ import annotations

import numpy as np
from PIL import Image
from typer.testing import CliRunner

import haven.match.framing as framing
from haven.cli import app

runner = CliRunner()


def _pdq_list(path, n: int, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    path.write_text("pdq\n" + "".join(f"{int.from_bytes(rng.bytes(32), 'big'):064x}\n"
                                      for _ in range(n)))


def _evidence(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    rng = np.random.default_rng(5)
    img = Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).resize((256, 192))
    img.save(ev / "a.png")
    return ev


def test_a_rematch_and_a_scan_say_when_the_known_pdqs_exceed_the_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(framing, "MAX_ROWS", 3)
    ev, case = _evidence(tmp_path), tmp_path / "case"
    assert runner.invoke(app, ["scan", str(ev), "--case", str(case), "--workers", "1"]).exit_code == 0
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    _pdq_list(small, 3)
    r = runner.invoke(app, ["hashsets", "import", str(small), "--name", "a", "--case", str(case)])
    assert r.exit_code == 0 and "not searched for" not in r.output, r.output
    _pdq_list(big, 4, seed=4)
    r = runner.invoke(app, ["hashsets", "import", str(big), "--name", "b", "--case", str(case)])
    text = " ".join(r.output.split())
    assert r.exit_code == 0, r.output
    assert "Crops, banners and logos were not searched for: the case's hash sets hold 7 known " \
        "PDQ hashes, more than 3" in text
    r = runner.invoke(app, ["scan", str(ev), "--case", str(case), "--workers", "1", "--rehash"])
    assert r.exit_code == 0, r.output
    assert "hold 7 known PDQ hashes, more than 3" in " ".join(r.output.split())



def test_a_scan_with_a_library_says_its_pdqs_get_no_hypotheses(tmp_path):
    ev, case, lib = _evidence(tmp_path), tmp_path / "case", tmp_path / "national"
    listing = tmp_path / "feed.csv"
    _pdq_list(listing, 5)
    assert runner.invoke(app, ["library", "create", str(lib)]).exit_code == 0
    assert runner.invoke(app, ["library", "import", str(lib), str(listing), "--name", "f"]).exit_code == 0
    r = runner.invoke(app, ["scan", str(ev), "--case", str(case), "--workers", "1",
                            "--library", str(lib)])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "The libraries' 5 PDQ hashes were matched as they are" in text
    assert "against a case's own hash sets only" in text
    r = runner.invoke(app, ["scan", str(ev), "--case", str(tmp_path / "plain"), "--workers", "1"])
    assert "PDQ hashes were matched as they are" not in r.output
