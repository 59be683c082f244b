"""One DecodeError for content that cannot be decoded, whatever the signal."""

import pytest

from haven.errors import DecodeError, HavenError


def test_an_undecodable_image_and_video_raise_the_one_decode_error():
    from haven.signals import pdq, vpdq

    with pytest.raises(DecodeError) as image:
        pdq.pdq_from_bytes(b"GIF89a not really a picture")
    with pytest.raises(DecodeError) as video:
        vpdq.vpdq_from_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    for exc in (image.value, video.value):
        assert isinstance(exc, HavenError) and exc.reason
        assert str(exc).startswith(exc.reason)
    assert isinstance(image.value, pdq.ImageDecodeError)
    assert isinstance(video.value, vpdq.VideoDecodeError)
