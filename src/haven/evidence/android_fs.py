"""Android full file-system extractions (a tar or zip of the phone's partitions, or the folder
they were unpacked to): recognised by the system partition's `build.prop`.

Such an extraction needs no reader of its own: its members already carry their paths on the
phone (`phone.tar/data/media/0/DCIM/…`). What it records about the device is in
`system/build.prop` (`system/system/build.prop` on system-as-root layouts): manufacturer,
model, Android version, build fingerprint, security patch level. The walker shows this module
every item whose path ends so (from the first 64 KiB it has read anyway) and passes on the
`Extraction` it returns, rooted at the folder or archive that holds `system/`. The format
records no extraction time and no serial number; neither is guessed.
"""

from __future__ import annotations

from haven.evidence.base import Extraction

_MARKERS = ("/system/system/build.prop", "/system/build.prop")
_FIELDS = (  # summary key -> build.prop keys, first present wins
    ("manufacturer", ("ro.product.manufacturer", "ro.product.system.manufacturer")),
    ("brand", ("ro.product.brand", "ro.product.system.brand")),
    ("model", ("ro.product.model", "ro.product.system.model")),
    ("device", ("ro.product.device", "ro.product.system.device")),
    ("android_version", ("ro.build.version.release", "ro.system.build.version.release")),
    ("api_level", ("ro.build.version.sdk", "ro.system.build.version.sdk")),
    ("build_id", ("ro.build.id", "ro.system.build.id")),
    ("fingerprint", ("ro.build.fingerprint", "ro.system.build.fingerprint")),
    ("security_patch", ("ro.build.version.security_patch",)),
    ("build_date", ("ro.build.date", "ro.system.build.date")),
)


def build_properties(data: bytes) -> dict[str, str]:
    """`key=value` lines of a build.prop (comments and blank lines skipped)."""
    props: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        props.setdefault(key.strip(), value.strip())
    return props


def extraction_of(path: str, head: bytes) -> Extraction | None:
    """The Android file-system extraction whose build.prop is the item at `path`, or None."""
    for marker in _MARKERS:
        if path.endswith(marker):
            root = path[: -len(marker)]
            break
    else:
        return None
    props = build_properties(head)
    record: dict = {"format": "Android file-system extraction"}
    for name, keys in _FIELDS:
        for key in keys:
            if props.get(key):
                record[name] = props[key]
                break
    if len(record) == 1:
        return None  # a file named build.prop that says nothing about a phone
    record["build_prop"] = path[len(root) + 1:]
    return Extraction(root, "android-fs", record)
