"""Videos through the whole scan: vPDQ hashes, known-video matches with shares, image↔frame links."""

import json
import zipfile

import pytest
from PIL import Image
from typer.testing import CliRunner

from haven.cli import app
from haven.hashsets.formats.vpdq_text import write_vpdq_text
from haven.signals.pdq import pdq_from_image
from haven.signals.vpdq import vpdq_from_path
from videogen import RATE, encode, render

frame = render  # a benign procedural frame: discs over a striped gradient


def run(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("video")
    known = encode(tmp / "known.mp4", (frame(1, n / RATE) for n in range(30 * RATE)))
    known_dir = tmp / "known-videos"
    known_dir.mkdir()
    write_vpdq_text(vpdq_from_path(known).frames, known_dir / "known-video-1.txt")
    still = frame(7, 0.0)  # a known image that a scanned video shows
    (tmp / "images.csv").write_text("pdq\n" + pdq_from_image(Image.fromarray(still), fast=False).hex + "\n")
    case = tmp / "case"
    run("hashsets", "import", known_dir, "--name", "videos", "--format", "vpdq", "--case", case)
    run("hashsets", "import", tmp / "images.csv", "--name", "stills", "--case", case)

    ev = tmp / "seizure"
    ev.mkdir()
    # an 8-second clip of the known video, re-encoded at lower quality, hidden in a zip
    clip = encode(tmp / "clip.mp4", (frame(1, n / RATE) for n in range(10 * RATE, 18 * RATE)), crf=30)
    with zipfile.ZipFile(ev / "backup.zip", "w") as z:
        z.write(clip, "movies/holiday.dat")
    encode(ev / "other.mp4", (frame(2, n / RATE) for n in range(10 * RATE)))
    encode(ev / "shows-still.mkv", [still] * (4 * RATE) + [frame(3, n / RATE) for n in range(4 * RATE)])
    (ev / "broken.mp4").write_bytes(clip.read_bytes()[:2000])
    run("scan", ev, "--case", case, "--workers", "1")
    with open(case / "findings.jsonl") as fh:
        return case, {json.loads(l)["path"]: json.loads(l) for l in fh}


@pytest.fixture(scope="module")
def findings(scanned):
    return scanned[1]


def test_clip_of_known_video_is_near_known_with_vpdq_shares(findings):
    f = findings["seizure/backup.zip/movies/holiday.dat"]
    assert f["mime"] == "video/mp4" and f["extension_mismatch"] is True
    assert f["finding"] == "near-known"
    [m] = [m for m in f["matches"] if m["hashset"] == "videos"]
    assert m["signal_type"] == "vpdq"
    assert m["query_share"] >= 0.9 and m["known_share"] <= 0.4
    assert f["vpdq"] and len(f["vpdq"]) == 8  # 1 frame per second


def test_unrelated_video_is_fresh_with_its_frames_hashed(findings):
    f = findings["seizure/other.mp4"]
    assert f["finding"] == "fresh" and f["matches"] == []
    assert len(f["vpdq"]) == 10 and f["video"]["width"] == 320


def test_known_image_shown_in_a_video_is_linked_to_its_frames(findings):
    f = findings["seizure/shows-still.mkv"]
    assert f["finding"] == "near-known"
    [m] = [m for m in f["matches"] if m["hashset"] == "stills"]
    assert m["signal_type"] == "vpdq" and "frame 0" in m["matched_signal"]
    assert 0.4 <= m["query_share"] <= 0.6  # the still fills the first half


def test_broken_video_is_an_error_with_a_reason(findings):
    f = findings["seizure/broken.mp4"]
    assert f["finding"] == "error" and f["error"].startswith("video not decodable")


def test_video_hashes_export_and_reimport_as_a_known_set(scanned, tmp_path):
    case, f = scanned
    out = tmp_path / "exported"
    run("hashsets", "export", "--case", case, "--format", "vpdq", "--out", out)
    other = f["seizure/other.mp4"]
    exported = out / f"{other['sha256']}.txt"
    assert exported.is_file()
    rows = [line.split(",") for line in exported.read_text().splitlines()]
    assert [int(r[0]) for r in rows] == [row[0] for row in other["vpdq"]]
    assert [r[2] for r in rows] == [row[2] for row in other["vpdq"]]
    # Re-imported as known videos, the same file now matches itself in full.
    again = tmp_path / "case2"
    run("hashsets", "import", out, "--name", "exported", "--format", "vpdq", "--case", again)
    run("scan", case.parent / "seizure" / "other.mp4", "--case", again, "--workers", "1")
    with open(again / "findings.jsonl") as fh:
        [item] = [json.loads(l) for l in fh]
    assert item["finding"] == "near-known"
    [m] = item["matches"]
    assert m["signal_type"] == "vpdq" and m["query_share"] == 1.0 and m["known_share"] == 1.0
