"""Bad input ends as findings with reasons, never as a crash, and the rest is still scanned."""

import io
import json
import struct
import zipfile

import py7zr

from haven.evidence.base import Limits
from haven.report.findings import write_reports
from haven.scan.pipeline import ScanOptions, scan
from haven.store.case import CaseStore


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _flag_encrypted(data: bytes) -> bytes:
    raw = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = raw.find(sig)
        while pos >= 0:
            struct.pack_into("<H", raw, pos + off, struct.unpack_from("<H", raw, pos + off)[0] | 1)
            pos = raw.find(sig, pos + 4)
    return bytes(raw)


def test_bad_input_gets_findings_and_good_input_survives(tmp_path):
    ev = tmp_path / "seizure"
    ev.mkdir()
    (ev / "locked.zip").write_bytes(_flag_encrypted(_zip({"secret.txt": b"benign"})))
    (ev / "bomb.zip").write_bytes(_zip({"zeros.bin": bytes(30 * 1024 * 1024), "ok.txt": b"ok"}))
    (ev / "evil.zip").write_bytes(_zip({"../../etc/passwd": b"benign text\n"}))
    good = _zip({"a.txt": b"a" * 100, "b.txt": b"b" * 100})
    (ev / "cut.zip").write_bytes(good[: len(good) // 2])
    with py7zr.SevenZipFile(ev / "locked.7z", "w", password="benign") as z:
        z.writestr(b"x", "x.txt")
    (ev / "fine.txt").write_bytes(b"still scanned\n")
    (ev / "loop").symlink_to(ev)

    store = CaseStore(tmp_path / "case", create=True)
    scan([str(ev)], store, ScanOptions(workers=1, limits=Limits(max_ratio=100)))
    write_reports(store)
    with open(tmp_path / "case" / "findings.jsonl") as fh:
        f = {json.loads(l)["path"]: json.loads(l) for l in fh}

    assert f["seizure/fine.txt"]["finding"] == "other"
    assert f["seizure/locked.zip/secret.txt"]["finding"] == "error"
    assert f["seizure/locked.zip/secret.txt"]["error"].startswith("encrypted")
    assert f["seizure/locked.7z/x.txt"]["error"].startswith("encrypted")
    bomb = f["seizure/bomb.zip/zeros.bin"]
    assert bomb["finding"] == "error" and bomb["error"].startswith("bomb")
    assert bomb["md5"] is None  # never extracted
    assert f["seizure/bomb.zip/ok.txt"]["finding"] == "other"
    traversal = [p for p in f if p.startswith("seizure/evil.zip/") and "passwd" in p]
    assert traversal == ["seizure/evil.zip/etc/passwd"]
    assert f[traversal[0]]["error"].startswith("traversal")
    assert f[traversal[0]]["md5"]  # content still scanned under a safe name
    assert f["seizure/cut.zip"]["error"].split(":")[0] in ("truncated", "corrupt")
    assert "symlink" in (f["seizure/loop"].get("error") or "") + " ".join(f["seizure/loop"]["notes"])
    assert not (tmp_path / "etc").exists() and not list((tmp_path / "case").glob("scan-tmp-*"))
