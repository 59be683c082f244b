"""Builders of small, synthetic phone extractions (benign generated pictures, made-up device
metadata): Android backups (`.ab`), iOS backup folders and UFDR reports."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zlib


def android_backup(members: dict[str, bytes], *, password: str | None = None,
                   compressed: bool = True, rounds: int = 1000, version: int = 5) -> bytes:
    """An `adb backup` file holding `members` (tar names such as `apps/pkg/f/a.jpg`)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    if compressed:
        data = zlib.compress(data)
    header = [b"ANDROID BACKUP", str(version).encode(), b"1" if compressed else b"0"]
    if password is None:
        return b"\n".join(header + [b"none"]) + b"\n" + data
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    def encrypt(key: bytes, iv: bytes, plain: bytes) -> bytes:
        padder = padding.PKCS7(128).padder()
        padded = padder.update(plain) + padder.finalize()
        encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        return encryptor.update(padded) + encryptor.finalize()

    user_salt, checksum_salt, user_iv = os.urandom(64), os.urandom(64), os.urandom(16)
    master_iv, master = os.urandom(16), os.urandom(32)
    checksum = hashlib.pbkdf2_hmac("sha1", master, checksum_salt, rounds, 32)
    blob = bytes([16]) + master_iv + bytes([32]) + master + bytes([32]) + checksum
    user_key = hashlib.pbkdf2_hmac("sha1", password.encode(), user_salt, rounds, 32)
    header += [b"AES-256", user_salt.hex().upper().encode(), checksum_salt.hex().upper().encode(),
               str(rounds).encode(), user_iv.hex().upper().encode(),
               encrypt(user_key, user_iv, blob).hex().upper().encode()]
    return b"\n".join(header) + b"\n" + encrypt(master, master_iv, data)


def app_manifest(package: str, api_level: int) -> bytes:
    """The `_manifest` an Android backup keeps for each app (format 1)."""
    return f"1\n{package}\n42\n{api_level}\ncom.android.vending\n0\n1\nsig\n".encode()


def ios_backup(folder, files: dict[tuple[str, str], bytes], *, encrypted: bool = False,
               flat: bool = False, extra_rows: list[tuple[str, str, str, int]] = (),
               device: dict | None = None, password: str | None = None):
    """An iOS backup folder (iOS 10+ layout) holding `files` {(domain, relativePath): data}.

    Device metadata is made up (Faker names, random digits); `extra_rows` adds Manifest.db rows
    (fileID, domain, relativePath, flags) whose files are not written. With `password` the
    backup is encrypted as iTunes does (keybag, ManifestKey, per-file keys); `encrypted` alone
    only sets the flag."""
    import plistlib
    import sqlite3
    from datetime import datetime

    from faker import Faker

    fake = Faker()
    Faker.seed(len(files))
    folder.mkdir(parents=True, exist_ok=True)
    info = device or {
        "Device Name": f"{fake.first_name()}'s iPhone",
        "Product Type": "iPhone14,2",
        "Product Version": "17.4.1",
        "Build Version": "21E236",
        "Serial Number": fake.bothify("F##??##??###").upper(),
        "Unique Identifier": fake.sha1().upper(),
        "IMEI": fake.numerify("35###########"),
        "Phone Number": fake.phone_number(),
        "Last Backup Date": datetime(2025, 3, 14, 9, 26, 53),
    }
    (folder / "Info.plist").write_bytes(plistlib.dumps(info))
    (folder / "Manifest.plist").write_bytes(plistlib.dumps({
        "IsEncrypted": encrypted, "Version": "10.0", "Date": datetime(2025, 3, 14, 9, 20, 0),
        "Lockdown": {"DeviceName": info.get("Device Name", ""), "ProductVersion": "17.4.1"}}))
    (folder / "Status.plist").write_bytes(plistlib.dumps(
        {"IsFullBackup": False, "Version": "3.3", "Date": datetime(2025, 3, 14, 9, 26, 50)}))
    keys = _IosKeys(password) if password is not None else None
    con = sqlite3.connect(folder / "Manifest.db")
    con.execute("create table Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, "
                "flags INTEGER, file BLOB)")
    for (domain, relative), data in files.items():
        file_id = hashlib.sha1(f"{domain}-{relative}".encode()).hexdigest()
        where = folder if flat else folder / file_id[:2]
        where.mkdir(exist_ok=True)
        record = b""
        if keys is not None:
            data, record = keys.encrypt_file(data, relative)
        (where / file_id).write_bytes(data)
        con.execute("insert into Files values (?, ?, ?, 1, ?)", (file_id, domain, relative, record))
        parent = relative.rsplit("/", 1)[0] if "/" in relative else ""
        parent_id = hashlib.sha1(f"{domain}-{parent}".encode()).hexdigest()
        con.execute("insert or ignore into Files values (?, ?, ?, 2, ?)",
                    (parent_id, domain, parent, b""))
    for row in extra_rows:
        con.execute("insert into Files values (?, ?, ?, ?, ?)", (*row, b""))
    con.commit()
    con.close()
    if keys is not None:
        db = folder / "Manifest.db"
        db.write_bytes(_cbc(keys.manifest_key, db.read_bytes()))
        manifest = plistlib.loads((folder / "Manifest.plist").read_bytes())
        manifest.update(IsEncrypted=True, BackupKeyBag=keys.keybag, ManifestKey=keys.wrapped_manifest_key)
        (folder / "Manifest.plist").write_bytes(plistlib.dumps(manifest, fmt=plistlib.FMT_BINARY))
    return folder


def _cbc(key: bytes, plain: bytes) -> bytes:
    """AES-256-CBC, zero IV, PKCS#7: how an iOS backup encrypts Manifest.db and each file."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).encryptor()
    return encryptor.update(padder.update(plain) + padder.finalize()) + encryptor.finalize()


class _IosKeys:
    """A made-up backup keybag for `password` (few PBKDF2 rounds: the real ones take seconds)."""

    CLASSES = (1, 2, 3, 4)

    def __init__(self, password: str, dpic: int = 1000, iterations: int = 100):
        import struct

        from cryptography.hazmat.primitives.keywrap import aes_key_wrap

        def tlv(tag: bytes, value: bytes | int) -> bytes:
            raw = struct.pack(">I", value) if isinstance(value, int) else value
            return tag + struct.pack(">I", len(raw)) + raw

        dpsl, salt = os.urandom(20), os.urandom(20)
        kek = hashlib.pbkdf2_hmac("sha1", hashlib.pbkdf2_hmac("sha256", password.encode(), dpsl, dpic, 32),
                                  salt, iterations, 32)
        self.class_keys = {n: os.urandom(32) for n in self.CLASSES}
        blob = b"".join([tlv(b"VERS", 4), tlv(b"TYPE", 1), tlv(b"UUID", os.urandom(16)),
                         tlv(b"HMCK", os.urandom(40)), tlv(b"WRAP", 0), tlv(b"SALT", salt),
                         tlv(b"ITER", iterations), tlv(b"DPWT", 1), tlv(b"DPIC", dpic),
                         tlv(b"DPSL", dpsl)])
        for number, key in self.class_keys.items():
            blob += b"".join([tlv(b"UUID", os.urandom(16)), tlv(b"CLAS", number), tlv(b"WRAP", 3),
                              tlv(b"KTYP", 0), tlv(b"WPKY", aes_key_wrap(kek, key))])
        self.keybag = blob
        self.manifest_key = os.urandom(32)
        self.wrapped_manifest_key = struct.pack("<I", 4) + aes_key_wrap(self.class_keys[4], self.manifest_key)
        self._wrap = aes_key_wrap

    def encrypt_file(self, data: bytes, relative: str) -> tuple[bytes, bytes]:
        """(encrypted content, the Manifest.db `file` plist naming its wrapped key and size)."""
        import plistlib
        import struct

        key, number = os.urandom(32), 3
        wrapped = struct.pack("<I", number) + self._wrap(self.class_keys[number], key)
        UID = plistlib.UID
        archive = {
            "$version": 100000, "$archiver": "NSKeyedArchiver", "$top": {"root": UID(1)},
            "$objects": [
                "$null",
                {"$class": UID(4), "RelativePath": UID(2), "Size": len(data), "ProtectionClass": number,
                 "EncryptionKey": UID(3), "LastModified": 1_700_000_000, "Mode": 33188},
                relative,
                {"$class": UID(5), "NS.data": wrapped},
                {"$classname": "MBFile", "$classes": ["MBFile", "NSObject"]},
                {"$classname": "NSMutableData", "$classes": ["NSMutableData", "NSData", "NSObject"]},
            ]}
        return _cbc(key, data), plistlib.dumps(archive, fmt=plistlib.FMT_BINARY)


def ufdr(files: list[dict], *, extra_members: dict[str, bytes] | None = None,
         device: dict | None = None) -> bytes:
    """A UFDR: a zip with a Cellebrite-style report.xml tagging `files`.

    Each of `files` is {"fs", "path", "local", "data", "deleted"(opt), "in_zip"(opt, True)}."""
    import zipfile
    from xml.sax.saxutils import escape, quoteattr

    from faker import Faker

    fake = Faker()
    Faker.seed(7)
    device = device or {"DeviceInfoSelectedManufacturer": "Samsung",
                        "DeviceInfoSelectedDeviceName": "SM-G991B Galaxy S21 5G",
                        "IMEI": fake.numerify("35###########"),
                        "DeviceInfoExtractionStartDateTime": "14/03/2025 09:20:00 +00:00"}
    rows = []
    for n, f in enumerate(files):
        rows.append(
            f'<file fs={quoteattr(f["fs"])} path={quoteattr(f["path"])} size="{len(f["data"])}" '
            f'id="{n}" extractionId="0" deleted="{"Deleted" if f.get("deleted") else "Intact"}">'
            '<accessInfo><timestamp name="ModifyTime">2025-03-01T10:00:00.000+00:00</timestamp></accessInfo>'
            f'<metadata section="File"><item name="Local Path"><![CDATA[{f["local"]}]]></item>'
            '<item name="Tags"><![CDATA[Image]]></item></metadata></file>')
    items = "".join(f'<item name={quoteattr(k)}>{escape(v)}</item>' for k, v in device.items())
    report = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<project xmlns="http://pa.cellebrite.com/report/2.0" id="p1" name="Synthetic" '
        'reportVersion="7.60" extractionType="FileSystem" NodeCount="3" ModelCount="1">'
        '<sourceExtractions><extractionInfo id="0" name="File System" type="FileSystem" '
        'deviceName="Galaxy S21" fullName="Samsung SM-G991B Galaxy S21" index="0"/></sourceExtractions>'
        '<caseInformation><field name="Examiner" fieldType="ExaminerName">'
        f'{escape(fake.name())}</field></caseInformation>'
        f'<metadata section="Device Info">{items}</metadata>'
        '<metadata section="Extraction Data"><item name="ExtractionType">File System</item></metadata>'
        f'<taggedFiles>{"".join(rows)}</taggedFiles>'
        '<decodedData><modelType type="Chat"><model type="Chat" id="m1">'
        '<field name="Source"><value type="String">Example</value></field></model></modelType></decodedData>'
        '</project>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for f in files:
            if f.get("in_zip", True):
                archive.writestr(f["local"].replace("\\", "/"), f["data"])
        for name, data in (extra_members or {}).items():
            archive.writestr(name, data)
        archive.writestr("report.xml", report)
    return buffer.getvalue()
