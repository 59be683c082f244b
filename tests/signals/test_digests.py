import hashlib
import io
import os

from haven.signals.digests import THREADED_ABOVE, digest_bytes, digest_stream


def _expected(data: bytes):
    return (hashlib.md5(data).hexdigest(), hashlib.sha1(data).hexdigest(), hashlib.sha256(data).hexdigest())


def test_one_pass_digests_equal_hashlib_small_and_threaded():
    for size in (0, 1, 1000, 3 * 1024 * 1024 + 7, THREADED_ABOVE + 12345):
        data = os.urandom(size)
        d = digest_stream(io.BytesIO(data), size_hint=size)
        assert (d.md5, d.sha1, d.sha256) == _expected(data)
        assert d.size == size
        assert digest_bytes(data) == d


def test_head_already_read_is_hashed_first():
    data = os.urandom(THREADED_ABOVE + 5000)
    fh = io.BytesIO(data)
    head = fh.read(4096)
    for hint in (None, len(data)):
        fh.seek(4096)
        d = digest_stream(fh, size_hint=hint, head=head)
        assert (d.md5, d.sha1, d.sha256) == _expected(data)
        assert d.size == len(data)
