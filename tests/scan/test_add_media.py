"""Known media enrolled with `hashsets add-media` catch cropped and bannered copies."""

import io
import json

from PIL import Image, ImageDraw
from typer.testing import CliRunner

from haven.cli import app
from haven.demo import jpeg_bytes, make_image


def run(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def crop(img: Image.Image, left: float, top: float, right: float, bottom: float) -> Image.Image:
    w, h = img.size
    return img.crop((int(w * left), int(h * top), int(w * (1 - right)), int(h * (1 - bottom))))


def banner(img: Image.Image) -> Image.Image:
    out = img.copy()
    draw = ImageDraw.Draw(out)
    draw.rectangle([0, 0, out.width, int(out.height * 0.08)], fill=(20, 20, 20))
    draw.text((10, 5), "shared on some forum", fill=(255, 255, 255))
    return out


def test_add_media_enrols_robust_hashes_and_the_scan_finds_edited_copies(tmp_path):
    library = tmp_path / "library"
    library.mkdir()
    originals = {i: make_image(500 + i, (800, 600)) for i in range(3)}
    for i, img in originals.items():
        (library / f"known_{i}.jpg").write_bytes(jpeg_bytes(img, 92))
    case = tmp_path / "case"
    out = run("hashsets", "add-media", library, "--name", "rose", "--series", "ROSE", "--case", case)
    assert "Enrolled 3 media" in out

    ev = tmp_path / "seizure"
    ev.mkdir()
    (ev / "cropped.jpg").write_bytes(jpeg_bytes(crop(originals[0], 0.07, 0.03, 0.05, 0.08), 80))
    (ev / "bannered.jpg").write_bytes(jpeg_bytes(banner(originals[1]), 80))
    (ev / "unrelated.jpg").write_bytes(jpeg_bytes(make_image(900, (800, 600)), 80))
    (ev / "exact.jpg").write_bytes((library / "known_2.jpg").read_bytes())
    run("scan", ev, "--case", case, "--workers", "1")
    with open(case / "findings.jsonl") as fh:
        f = {json.loads(l)["path"]: json.loads(l) for l in fh}

    for name in ("cropped.jpg", "bannered.jpg"):
        item = f[f"seizure/{name}"]
        assert item["finding"] == "near-known", name
        [m] = item["matches"]
        assert m["series"] == "ROSE" and m["signal_type"] == "pdq" and m["distance"] <= 31
        assert m["matched_signal"]  # which enrolled window matched
    assert f["seizure/exact.jpg"]["finding"] == "known"
    assert f["seizure/unrelated.jpg"]["finding"] == "fresh"


def test_plain_pdq_alone_misses_the_uneven_crop(tmp_path):
    """The reason add-media enrols windows: one PDQ hash does not survive an uneven crop."""
    from haven.signals.pdq import hamming, pdq_from_image

    img = make_image(500, (800, 600))
    buf = io.BytesIO(jpeg_bytes(crop(img, 0.07, 0.03, 0.05, 0.08), 80))
    assert hamming(pdq_from_image(img).hex, pdq_from_image(Image.open(buf)).hex) > 31
