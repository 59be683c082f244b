"""A scan against a PDQ-only hash set finds cropped and bannered copies (issue 17)."""

import json

from PIL import ImageDraw
from typer.testing import CliRunner

from haven.cli import app
from haven.demo import jpeg_bytes, make_image
from haven.report.html import how_matched
from haven.signals import pdq


def run(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def test_scan_finds_copies_against_a_hash_only_list(tmp_path):
    originals = {i: make_image(700 + i, (800, 600)) for i in range(3)}
    listing = tmp_path / "pdq.csv"  # what a hash-sharing partner sends: hashes, no images
    listing.write_text("pdq;category\n" + "".join(
        f"{pdq.pdq_from_bytes(jpeg_bytes(img, 92)).hex};1\n" for img in originals.values()))
    case = tmp_path / "case"
    run("hashsets", "import", listing, "--name", "partner", "--case", case)

    ev = tmp_path / "seizure"
    ev.mkdir()
    w, h = 800, 600
    cropped = originals[0].crop((int(0.06 * w), int(0.04 * h), int(0.95 * w), int(0.93 * h)))
    (ev / "cropped.jpg").write_bytes(jpeg_bytes(cropped, 85))
    bannered = originals[1].copy()
    ImageDraw.Draw(bannered).rectangle((0, h - 66, w, h), fill=(240, 240, 240))
    (ev / "bannered.jpg").write_bytes(jpeg_bytes(bannered, 85))
    (ev / "unrelated.jpg").write_bytes(jpeg_bytes(make_image(990, (800, 600)), 85))
    run("scan", ev, "--case", case, "--workers", "1")
    with open(case / "findings.jsonl") as fh:
        f = {json.loads(line)["path"]: json.loads(line) for line in fh}

    [m] = f["seizure/cropped.jpg"]["matches"]
    assert f["seizure/cropped.jpg"]["finding"] == "near-known"
    assert m["matched_signal"].startswith("pdq@frame-")
    assert "cropped" in how_matched(m) and "of 224 bits" in how_matched(m)
    assert f["seizure/bannered.jpg"]["finding"] == "near-known"
    assert f["seizure/unrelated.jpg"]["finding"] == "fresh"


def test_scan_finds_a_bannered_copy_of_a_pdq_unstable_picture(tmp_path):
    """Photographed text is PDQ-unstable (its hash rests on the exact pixel grid): a banner
    over it is found by the bands masked in the copy's own PDQ samples (`xband-`)."""
    from haven.demo import make_printed_page

    pages = [make_printed_page(seed) for seed in (1, 5, 40)]
    listing = tmp_path / "pdq.csv"
    listing.write_text("pdq;category\n" + "".join(
        f"{pdq.pdq_from_bytes(jpeg_bytes(img, 90)).hex};1\n" for img in pages[:2]))
    case = tmp_path / "case"
    run("hashsets", "import", listing, "--name", "partner", "--case", case)
    ev = tmp_path / "seizure"
    ev.mkdir()
    for name, page in (("known.jpg", pages[0]), ("unrelated.jpg", pages[2])):
        w, h = page.size
        copy = page.copy()
        ImageDraw.Draw(copy).rectangle((0, h - 48, w, h), fill=(240, 240, 240))
        (ev / name).write_bytes(jpeg_bytes(copy, 90))
    run("scan", ev, "--case", case, "--workers", "1")
    with open(case / "findings.jsonl") as fh:
        f = {json.loads(line)["path"]: json.loads(line) for line in fh}
    [m] = f["seizure/known.jpg"]["matches"]
    assert m["matched_signal"].startswith("pdq@x") and "banner or caption" in how_matched(m)
    assert f["seizure/unrelated.jpg"]["finding"] == "fresh"
