"""Workers compute what an image's hash-only framing hypotheses need (its luminance grid,
PDQ samples, and luma when it looks PDQ-unstable) for every trusted image: the scan searches it
when the case has hash-only PDQs and keeps it either way (`haven.store.hypotheses`), for lists
imported later; without it everything else an analysis finds is the same."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from typer.testing import CliRunner

from haven.cli import app
from haven.demo import jpeg_bytes, make_image
from haven.scan.analyse import analyse
from haven.scan.pipeline import ScanOptions, scan
from haven.signals import pdq
from haven.match.framing import Item
from haven.store.case import CaseStore
from haven.store.hypotheses import HypothesisStore


def test_without_the_grid_an_analysis_is_otherwise_the_same(tmp_path: Path):
    photo = tmp_path / "a.jpg"
    photo.write_bytes(jpeg_bytes(make_image(3, (1600, 1200))))
    with_grid = analyse("a.jpg", fs_path=str(photo))
    without = analyse("a.jpg", fs_path=str(photo), framing=False)
    assert with_grid.framing and without.framing is None
    a, b = asdict(with_grid), asdict(without)
    for d in (a, b):
        d.pop("framing"), d.pop("elapsed")
    assert a == b and a["pdq"] and len(a["query_hexes"]) == 32


def _seizure(root: Path) -> Path:
    root.mkdir()
    w, h = 800, 600
    original = make_image(700, (w, h))
    cropped = original.crop((int(0.06 * w), int(0.04 * h), int(0.95 * w), int(0.93 * h)))
    (root / "cropped.jpg").write_bytes(jpeg_bytes(cropped, 85))
    (root / "other.jpg").write_bytes(jpeg_bytes(make_image(990, (w, h)), 85))
    return root


def test_the_grid_is_computed_and_kept_with_or_without_hash_only_pdqs(tmp_path: Path):
    ev = _seizure(tmp_path / "seizure")
    plain = ScanOptions(workers=2)
    progress = scan([str(ev)], CaseStore(tmp_path / "plain", create=True), plain)
    assert progress.framing is True  # no hash sets yet: kept for lists imported later
    assert plain == ScanOptions(workers=2)  # the caller's options are left as they were
    with HypothesisStore(tmp_path / "plain", create=False) as kept:
        records = [r for rows in kept.scan() for r in rows]
    assert len(records) == 2
    assert all(Item.unpack(data).grid.shape == (128, 128) for _id, data in records)

    listing = tmp_path / "pdq.csv"
    listing.write_text("pdq;category\n"
                       f"{pdq.pdq_from_bytes(jpeg_bytes(make_image(700, (800, 600)), 92)).hex};1\n")
    case = tmp_path / "case"
    done = CliRunner().invoke(app, ["hashsets", "import", str(listing), "--name", "partner",
                                    "--case", str(case)])
    assert done.exit_code == 0, done.output
    store = CaseStore(case)
    options = ScanOptions(workers=2)
    progress = scan([str(ev)], store, options)
    assert progress.framing is True and options == ScanOptions(workers=2)
    # the cropped copy is found by a framing hypothesis, from the grid the workers sent
    assert progress.counts == {"near-known": 1, "fresh": 1}
