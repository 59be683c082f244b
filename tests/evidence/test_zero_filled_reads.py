"""Damaged image data reads as zeros, piece by piece, and the readers say how much."""

from haven.evidence.base import read_zero_filled
from haven.evidence.ewf import _EwfMedium
from haven.evidence.virtual import _HandleMedium

DATA = bytes(range(256)) * 64  # 16 KiB


class _Handle:
    """A libyal/libewf-like handle whose bytes [bad_from, bad_to) cannot be read."""

    def __init__(self, bad_from: int, bad_to: int, message: str = "read failed. at chunk 3. more"):
        self.bad_from, self.bad_to, self.message = bad_from, bad_to, message

    def get_media_size(self) -> int:
        return len(DATA)

    def get_chunk_size(self) -> int:
        return 1024

    def read_buffer_at_offset(self, length: int, offset: int) -> bytes:
        if offset < self.bad_to and offset + length > self.bad_from:
            raise OSError(self.message)
        return DATA[offset:offset + length]


def test_a_whole_read_is_one_call_and_a_failed_one_is_read_in_aligned_pieces():
    failures = []
    h = _Handle(2048, 3072)
    assert read_zero_filled(h.read_buffer_at_offset, 0, 1024, 512, failures.append) == DATA[:1024]
    got = read_zero_filled(h.read_buffer_at_offset, 1500, 2000, 512,
                           lambda pos, size, exc: failures.append((pos, size, str(exc))))
    assert got == DATA[1500:2048] + bytes(1024) + DATA[3072:3500]
    assert failures == [(2048, 512, h.message), (2560, 512, h.message)]


def test_e01_medium_counts_bad_chunks_and_names_a_missing_segment():
    m = _EwfMedium(_Handle(4096, 6144, "libewf_handle_read: missing segment file. x"))
    assert m.read(3000, 4000) == DATA[3000:4096] + bytes(2048) + DATA[6144:7000]
    assert m.bad == {4, 5} and m.first_error == "a segment file is missing"
    assert "2 chunks (2048 bytes) from offset 4096" in m.damage()
    assert _EwfMedium(_Handle(0, 0)).damage() is None


def test_virtual_disk_medium_counts_bad_bytes_and_keeps_the_first_error():
    m = _HandleMedium(_Handle(0, 100, "read failed. at chunk 3. more"), "QCOW")
    assert m.read(0, 200) == bytes(200)  # inside one 64 KiB piece: the whole piece is zeros
    assert m.bad == 200 and m.first_error == "read failed. at chunk 3"
    assert m.damage().startswith("QCOW image incomplete: 200 bytes")
    assert m.read(len(DATA), 10) == b""
