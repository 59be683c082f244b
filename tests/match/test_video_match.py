"""Video matching (vPDQ shares), image <-> frame links, and the vPDQ text hash-set format."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from haven.hashsets.formats.registry import detect, read_hashset
from haven.hashsets.formats.vpdq_text import write_vpdq_text
from haven.match.near import NearIndex
from haven.match.video import VideoLibrary, frame_links
from haven.signals.pdq import dihedral_hexes, pdq_from_image
from haven.signals.vpdq import frames_to_rows, vpdq_from_path
from videogen import RATE, SIZE, encode, render

LONG = 40  # seconds


def decoded(path: Path):
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    long = encode(d / "long.mp4", (render(1, n / RATE) for n in range(LONG * RATE)))
    # a 10 s clip cut (and re-encoded) from the long video at 20.4 s, between two samples
    clip_frames = [f for n, f in enumerate(decoded(long)) if 102 <= n < 152]
    clip = encode(d / "clip.mp4", clip_frames)
    # the whole video re-encoded at half size and lower quality
    small = (160, 90)
    scaled = encode(d / "small.mp4", (np.asarray(Image.fromarray(f).resize(small, Image.BILINEAR))
                                      for f in decoded(long)), size=small, crf=32)
    other = encode(d / "other.mp4", (render(2, n / RATE) for n in range(20 * RATE)))
    flat = encode(d / "flat.mp4", (np.full((SIZE[1], SIZE[0], 3), 16, np.uint8) for _ in range(25)))
    paths = {"long": long, "clip": clip, "small": scaled, "other": other, "flat": flat}
    return {name: vpdq_from_path(p).frames for name, p in paths.items()}


@pytest.fixture(scope="module")
def library(videos) -> VideoLibrary:
    lib = VideoLibrary()
    lib.add_video("long", videos["long"])
    lib.add_video("other", frames_to_rows(videos["other"]))  # rows, as hash sets store them
    return lib


def test_clip_cut_from_known_video_matches_with_high_query_low_known_share(library, videos):
    matches = library.match(videos["clip"])
    assert [m.video_id for m in matches] == ["long"]
    m = matches[0]
    assert m.query_share >= 0.9
    assert 0.15 <= m.known_share <= 0.35  # 10 s of a 40 s video
    assert 19 <= m.known_span[0] <= 22 and 28 <= m.known_span[1] <= 31
    assert m.query_span[0] < 1.5 and m.distance <= 31


def test_reencoded_downscaled_copy_matches_with_both_shares_high(library, videos):
    matches = library.match(videos["small"])
    assert [m.video_id for m in matches] == ["long"]
    assert matches[0].query_share >= 0.9 and matches[0].known_share >= 0.9


def test_long_video_containing_a_known_clip_is_found_by_known_share(videos):
    lib = VideoLibrary()
    lib.add_video("clip", videos["clip"])
    m = lib.match(videos["long"])
    assert [x.video_id for x in m] == ["clip"]
    assert m[0].known_share >= 0.9 and m[0].query_share <= 0.35


def test_unrelated_video_does_not_match(library, videos):
    assert library.match(videos["other"][:0]) == []
    lib = VideoLibrary()
    lib.add_video("long", videos["long"])
    assert lib.match(videos["other"], min_query_share=0, min_known_share=0) == []


def test_low_quality_frames_take_no_part(library, videos):
    assert all(f.quality < 50 for f in videos["flat"])
    lib = VideoLibrary()
    assert lib.add_video("flat", videos["flat"]) == 0
    assert lib.match(videos["flat"], min_query_share=0, min_known_share=0) == []
    assert library.match(videos["flat"], min_query_share=0, min_known_share=0) == []


def test_known_image_seen_as_a_frame_of_a_scanned_video(videos):
    image = Image.fromarray(render(1, 33.3, size=(640, 360)))  # the same scene, at another size
    index = NearIndex()
    index.add([pdq_from_image(image).hex], [42])
    links = frame_links(index, videos["long"])
    assert [link.entry_id for link in links] == [42]
    assert links[0].frame in (160, 165) and 32.0 <= links[0].timestamp <= 33.0
    assert links[0].distance <= 31 and links[0].frames >= 1
    assert frame_links(index, videos["other"]) == []


def test_scanned_image_matching_a_known_video_frame(library):
    image = Image.fromarray(render(1, 25.0)).resize((200, 112))
    found = library.match_image(dihedral_hexes(image))
    assert [k.video_id for k in found] == ["long"]
    assert 120 <= found[0].frame <= 125 and found[0].distance <= 31
    assert library.match_image(dihedral_hexes(Image.fromarray(render(3, 5.0)))) == []


def test_vpdq_text_round_trip_and_import_into_the_library(tmp_path, videos):
    path = tmp_path / "known-long.txt"
    assert write_vpdq_text(videos["long"], path) == len(videos["long"])
    assert detect(path).name == "vpdq"
    result = read_hashset(path)
    assert result.format == "vpdq" and not result.malformed
    (entry,) = result.entries
    assert entry.extra["video_id"] == "known-long"
    assert entry.extra["vpdq"] == frames_to_rows(videos["long"])
    assert entry.md5 is entry.pdq is None
    write_vpdq_text(entry.extra["vpdq"], tmp_path / "again.txt")  # rows write back identically
    assert (tmp_path / "again.txt").read_bytes() == path.read_bytes()
    lib = VideoLibrary()
    lib.add_video(entry.extra["video_id"], entry.extra["vpdq"])
    m = lib.match(videos["clip"])
    assert m and m[0].video_id == "known-long"


def test_vpdq_directory_is_one_entry_per_video_and_bad_lines_are_malformed(tmp_path, videos):
    d = tmp_path / "set"
    d.mkdir()
    write_vpdq_text(videos["long"], d / "a.txt")
    write_vpdq_text(videos["other"], d / "b.txt")
    with open(d / "b.txt", "a") as fh:
        fh.write("7,100,nothex,0.7\n")
    result = read_hashset(d, "vpdq")
    assert [e.extra["video_id"] for e in result.entries] == ["a", "b"]
    assert len(result.malformed) == 1 and "b.txt" in result.malformed[0].reason


@pytest.mark.parametrize("content, fmt", [
    ("d41d8cd98f00b204e9800998ecf8427e\n", "txt"),
    ("md5,pdq\nd41d8cd98f00b204e9800998ecf8427e," + "ab" * 32 + "\n", "csv"),
    ("pdq " + "ab" * 32 + "\n", "hma"),
    ("1,100," + "ab" * 32 + "\nnot a frame line\n", None),
])
def test_vpdq_detection_never_takes_other_formats(tmp_path, content, fmt):
    path = tmp_path / "set.txt"
    path.write_text(content)
    try:
        name = detect(path).name
    except Exception:  # nothing recognises it: fine, as long as vpdq did not claim it
        name = None
    assert name != "vpdq"
    if fmt:
        assert name == fmt


def _shared() -> Path:
    env = os.environ.get("HAVEN_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared"


def test_reference_hash_files_import_and_match_edited_copies():
    vpdq_dir = _shared() / "testdata" / "vpdq"
    if not vpdq_dir.is_dir():
        pytest.skip("shared vPDQ test data not found (set HAVEN_SHARED)")
    lib = VideoLibrary()
    for name in ("chair-orig-22-sd-bar", "pattern-hd-no-bar", "doorknob-hd-no-bar"):
        (entry,) = read_hashset(vpdq_dir / "sample-hashes" / f"{name}.txt").entries
        lib.add_video(entry.extra["video_id"], entry.extra["vpdq"])
    query = vpdq_from_path(vpdq_dir / "tmk" / "sample-videos" / "chair-22-sd-grey-bar.mp4").frames
    matches = lib.match(query)
    assert [m.video_id for m in matches] == ["chair-orig-22-sd-bar"]
    assert matches[0].query_share >= 0.9
