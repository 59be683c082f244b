"""Encrypted evidence: opened with the scan's passwords and key files, or reported by name.

LUKS volumes are real (cryptsetup's header, see crypt_fixtures), read through libluksde; the
files found inside are compared with the walk of the same file system unencrypted. Zip
(ZipCrypto and AES) and 7z archives are made by 7-Zip. BitLocker is checked on its error
path only: no open tool writes a BitLocker volume.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from haven.errors import EvidenceError
from haven.evidence.base import Item, Limits, Problem
from haven.evidence.keys import KeyFile, Keyring, load_keyring
from haven.evidence.walk import walk

from crypt_fixtures import luks2_image, luks_image, seven_zip
from disk_fixtures import MiB, ext4_image, fat_image, partitioned, picture, run, write_at

PASSPHRASE = "violet-tangerine-42"
FILES = {"a.jpg": picture(1), "docs/b.jpg": picture(2)}


def listing(path: Path, keys: Keyring = Keyring()) -> tuple[dict[str, str], list[Problem]]:
    """{item path: md5} of every member (below the top file) and the problems."""
    found, problems = {}, []
    for entry in walk([str(path)], Limits(keys=keys)):
        if isinstance(entry, Problem):
            problems.append(entry)
        elif entry.path.count("/") >= 1:
            found[entry.path] = hashlib.md5(entry.read_all()).hexdigest()
    return found, problems


@pytest.fixture(scope="module")
def fat(tmp_path_factory) -> Path:
    return fat_image(tmp_path_factory.mktemp("plain") / "fat.img", FILES)


def test_luks_volume_opens_with_its_passphrase_and_matches_the_plain_file_system(tmp_path, fat):
    image = luks_image(tmp_path / "secret.img", fat, PASSPHRASE)
    plain, plain_problems = listing(fat)
    assert plain_problems == [] and len(plain) == 2
    found, problems = listing(image, Keyring(["wrong one", PASSPHRASE]))
    assert problems == []
    assert found == {path.replace("fat.img/", "secret.img/"): md5 for path, md5 in plain.items()}


def test_luks_volume_without_the_passphrase_is_an_error_naming_luks_and_the_option(tmp_path, fat):
    image = luks_image(tmp_path / "secret.img", fat, PASSPHRASE)
    for keys, tried in ((Keyring(), "no password or key file was given"),
                        (Keyring(["nope", "also nope"]), "none of the 2 passwords")):
        found, problems = listing(image, keys)
        assert found == {}
        assert [(p.path, p.kind) for p in problems] == [("secret.img", "encrypted")]
        assert problems[0].reason.startswith("LUKS volume; give its passphrase in "
                                             "`--passwords`")
        assert tried in problems[0].reason
        assert "nope" not in problems[0].reason


@pytest.mark.parametrize("sector_size,kdf", [(512, "pbkdf2"), (4096, "argon2id"), (4096, "argon2i")])
def test_luks2_volume_encrypted_by_cryptsetup_opens_with_its_passphrase(tmp_path, sector_size, kdf):
    # 4096-byte sectors need a file system with 4 KiB blocks under them (cryptsetup checks).
    plain = ext4_image(tmp_path / "plain.ext4", FILES, size=8 * MiB, block_size=4096)
    image = luks2_image(tmp_path / "secret.img", plain, PASSPHRASE, sector_size, kdf)
    found, problems = listing(image, Keyring(["wrong one", PASSPHRASE]))
    assert problems == []
    assert found == {f"secret.img/{n}": hashlib.md5(d).hexdigest() for n, d in FILES.items()}
    found, problems = listing(image, Keyring(["wrong one"]))
    assert found == {}
    assert [(p.path, p.kind) for p in problems] == [("secret.img", "encrypted")]
    assert problems[0].reason.startswith("LUKS volume; give its passphrase")


def test_luks2_header_copy_is_used_when_the_first_is_damaged(tmp_path, fat):
    image = luks2_image(tmp_path / "secret.img", fat, PASSPHRASE)
    write_at(image, 4096, b"{garbage" * 64)  # the primary JSON metadata
    found, problems = listing(image, Keyring([PASSPHRASE]))
    assert problems == [] and len(found) == 2


def test_luks_partition_inside_a_disk_is_walked_under_the_partition_path(tmp_path, fat):
    volume = luks_image(tmp_path / "vol.luks", fat, PASSPHRASE)
    disk = tmp_path / "laptop.raw"
    partitioned(disk, [fat, volume], "gpt")
    found, problems = listing(disk, Keyring([PASSPHRASE]))
    assert problems == []
    md5 = hashlib.md5(FILES["docs/b.jpg"]).hexdigest()
    assert found["laptop.raw/p1/docs/b.jpg"] == md5
    assert found["laptop.raw/p2/docs/b.jpg"] == md5
    locked, problems = listing(disk)
    assert "laptop.raw/p2/docs/b.jpg" not in locked and "laptop.raw/p1/docs/b.jpg" in locked
    assert [(p.path, p.kind) for p in problems] == [("laptop.raw/p2", "encrypted")]


def test_luks_key_file_opens_the_volume(tmp_path, fat):
    image = luks_image(tmp_path / "secret.img", fat, PASSPHRASE)
    key = tmp_path / "keys" / "secret.key"
    key.parent.mkdir()
    key.write_text(PASSPHRASE)
    found, problems = listing(image, load_keyring(None, [key]))
    assert problems == [] and len(found) == 2


def test_bitlocker_volume_without_a_key_is_an_error_naming_bitlocker_and_key_file(tmp_path):
    # A BitLocker boot sector (signature "-FVE-FS-") over random bytes: the error path only.
    image = tmp_path / "laptop.img"
    image.write_bytes(bytes(range(256)) * (4 * MiB // 256))
    write_at(image, 0, b"\xeb\x58\x90-FVE-FS-")
    write_at(image, 510, b"\x55\xaa")
    found, problems = listing(image, Keyring(["1234"]))
    assert found == {}
    assert [(p.path, p.kind) for p in problems] == [("laptop.img", "encrypted")]
    assert problems[0].reason.startswith("BitLocker volume")
    assert "1234" not in problems[0].reason


ZIPPED = {"a.jpg": picture(3), "b.txt": b"benign note\n"}


@pytest.mark.parametrize("method", ["ZipCrypto", "AES256"])
def test_encrypted_zip_members_open_with_the_password(tmp_path, method):
    pack = seven_zip(tmp_path / "pack.zip", ZIPPED, PASSPHRASE, f"-mem={method}")
    want = {f"pack.zip/{n}": hashlib.md5(d).hexdigest() for n, d in ZIPPED.items()}
    found, problems = listing(pack, Keyring(["first guess", PASSPHRASE]))
    assert problems == [] and found == want
    flags = {e.path: e.flags for e in walk([str(pack)], Limits(keys=Keyring([PASSPHRASE])))
             if isinstance(e, Item)}
    assert flags["pack.zip/a.jpg"] == {"unlocked": True}
    found, problems = listing(pack, Keyring(["first guess"]))
    assert found == {}
    cipher = "AES" if method == "AES256" else "ZipCrypto"
    assert sorted(p.path for p in problems) == sorted(want)
    assert all(p.kind == "encrypted" and p.reason.startswith(f"zip member ({cipher}); "
                                                             "give its password in `--passwords`")
               for p in problems)


@pytest.mark.parametrize("names_encrypted", [False, True])
def test_encrypted_7z_opens_with_the_password(tmp_path, names_encrypted):
    pack = seven_zip(tmp_path / "pack.7z", ZIPPED, PASSPHRASE,
                     "-mhe=on" if names_encrypted else "-mhe=off")
    want = {f"pack.7z/{n}": hashlib.md5(d).hexdigest() for n, d in ZIPPED.items()}
    found, problems = listing(pack, Keyring(["first guess", PASSPHRASE]))
    assert problems == [] and found == want
    found, problems = listing(pack, Keyring(["first guess"]))
    assert found == {}
    if names_encrypted:
        assert [(p.path, p.kind) for p in problems] == [("pack.7z", "encrypted")]
        assert problems[0].reason.startswith("7z archive with encrypted names; give "
                                             "its password in `--passwords`")
    else:
        assert sorted(p.path for p in problems) == sorted(want)
        assert all(p.reason.startswith("7z member; give its password") for p in problems)


def test_keyring_prints_counts_never_secrets(tmp_path):
    key = KeyFile(str(tmp_path / "D.BEK"), b"x" * 64)
    keys = Keyring([PASSPHRASE], [key])
    for text in (repr(keys), str(keys), repr(Limits(keys=keys)), keys.tried()):
        assert PASSPHRASE not in text and "xxxx" not in text
    assert "1 passwords" in repr(keys)


def test_passwords_file_lines_and_recovery_passwords(tmp_path):
    recovery = "-".join(["123456"] * 8)
    file = tmp_path / "pw.txt"
    file.write_bytes(f" with spaces \r\n\n{recovery}\nplain\n".encode())
    text = tmp_path / "BitLocker Recovery Key.TXT"
    other = "-".join(["654321"] * 8)
    text.write_bytes(f"BitLocker Drive Encryption recovery key\r\nRecovery Key:\r\n{other}\r\n"
                     .encode("utf-16"))
    keys = load_keyring(file, [text])
    assert keys.passwords == (" with spaces ", recovery, "plain")
    assert keys.recovery_passwords() == (recovery, other)


def test_unreadable_passwords_file_is_one_evidence_error_naming_the_file(tmp_path):
    bad = tmp_path / "pw.bin"
    bad.write_bytes(b"\xff\xfe\xfa secret")
    with pytest.raises(EvidenceError, match="pw.bin.*not UTF-8") as caught:
        load_keyring(bad)
    assert "secret" not in str(caught.value)
    with pytest.raises(EvidenceError, match="missing.key"):
        load_keyring(None, [tmp_path / "missing.key"])


def _encrypted_qcow2(raw: Path, target: Path, fmt: str) -> Path:
    run("qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", "--object",
        f"secret,id=sec0,data={PASSPHRASE}", "-o", f"encrypt.format={fmt},encrypt.key-secret=sec0",
        raw, target)
    return target


def test_aes_encrypted_qcow2_opens_with_its_password(tmp_path, fat):
    image = _encrypted_qcow2(fat, tmp_path / "vm.qcow2", "aes")
    found, problems = listing(image, Keyring(["wrong one", PASSPHRASE]))
    assert problems == []
    assert found == {f"vm.qcow2/{n}": hashlib.md5(d).hexdigest() for n, d in FILES.items()}
    found, problems = listing(image, Keyring(["wrong one"]))
    assert found == {}
    assert [(p.path, p.kind) for p in problems] == [("vm.qcow2", "encrypted")]
    assert problems[0].reason.startswith("QCOW image encrypted (AES); give its password")


def test_luks_encrypted_qcow2_is_an_error_naming_it(tmp_path, fat):
    # qemu-img cannot time LUKS's PBKDF here ("Unable to get accurate CPU usage"): the header
    # of a plain QCOW2 says LUKS instead (crypt_method 2), which is all haven looks at.
    image = tmp_path / "vm.qcow2"
    run("qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", fat, image)
    write_at(image, 32, (2).to_bytes(4, "big"))
    found, problems = listing(image, Keyring([PASSPHRASE]))
    assert found == {}
    assert [(p.path, p.kind) for p in problems] == [("vm.qcow2", "encrypted")]
    assert "QCOW2 image encrypted with LUKS" in problems[0].reason
