"""What a hash-set importer yields: entries, malformed lines, and the category scheme."""

from __future__ import annotations

from dataclasses import dataclass, field

from haven.errors import HashSetNameError

#: findings.csv joins several matches' set names with "; " (`haven.report.findings.MATCH_SEP`)
NAME_FORBIDDEN = ";"
NAME_MAX = 200


def check_set_name(name: str) -> str:
    """The name a hash set is stored under (surrounding spaces dropped); `HashSetNameError`
    when it is blank (an unset shell variable), too long, or holds a control character or
    ';' (findings.csv separates matches with it)."""
    clean = name.strip()
    if not clean:
        raise HashSetNameError("the hash-set name is blank: give --name a name, e.g. --name ncmec")
    if len(clean) > NAME_MAX:
        raise HashSetNameError(f"the hash-set name is {len(clean)} characters long; at most "
                               f"{NAME_MAX}")
    if NAME_FORBIDDEN in clean or not clean.isprintable():
        raise HashSetNameError(f"the hash-set name {clean[:60]!r} holds ';' or a control "
                               "character; findings.csv separates matches with ';'")
    return clean


@dataclass
class HashEntry:
    """One known signal set (any of the registered entry signals: md5, sha1, sha256, pdq) with its labels.

    Hex digests are lower-case. `category` is kept as the source wrote it (a string) under
    `scheme` (e.g. "vics-us", "vics-uk", "industry", "baseline", "icse", "pytx"); numbers are
    never compared across schemes.
    """

    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    pdq: str | None = None
    sha512: str | None = None
    category: str | None = None
    scheme: str | None = None
    series: str | None = None
    victim_identified: bool | None = None
    line: int | None = None  # line/row/record number in the source, 1-based
    extra: dict = field(default_factory=dict)  # anything else worth keeping (ids, tags, size)

    def signal_values(self) -> dict[str, str]:
        """{signal type: value} of the signals this entry holds, in the registry's order.

        Every registered type with an entry column (`SignalType.entry_column`) is a field of
        this class (a test checks it)."""
        from haven import signals

        return {t.name: v for t in signals.entry_types() if (v := getattr(self, t.name, None))}


@dataclass
class Malformed:
    line: int
    reason: str


@dataclass
class ImportResult:
    format: str
    entries: list[HashEntry] = field(default_factory=list)
    malformed: list[Malformed] = field(default_factory=list)
    scheme: str | None = None
    known_good_hint: bool = False  # the format itself says known-good (NSRL, VICS 1.2 list)
    empty_file: bool = False  # the file held nothing at all (blank lines or a BOM at most)
    #: source ids the file retracts (an incremental feed's deleted media, e.g. NCMEC's
    #: `deletedImage`): a store that keeps earlier feeds deletes their entries
    tombstones: list[str] = field(default_factory=list)
    #: what the user should know about how the file was read (printed after the import)
    notes: list[str] = field(default_factory=list)
