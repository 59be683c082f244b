"""Which query hash matched, named and said in words; checked against real rotations."""

import numpy as np
import pdqhash

from haven.match.how import DIHEDRAL, how_pdq, matched_signal, query_tag
from haven.match.near import NearIndex
from haven.signals import pdq


def _picture() -> np.ndarray:
    """A benign asymmetric test picture: gradients and a bright block off-centre."""
    y, x = np.mgrid[0:240, 0:320]
    img = np.stack([(x * 0.8) % 256, (y * 1.0) % 256, ((x + 2 * y) * 0.4) % 256], -1)
    img[30:110, 40:150] = 250
    img[150:220, 200:300, 1] = 20
    return img.astype(np.uint8)


def test_query_tags_follow_query_hexes_order():
    assert query_tag(0) == ""
    assert query_tag(1) == "rot90"
    assert query_tag(8) == "c84"
    assert query_tag(8 + 5) == "c84+flip-y"
    assert query_tag(31) == "c93+flip-1"
    assert matched_signal("pdq", "") == "pdq"
    assert matched_signal("pdq-c84", "c84+rot90") == "pdq-c84@c84+rot90"


def test_words_name_the_transform_the_copy_underwent():
    """Known = the picture; item = the picture turned/mirrored by numpy; the matched query
    position's words must describe what numpy did."""
    known = _picture()
    index = NearIndex()
    index.add([pdq.pdq_from_prepared(pdq.PreparedImage(known, "t")).hex], [1])
    cases = {
        "rotated 90° clockwise": np.rot90(known, -1),
        "rotated 90° counter-clockwise": np.rot90(known, 1),
        "rotated 180°": np.rot90(known, 2),
        "mirrored left-right": known[:, ::-1],
        "flipped upside down": known[::-1],
    }
    for words, item in cases.items():
        item = np.ascontiguousarray(item)
        query = pdq.query_hexes(pdq.PreparedImage(item, "t"))
        (eid, _d, tag, k), *_ = NearIndex.search_hits(index, query)
        assert eid == 1
        assert words in how_pdq(matched_signal(tag, query_tag(k))), (words, query_tag(k))


def test_unmatched_transform_stays_honest():
    assert how_pdq("pdq") == "whole picture; as is"
    assert "query zoom7" in how_pdq("pdq@zoom7")  # unknown parts are shown, not dropped
    assert "does not record which" in how_pdq("pdq@unrecorded")  # national libraries
    assert len(DIHEDRAL) == 8 == len(pdqhash.compute_dihedral(_picture())[0])


def test_exact_band_and_logo_hypotheses_are_told_as_the_emulated_ones():
    from haven.match.how import bits_compared

    assert "bottom 12% (banner or caption)" in how_pdq("pdq@xband-b12")
    assert "top-right corner (20% of the width)" in how_pdq("pdq@xlogo-tr20")
    assert "caption band across the copy (from 37% of its height, 6% high)" in how_pdq(
        "pdq@xcaption-37h6")
    assert bits_compared("pdq@xband-b12") == bits_compared("pdq@band-b9") < 256
    # what was left out, not an edit seen: a bottom banner can match with a corner left out
    for tag in ("pdq@xband-b12", "pdq@logo-tl12", "pdq@xcaption-37h6"):
        assert "left out" in how_pdq(tag) and "not an edit seen" in how_pdq(tag)
    assert bits_compared("pdq@xcaption-37h6") == bits_compared("pdq@band-b9")


def test_native_frames_are_told_as_crops_found_in_the_copys_own_pixels():
    from haven.match.how import bits_compared

    words = how_pdq("pdq@nframe-l4r6t0b2")
    assert "cropped" in words and "own pixels" in words and "4% left, 6% right, 2% bottom cut" in words
    assert "top" not in words  # a side cut by 0 % is not named
    assert bits_compared("pdq@nframe-l4r6t0b2") == bits_compared("pdq@frame-l4r6t0b2") < 256


def test_inner_pictures_are_told_as_a_picture_inside_a_larger_copy():
    from haven.match.how import bits_compared

    words = how_pdq("pdq@inner-l0r0t22b31")
    assert "inside a larger copy" in words and "0% left, 0% right, 22% top, 31% bottom" in words
    assert bits_compared("pdq@inner-l0r0t22b31") == bits_compared("pdq@band-b9") < 256


def test_a_hash_only_hypothesis_is_not_also_called_the_whole_picture():
    assert how_pdq("pdq@frame-l4r6t0b2").startswith("the copy is cropped (hash-only match")
    assert "whole picture" not in how_pdq("pdq@xband-b12")
    assert "whole picture" not in how_pdq("pdq@inner-l0r0t22b31")
    assert how_pdq("pdq@rot90") == "whole picture; the copy is rotated 90° clockwise"
