"""Each container kind: listing, names, encryption, bombs and damage."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import zipfile
import zlib
from pathlib import Path

import py7zr
import pycdlib
import pytest
from evidencekit import items, problems, read_walk, tar_bytes, zip_bytes

from haven.evidence.base import Limits
from haven.evidence.walk import walk


def _walk_file(path: Path, limits: Limits = Limits()):
    return read_walk(walk([str(path)], limits))


# -- zip ---------------------------------------------------------------------------------------

def _encrypt_flag(data: bytes) -> bytes:
    """Set the 'encrypted' flag bit on every local and central header (zipfile cannot encrypt)."""
    raw = bytearray(data)
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (pos := raw.find(signature, start)) >= 0:
            flags = struct.unpack_from("<H", raw, pos + flag_at)[0]
            struct.pack_into("<H", raw, pos + flag_at, flags | 0x1)
            start = pos + 4
    return bytes(raw)


def test_encrypted_zip_member_is_reported_not_extracted(tmp_path: Path):
    (tmp_path / "locked.zip").write_bytes(_encrypt_flag(zip_bytes({"secret.jpg": b"benign"})))
    seen = _walk_file(tmp_path / "locked.zip")
    assert list(items(seen)) == ["locked.zip"]
    assert [(pb.path, pb.kind) for pb in problems(seen)] == [("locked.zip/secret.jpg", "encrypted")]


def test_zip_bomb_is_reported_and_not_extracted(tmp_path: Path):
    zeros = zip_bytes({"zeros.bin": bytes(50 * 1024 * 1024), "fine.txt": b"fine"})
    (tmp_path / "bomb.zip").write_bytes(zeros)
    seen = _walk_file(tmp_path / "bomb.zip", Limits(max_ratio=100))
    assert list(items(seen)) == ["bomb.zip", "bomb.zip/fine.txt"]
    [bomb] = problems(seen)
    assert (bomb.path, bomb.kind, bomb.size) == ("bomb.zip/zeros.bin", "bomb", 50 * 1024 * 1024)


def test_small_repetitive_members_are_not_bombs(tmp_path: Path):
    (tmp_path / "log.zip").write_bytes(zip_bytes({"blank.log": b" " * 100_000}))
    seen = _walk_file(tmp_path / "log.zip", Limits(max_ratio=10))
    assert items(seen)["log.zip/blank.log"] == b" " * 100_000
    assert problems(seen) == []


def test_member_above_item_size_limit_is_a_bomb(tmp_path: Path):
    (tmp_path / "big.zip").write_bytes(zip_bytes({"big.bin": b"x" * 5000}))
    seen = _walk_file(tmp_path / "big.zip", Limits(max_item_size=4096))
    assert [(pb.path, pb.kind) for pb in problems(seen)] == [("big.zip/big.bin", "bomb")]


def test_traversal_name_is_scanned_under_a_safe_path_and_reported(tmp_path: Path):
    data = zip_bytes({"../../etc/x": b"payload", "/abs/y": b"why", "C:\\win\\z": b"zed",
                      "ok/../../w": b"dub"})
    (tmp_path / "evil.zip").write_bytes(data)
    seen = _walk_file(tmp_path / "evil.zip")
    assert items(seen) == {
        "evil.zip": data,
        "evil.zip/etc/x": b"payload",
        "evil.zip/abs/y": b"why",
        "evil.zip/win/z": b"zed",
        "evil.zip/ok/w": b"dub",
    }
    assert {(pb.path, pb.kind) for pb in problems(seen)} == {
        ("evil.zip/etc/x", "traversal"),
        ("evil.zip/abs/y", "traversal"),
        ("evil.zip/win/z", "traversal"),
        ("evil.zip/ok/w", "traversal"),
    }
    assert "../../etc/x" in next(pb.reason for pb in problems(seen) if pb.path == "evil.zip/etc/x")


def test_absurd_and_control_character_names_are_bounded_and_reported(tmp_path: Path):
    long_name = "d/" + "n" * 10_000 + ".txt"
    (tmp_path / "names.zip").write_bytes(zip_bytes({long_name: b"long", "bell\x07.txt": b"ring"}))
    seen = _walk_file(tmp_path / "names.zip", Limits(max_name_length=255))
    found = items(seen)
    long_path = next(path for path, data in found.items() if data == b"long")
    assert len(long_path) <= len("names.zip/") + 255
    assert found["names.zip/bell%07.txt"] == b"ring"
    assert {(pb.path, pb.kind) for pb in problems(seen)} == {
        (long_path, "bad-name"), ("names.zip/bell%07.txt", "bad-name"),
    }


def test_duplicate_member_names_do_not_collide(tmp_path: Path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", b"first")
        with pytest.warns(UserWarning):
            archive.writestr("a.txt", b"second")
        archive.writestr("./a.txt", b"third")
    (tmp_path / "dups.zip").write_bytes(buffer.getvalue())
    found = items(_walk_file(tmp_path / "dups.zip"))
    assert found["dups.zip/a.txt"] == b"first"
    assert found["dups.zip/a.txt~2"] == b"second"
    assert found["dups.zip/a.txt~3"] == b"third"


def test_truncated_zip_keeps_the_members_before_the_cut(tmp_path: Path):
    members = {f"part{i}.bin": bytes([65 + i]) * 4000 for i in range(4)}
    data = zip_bytes(members, zipfile.ZIP_STORED)
    (tmp_path / "cut.zip").write_bytes(data[: len(data) // 2])
    seen = _walk_file(tmp_path / "cut.zip")
    found = items(seen)
    # Each stored member takes ~4040 bytes, so the cut falls inside the third one.
    assert found["cut.zip/part0.bin"] == members["part0.bin"]
    assert found["cut.zip/part1.bin"] == members["part1.bin"]
    assert "cut.zip/part2.bin" not in found and "cut.zip/part3.bin" not in found
    assert [(pb.path, pb.kind) for pb in problems(seen)] == [
        ("cut.zip/part2.bin", "truncated"), ("cut.zip", "truncated"),
    ]


def test_salvaged_deflate_members_are_checked(tmp_path: Path):
    members = {"a.txt": b"alpha " * 500, "b.txt": b"beta " * 500}
    data = zip_bytes(members)
    cut = data.index(b"PK\x01\x02")  # drop the central directory only
    (tmp_path / "nocd.zip").write_bytes(data[:cut])
    seen = _walk_file(tmp_path / "nocd.zip")
    assert items(seen)["nocd.zip/a.txt"] == members["a.txt"]
    assert items(seen)["nocd.zip/b.txt"] == members["b.txt"]
    assert [(pb.path, pb.kind) for pb in problems(seen)] == [("nocd.zip", "truncated")]


def test_member_with_bad_crc_is_reported_corrupt(tmp_path: Path):
    data = bytearray(zip_bytes({"good.txt": b"good data", "bad.txt": b"original data"},
                               zipfile.ZIP_STORED))
    at = data.index(b"original data")
    data[at] = ord("O")
    (tmp_path / "crc.zip").write_bytes(bytes(data))
    seen = _walk_file(tmp_path / "crc.zip")
    assert items(seen)["crc.zip/good.txt"] == b"good data"
    assert "crc.zip/bad.txt" not in items(seen)
    [problem] = problems(seen)
    assert (problem.path, problem.kind) == ("crc.zip/bad.txt", "corrupt")
    assert "CRC" in problem.reason


def test_large_member_with_bad_crc_is_reported_once_read(tmp_path: Path):
    body = bytes(range(256)) * 400  # larger than the walker's sniffing head
    data = bytearray(zip_bytes({"big.bin": body}, zipfile.ZIP_STORED))
    data[data.index(body) + len(body) - 1] ^= 0xFF
    (tmp_path / "crc.zip").write_bytes(bytes(data))
    seen = _walk_file(tmp_path / "crc.zip")
    assert [(pb.path, pb.kind) for pb in problems(seen)] == [
        ("crc.zip/big.bin", "read-error"),  # what the reader saw (see read_walk)
        ("crc.zip/big.bin", "corrupt"),  # what the walker reported
    ]


# -- tar and compressed files ------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_in_every_compression(tmp_path: Path, mode: str):
    (tmp_path / "t.tar").write_bytes(tar_bytes({"dir/a.txt": b"A", "b.txt": b"B"}, mode))
    seen = _walk_file(tmp_path / "t.tar")
    assert {p: d for p, d in items(seen).items() if p != "t.tar"} == {
        "t.tar/dir/a.txt": b"A", "t.tar/b.txt": b"B",
    }
    assert problems(seen) == []


@pytest.mark.parametrize("compress,suffix", [(gzip.compress, ".gz"), (bz2.compress, ".bz2"),
                                             (lzma.compress, ".xz")])
def test_single_compressed_file_is_one_member(tmp_path: Path, compress, suffix: str):
    (tmp_path / f"photo.jpg{suffix}").write_bytes(compress(b"\xff\xd8\xff benign"))
    seen = _walk_file(tmp_path / f"photo.jpg{suffix}")
    assert items(seen)[f"photo.jpg{suffix}/photo.jpg"] == b"\xff\xd8\xff benign"


def test_gzip_bomb_is_not_extracted(tmp_path: Path):
    (tmp_path / "zeros.gz").write_bytes(gzip.compress(bytes(8 * 1024 * 1024), 1))
    seen = _walk_file(tmp_path / "zeros.gz", Limits(max_ratio=100))
    assert list(items(seen)) == ["zeros.gz"]
    assert [(pb.path, pb.kind) for pb in problems(seen)] == [("zeros.gz/zeros", "bomb")]


def test_truncated_tar_gz_keeps_earlier_members(tmp_path: Path):
    import os
    members = {f"m{i}.bin": os.urandom(20_000) for i in range(5)}
    data = tar_bytes(members, "w:gz")
    (tmp_path / "cut.tgz").write_bytes(data[: len(data) * 3 // 5])
    seen = _walk_file(tmp_path / "cut.tgz")
    found = items(seen)
    assert found["cut.tgz/m0.bin"] == members["m0.bin"]
    assert found["cut.tgz/m1.bin"] == members["m1.bin"]
    assert any(pb.kind == "truncated" for pb in problems(seen))


def test_truncated_plain_tar_reports_the_cut(tmp_path: Path):
    members = {"a.bin": b"a" * 3000, "b.bin": b"b" * 3000}
    data = tar_bytes(members)  # a: header 0, data 512..3512; b: header 3584, data 4096..7096
    (tmp_path / "in-data.tar").write_bytes(data[:5000])
    (tmp_path / "in-header.tar").write_bytes(data[:3800])
    in_data = _walk_file(tmp_path / "in-data.tar")
    in_header = _walk_file(tmp_path / "in-header.tar")
    assert items(in_data)["in-data.tar/a.bin"] == members["a.bin"]
    assert [(pb.path, pb.kind) for pb in problems(in_data)] == [("in-data.tar/b.bin", "truncated")]
    assert items(in_header)["in-header.tar/a.bin"] == members["a.bin"]
    assert [(pb.path, pb.kind) for pb in problems(in_header)] == [("in-header.tar", "truncated")]


def test_tar_links_are_not_followed_but_hard_links_are_content(tmp_path: Path):
    buffer = io.BytesIO()
    with __import__("tarfile").open(fileobj=buffer, mode="w") as archive:
        import tarfile
        info = tarfile.TarInfo("real.txt")
        info.size = 4
        archive.addfile(info, io.BytesIO(b"real"))
        link = tarfile.TarInfo("hard.txt")
        link.type, link.linkname = tarfile.LNKTYPE, "real.txt"
        archive.addfile(link)
        for name, target in (("loop1", "loop2"), ("loop2", "loop1"), ("etc", "/etc/passwd")):
            sym = tarfile.TarInfo(name)
            sym.type, sym.linkname = tarfile.SYMTYPE, target
            archive.addfile(sym)
    (tmp_path / "links.tar").write_bytes(buffer.getvalue())
    seen = _walk_file(tmp_path / "links.tar")
    assert items(seen)["links.tar/hard.txt"] == b"real"
    assert {(pb.path, pb.kind) for pb in problems(seen)} == {
        ("links.tar/loop1", "symlink"), ("links.tar/loop2", "symlink"), ("links.tar/etc", "symlink"),
    }


# -- 7z ----------------------------------------------------------------------------------------

def _sevenzip(path: Path, members: dict[str, bytes], **options) -> None:
    with py7zr.SevenZipFile(path, "w", **options) as archive:
        for name, data in members.items():
            archive.writestr(data, name)


def test_sevenzip_members_and_nesting(tmp_path: Path):
    _sevenzip(tmp_path / "a.7z", {"pics/one.jpg": b"\xff\xd8\xff one", "inner.zip":
                                  zip_bytes({"two.txt": b"two"}), "empty.txt": b""})
    seen = _walk_file(tmp_path / "a.7z")
    found = items(seen)
    assert found["a.7z/pics/one.jpg"] == b"\xff\xd8\xff one"
    assert found["a.7z/inner.zip/two.txt"] == b"two"
    assert found["a.7z/empty.txt"] == b""
    assert problems(seen) == []


def _rename_in_7z(data: bytes, old: str, new: str) -> bytes:
    """Swap a member name in a 7z with a plain header (py7zr refuses to write unsafe names)."""
    raw = bytearray(data)
    old_utf16, new_utf16 = old.encode("utf-16-le"), new.encode("utf-16-le")
    assert len(old_utf16) == len(new_utf16)
    at = raw.index(old_utf16)
    raw[at:at + len(old_utf16)] = new_utf16
    offset, size = struct.unpack_from("<QQ", raw, 12)
    header = raw[32 + offset: 32 + offset + size]
    struct.pack_into("<I", raw, 28, zlib.crc32(header))
    struct.pack_into("<I", raw, 8, zlib.crc32(raw[12:32]))
    return bytes(raw)


def test_sevenzip_traversal_names_are_still_scanned(tmp_path: Path):
    path = tmp_path / "evil.7z"
    with py7zr.SevenZipFile(path, "w") as archive:
        archive.set_encoded_header_mode(False)
        archive.writestr(b"sneaky", "xx/xx/outside.txt")
    path.write_bytes(_rename_in_7z(path.read_bytes(), "xx/xx/", "../../"))
    seen = _walk_file(path)
    assert items(seen)["evil.7z/outside.txt"] == b"sneaky"
    assert [(pb.path, pb.kind) for pb in problems(seen)] == [("evil.7z/outside.txt", "traversal")]


def test_encrypted_sevenzip_is_reported(tmp_path: Path):
    _sevenzip(tmp_path / "content.7z", {"x.txt": b"x"}, password="benign-test")
    _sevenzip(tmp_path / "headers.7z", {"x.txt": b"x"}, password="benign-test", header_encryption=True)
    content = _walk_file(tmp_path / "content.7z")
    headers = _walk_file(tmp_path / "headers.7z")
    assert [(pb.path, pb.kind) for pb in problems(content)] == [("content.7z/x.txt", "encrypted")]
    assert [(pb.path, pb.kind) for pb in problems(headers)] == [("headers.7z", "encrypted")]


def test_sevenzip_stopped_early_leaves_no_thread_behind(tmp_path: Path):
    import threading
    _sevenzip(tmp_path / "many.7z", {f"{i}.txt": b"x" * 100 for i in range(20)})
    listing = walk([str(tmp_path / "many.7z")])
    next(listing), next(listing), next(listing)
    listing.close()
    assert not [t for t in threading.enumerate() if t.name == "haven-7z"]


# -- ISO ---------------------------------------------------------------------------------------

def test_iso_prefers_joliet_names(tmp_path: Path):
    disc = pycdlib.PyCdlib()
    disc.new(joliet=3, vol_ident="BENIGN")
    disc.add_directory("/HOLIDAY", joliet_path="/Holiday Photos")
    files = {
        ("/HOLIDAY/BEACH_DA.JPG;1", "/Holiday Photos/beach day at the sea.jpg"): b"\xff\xd8\xff sea",
        ("/README.TXT;1", "/Read me first.txt"): b"read me",
    }
    for (iso_path, joliet_path), data in files.items():
        disc.add_fp(io.BytesIO(data), len(data), iso_path, joliet_path=joliet_path)
    disc.write(str(tmp_path / "disc.iso"))
    disc.close()
    seen = _walk_file(tmp_path / "disc.iso")
    found = items(seen)
    assert found["disc.iso/Holiday Photos/beach day at the sea.jpg"] == b"\xff\xd8\xff sea"
    assert found["disc.iso/Read me first.txt"] == b"read me"
    assert problems(seen) == []


def test_plain_iso9660_names_lose_their_version(tmp_path: Path):
    disc = pycdlib.PyCdlib()
    disc.new()
    disc.add_fp(io.BytesIO(b"plain"), 5, "/PLAIN.TXT;1")
    disc.write(str(tmp_path / "plain.iso"))
    disc.close()
    assert items(_walk_file(tmp_path / "plain.iso"))["plain.iso/PLAIN.TXT"] == b"plain"


def test_udf_only_image_is_unsupported(tmp_path: Path):
    image = bytearray(0x8000 + 2048 * 3)
    image[0x8001:0x8006] = b"BEA01"
    image[0x8801:0x8806] = b"NSR02"
    (tmp_path / "udf.iso").write_bytes(bytes(image))
    seen = _walk_file(tmp_path / "udf.iso")
    assert [(pb.path, pb.kind) for pb in problems(seen)] == [("udf.iso", "unsupported")]


def test_compressed_tar_bomb_stops_extraction(tmp_path: Path):
    data = tar_bytes({"small.txt": b"small", "zeros.bin": bytes(4 * 1024 * 1024), "after.txt": b"x"},
                     "w:gz")
    (tmp_path / "bomb.tgz").write_bytes(data)
    seen = _walk_file(tmp_path / "bomb.tgz", Limits(max_ratio=100))
    assert list(items(seen)) == ["bomb.tgz", "bomb.tgz/small.txt"]
    assert [(pb.path, pb.kind) for pb in problems(seen)] == [("bomb.tgz/zeros.bin", "bomb")]


def test_sevenzip_bomb_is_not_extracted(tmp_path: Path):
    _sevenzip(tmp_path / "bomb.7z", {"zeros.bin": bytes(4 * 1024 * 1024)})
    seen = _walk_file(tmp_path / "bomb.7z", Limits(max_ratio=100))
    assert list(items(seen)) == ["bomb.7z"]
    assert [(pb.path, pb.kind) for pb in problems(seen)] == [("bomb.7z", "bomb")]
