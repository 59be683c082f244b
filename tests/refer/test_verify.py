"""Verifying packages: signature and hashes, tampering of a file, the manifest or the
signature, pinned keys, and age encryption round trips."""

from __future__ import annotations

import io
import json
import shutil
import tarfile

import pyrage
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from haven.refer.build import BuildOptions, build_packages
from haven.refer.cli import refer_app
from haven.refer.errors import KeyFileError
from haven.refer.verify import verify_package

runner = CliRunner()


@pytest.fixture
def package(built, tmp_path):
    """A private copy of the FR package, free to tamper with."""
    _, out = built
    copy = tmp_path / "FR"
    shutil.copytree(out / "FR", copy)
    return copy


def test_untouched_package_verifies(package):
    report = verify_package(package)
    assert report.ok, report.problems
    assert report.code == "FR" and report.files_checked >= 7


def test_changed_file_is_named(package):
    path = package / "subjects.csv"
    path.write_bytes(path.read_bytes().replace(b"amelie", b"amelia"))
    report = verify_package(package)
    assert not report.ok
    assert any(p.startswith("subjects.csv: SHA-256") for p in report.problems)


def test_changed_manifest_breaks_the_signature(package):
    path = package / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"] = [f for f in manifest["files"] if f["path"] != "subjects.xlsx"]
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    report = verify_package(package)
    assert any("does not match manifest.json" in p for p in report.problems)
    assert any("subjects.xlsx is in the package but not in the manifest" in p
               for p in report.problems)


def test_changed_or_foreign_signature_fails(package):
    sig_path = package / "manifest.sig"
    good = json.loads(sig_path.read_text())
    bad = dict(good, signature=good["signature"][:-4] + ("AAA=" if good["signature"][-4:] !=
                                                          "AAA=" else "BBB="))
    sig_path.write_text(json.dumps(bad))
    assert any("does not match" in p for p in verify_package(package).problems)
    # A re-signed manifest with another key is caught when the sender's key is pinned.
    from haven.refer.signing import signature_document
    other = Ed25519PrivateKey.generate()
    sig_path.write_bytes(signature_document(other, (package / "manifest.json").read_bytes()))
    assert any("manifest names signer" in p for p in verify_package(package).problems)


def test_pinned_public_key(package, built, tmp_path):
    op, _ = built
    pub = op / "keys" / "signing-ed25519.pub.pem"
    assert verify_package(package, public_key=pub).ok
    other = tmp_path / "other.pem"
    other.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    assert any("not by the expected key" in p
               for p in verify_package(package, public_key=other).problems)


def test_missing_and_extra_files(package):
    (package / "summary.html").unlink()
    (package / "notes.txt").write_text("added later")
    problems = verify_package(package).problems
    assert "summary.html is listed in the manifest but missing" in problems
    assert "notes.txt is in the package but not in the manifest" in problems


def test_cli_verify_exit_codes(package):
    ok = runner.invoke(refer_app, ["verify", str(package)])
    assert ok.exit_code == 0 and "OK" in ok.output
    (package / "subjects.json").write_text("{}")
    bad = runner.invoke(refer_app, ["verify", str(package)])
    assert bad.exit_code == 1 and "subjects.json: SHA-256" in " ".join(bad.output.split())


def _age_keys(tmp_path, code):
    ident = pyrage.x25519.Identity.generate()
    keys = tmp_path / "keys"
    keys.mkdir(exist_ok=True)
    (keys / f"{code}.age.pub").write_text(f"# {code} liaison\n{ident.to_public()}\n")
    id_file = tmp_path / f"{code}.identity.txt"
    id_file.write_text(f"# created for the test\n{ident}\n")
    return keys, id_file


def test_age_archive_round_trip(operation, tmp_path):
    keys, id_file = _age_keys(tmp_path, "FR")
    _, xx_id = _age_keys(tmp_path, "XX")
    out = tmp_path / "out"
    summary = build_packages(operation, out, BuildOptions(keys_dir=keys))
    archives = sorted(p.archive for p in summary.packages if p.archive)
    assert archives == ["FR.tar.age", "XX.tar.age"]
    archive = out / "FR.tar.age"
    assert archive.read_bytes().startswith(b"age-encryption.org/v1")
    assert b"Durandeau" not in archive.read_bytes()
    report = verify_package(archive, identity=id_file)
    assert report.ok and report.code == "FR", report.problems
    # The archive holds exactly the plain package's bytes.
    ident = pyrage.x25519.Identity.from_str(id_file.read_text().split()[-1])
    with tarfile.open(fileobj=io.BytesIO(pyrage.decrypt(archive.read_bytes(), [ident]))) as tar:
        inside = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    assert inside == {f"FR/{p.name}": p.read_bytes() for p in (out / "FR").iterdir()}
    # Another country's identity cannot open it; no identity is a clear error.
    with pytest.raises(KeyFileError, match="cannot decrypt"):
        verify_package(archive, identity=xx_id)
    res = runner.invoke(refer_app, ["verify", str(archive)])
    assert res.exit_code == 2 and "--identity" in " ".join(res.output.split())
    res = runner.invoke(refer_app, ["verify", str(archive), "--identity", str(id_file)])
    assert res.exit_code == 0, res.output


def test_encrypted_only_leaves_no_plain_package(operation, tmp_path):
    keys, id_file = _age_keys(tmp_path, "DE")
    out = tmp_path / "out"
    build_packages(operation, out, BuildOptions(keys_dir=keys, encrypted_only=True,
                                                allow_plaintext=frozenset({"FR"})))
    assert not (out / "DE").exists() and (out / "DE.tar.age").is_file()
    assert (out / "FR").is_dir()          # no key for FR, allowed in clear: plain package only
    assert not (out / "ES").exists()      # no key, not allowed: withheld
    assert verify_package(out / "DE.tar.age", identity=id_file).ok


def test_bad_recipient_file_fails_before_building(operation, tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "FR.age.pub").write_text("not-a-key\n")
    with pytest.raises(KeyFileError, match="line 1"):
        build_packages(operation, tmp_path / "out", BuildOptions(keys_dir=keys))
    assert not (tmp_path / "out" / "FR").exists()


def test_tampered_archive_member_is_caught(operation, tmp_path):
    keys, id_file = _age_keys(tmp_path, "FR")
    out = tmp_path / "out"
    build_packages(operation, out, BuildOptions(keys_dir=keys))
    ident = pyrage.x25519.Identity.from_str(id_file.read_text().split()[-1])
    data = pyrage.decrypt((out / "FR.tar.age").read_bytes(), [ident])
    buf = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, tarfile.open(fileobj=buf, mode="w") as dst:
        for m in src.getmembers():
            body = src.extractfile(m).read() if m.isfile() else None
            if m.name == "FR/subjects.json":
                body = body.replace(b"Durandeau", b"Durandeaz")
            if body is not None:
                m.size = len(body)
            dst.addfile(m, io.BytesIO(body) if body is not None else None)
        evil = tarfile.TarInfo("../escape.txt")
        evil.size = 1
        dst.addfile(evil, io.BytesIO(b"x"))
    forged = tmp_path / "FR-forged.tar.age"
    forged.write_bytes(pyrage.encrypt(buf.getvalue(), [ident.to_public()]))
    problems = verify_package(forged, identity=id_file).problems
    assert any(p.startswith("subjects.json: SHA-256") for p in problems)
    assert "unexpected archive entry: ../escape.txt" in problems
    assert not (tmp_path / "escape.txt").exists()
