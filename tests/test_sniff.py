import io

import pytest
from PIL import Image

from haven.sniff import extension_of, sniff


def _image(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 30)).save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize(
    "fmt,mime",
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("GIF", "image/gif"), ("BMP", "image/bmp"),
     ("TIFF", "image/tiff"), ("WEBP", "image/webp")],
)
def test_images_are_typed_by_content_whatever_their_name(fmt, mime):
    data = _image(fmt)
    assert sniff(data, "holiday." + fmt.lower().replace("jpeg", "jpg").replace("tiff", "tif")) == (
        sniff(data, "x." + fmt.lower()).__class__(mime, "image", False)
    )
    for disguise in ("driver.dll", "notes.txt", "noextension", "archive.zip"):
        info = sniff(data, disguise)
        assert info.mime == mime and info.media == "image"
        assert info.extension_mismatch is True


def test_a_jpg_name_on_text_is_a_mismatch_but_plain_text_names_are_not():
    assert sniff(b"hello world\n", "photo.jpg").extension_mismatch is True
    assert sniff(b"hello world\n", "photo.jpg").mime == "text/plain"
    assert sniff(b"hello world\n", "script.py").extension_mismatch is False
    assert sniff(b"\x00\x01\x02binary", "blob").mime == "application/octet-stream"
    assert sniff(b"", "empty.jpg").mime == "application/x-empty"


def test_containers_and_offsets():
    assert sniff(b"PK\x03\x04" + b"\0" * 40, "a.zip").mime == "application/zip"
    tar_head = b"\0" * 257 + b"ustar\x0000" + b"\0" * 100
    assert sniff(tar_head, "a.tar").mime == "application/x-tar"
    iso_head = b"\0" * 0x8001 + b"CD001"
    assert sniff(iso_head[:4096], "cd.iso").mime != "application/x-iso9660-image"  # needs 32 KiB
    assert sniff(iso_head, "cd.iso").mime == "application/x-iso9660-image"


def test_extension_of_handles_dotfiles_and_case():
    assert extension_of("dir/IMG.JPG") == "jpg"
    assert extension_of(".bashrc") == ""
    assert extension_of("a/b.tar.gz") == "gz"
    assert extension_of("noext") == ""
