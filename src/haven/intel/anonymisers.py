"""Offline lists of anonymising networks: Tor exit lists and hosting/VPN/cloud address ranges.

Nothing is bundled and nothing is fetched: the analyst passes files saved beforehand.

- Tor exit lists: the Tor Project's bulk exit list (one address a line) or its
  exit-addresses format (`ExitNode …` / `ExitAddress 1.2.3.4 2024-01-01 00:00:00` blocks).
- Hosting ranges: one CIDR (or address) a line, optionally followed by a name, separated
  by whitespace, a comma or a tab (`203.0.113.0/24 ExampleCloud`).

`#` starts a comment. Lines that are neither are counted as bad, with their line numbers.
Lookups are batched: single addresses in a set, ranges as sorted disjoint integer
intervals searched with numpy (IPv4) or bisect (IPv6), so hundreds of thousands of
addresses take a fraction of a second.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import socket
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from haven.intel.errors import IntelError

TOR_EXIT = "tor_exit"
HOSTING_RANGE = "hosting_range"
KINDS = (TOR_EXIT, HOSTING_RANGE)

_SPLIT = re.compile(r"[\s,;]+")


class AnonymiserListError(IntelError):
    """An anonymiser list cannot be read or holds no address at all."""


@dataclass(frozen=True)
class ListSource:
    """Provenance of one list file, recorded in attribution.json and every package."""

    kind: str
    file: str
    path: str
    sha256: str
    format: str
    lines: int
    entries: int
    bad_lines: int
    first_bad_lines: tuple[int, ...] = ()


@dataclass(frozen=True)
class Hit:
    """An address found in a list: which kind, which list, which range and name."""

    kind: str
    file: str
    entry: str
    name: str | None = None


@dataclass
class _Parsed:
    singles: dict[int, list[tuple[int, str | None]]] = field(default_factory=dict)
    ranges: list[tuple[int, int, int, str, str | None]] = field(default_factory=list)
    bad: list[int] = field(default_factory=list)
    lines: int = 0


def _parse(text: str, kind: str) -> tuple[_Parsed, str]:
    """Addresses and ranges in a list's text; the format is told by its content."""
    out = _Parsed()
    exit_format = bool(re.search(r"^ExitAddress\s", text, re.M))
    fmt = "tor-exit-addresses" if exit_format else (
        "tor-bulk-exit-list" if kind == TOR_EXIT else "cidr-list")
    for n, raw in enumerate(text.splitlines(), start=1):
        out.lines = n
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if exit_format:
            parts = line.split()
            if parts[0] != "ExitAddress":
                continue  # ExitNode, Published, LastStatus lines of the same block
            if len(parts) < 2:
                out.bad.append(n)
                continue
            token, name = parts[1], None
        else:
            parts = _SPLIT.split(line, maxsplit=1)
            token = parts[0]
            name = (parts[1].strip() or None) if len(parts) > 1 else None
        try:
            net = ipaddress.ip_network(token.strip("[]"), strict=False)
        except ValueError:
            out.bad.append(n)
            continue
        if net.num_addresses == 1:
            out.singles.setdefault(net.version, []).append((int(net.network_address), name))
        else:
            out.ranges.append((net.version, int(net.network_address),
                               int(net.broadcast_address), str(net), name))
    return out, fmt


class AnonymiserIndex:
    """Every loaded list, searchable by address in one batch."""

    def __init__(self) -> None:
        self.sources: list[ListSource] = []
        self._singles: dict[tuple[int, int], list[Hit]] = {}
        self._ranges: dict[int, list[tuple[int, int, Hit]]] = {4: [], 6: []}
        self._built: dict[int, tuple[Sequence[int], Sequence[int], list[list[Hit]]]] = {}

    def add_file(self, path: Path, kind: str) -> ListSource:
        """Read one list file of `kind` (tor_exit or hosting_range)."""
        if kind not in KINDS:
            raise AnonymiserListError(f"unknown list kind {kind!r}; use one of {KINDS}")
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise AnonymiserListError(f"cannot read {path}: {exc.strerror or exc}") from exc
        text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
        parsed, fmt = _parse(text, kind)
        entries = sum(len(v) for v in parsed.singles.values()) + len(parsed.ranges)
        if entries == 0:
            raise AnonymiserListError(
                f"{path}: no IP address or CIDR range found ({parsed.lines} lines); expected "
                "a Tor exit list or one CIDR a line")
        source = ListSource(kind, path.name, str(path.resolve()),
                            hashlib.sha256(data).hexdigest(), fmt, parsed.lines, entries,
                            len(parsed.bad), tuple(parsed.bad[:10]))
        for version, items in parsed.singles.items():
            for value, name in items:
                entry = str(ipaddress.ip_address(value) if version == 4
                            else ipaddress.IPv6Address(value))
                hit = Hit(kind, path.name, entry, name)
                hits = self._singles.setdefault((version, value), [])
                if hit not in hits:
                    hits.append(hit)
        for version, lo, hi, cidr, name in parsed.ranges:
            self._ranges[version].append((lo, hi, Hit(kind, path.name, cidr, name)))
        self._built.clear()
        self.sources.append(source)
        return source

    def _build(self, version: int) -> tuple[Sequence[int], Sequence[int], list[list[Hit]]]:
        """Disjoint sorted intervals: overlapping ranges are cut into pieces carrying all hits."""
        if version in self._built:
            return self._built[version]
        ranges = self._ranges[version]
        points = sorted({lo for lo, _, _ in ranges} | {hi + 1 for _, hi, _ in ranges})
        starts: list[int] = []
        ends: list[int] = []
        hits: list[list[Hit]] = []
        if ranges:
            # Sweep: for each elementary piece between consecutive points, the ranges covering it.
            by_start = sorted(ranges, key=lambda r: r[0])
            active: list[tuple[int, int, Hit]] = []
            k = 0
            for a, b in zip(points, points[1:]):
                while k < len(by_start) and by_start[k][0] <= a:
                    active.append(by_start[k])
                    k += 1
                active = [r for r in active if r[1] >= a]
                if active:
                    piece = [h for _, _, h in active]
                    if starts and ends[-1] == a - 1 and hits[-1] == piece:
                        ends[-1] = b - 1
                    else:
                        starts.append(a)
                        ends.append(b - 1)
                        hits.append(piece)
        if version == 4:
            built = (np.asarray(starts, dtype=np.uint64), np.asarray(ends, dtype=np.uint64), hits)
        else:
            built = (starts, ends, hits)
        self._built[version] = built
        return built

    def lookup(self, addresses: Iterable[str]) -> dict[str, list[Hit]]:
        """The addresses found in any list, with every hit; others are absent."""
        out: dict[str, list[Hit]] = {}
        v4: list[tuple[str, int]] = []
        v6: list[tuple[str, int]] = []
        singles = self._singles
        for text in addresses:
            parsed = _address(text)
            if parsed is None:
                continue
            version, value = parsed
            single = singles.get(parsed)
            if single:
                out[text] = list(single)
            (v4 if version == 4 else v6).append((text, value))
        if v4 and self._ranges[4]:
            starts, ends, hits = self._build(4)
            values = np.fromiter((v for _, v in v4), dtype=np.uint64, count=len(v4))
            idx = np.searchsorted(starts, values, side="right") - 1
            ok = (idx >= 0) & (values <= ends[np.maximum(idx, 0)])
            found = np.flatnonzero(ok)
            for j, i in zip(found.tolist(), idx[found].tolist()):
                out.setdefault(v4[j][0], []).extend(hits[i])
        if v6 and self._ranges[6]:
            starts6, ends6, hits6 = self._build(6)
            for text, value in v6:
                i = bisect_right(starts6, value) - 1  # type: ignore[arg-type]
                if i >= 0 and value <= ends6[i]:
                    out.setdefault(text, []).extend(hits6[i])
        return out


_V4_MAPPED = bytes(10) + b"\xff\xff"


def _address(text: str) -> tuple[int, int] | None:
    """(version, integer) of an address; socket's parser is ~10× faster than ipaddress."""
    try:
        if ":" not in text:
            return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
        packed = socket.inet_pton(socket.AF_INET6, text)
    except (OSError, ValueError):
        return None
    if packed[:12] == _V4_MAPPED:
        return 4, int.from_bytes(packed[12:], "big")
    return 6, int.from_bytes(packed, "big")


def load_index(tor_exits: Iterable[Path] = (), hosting_ranges: Iterable[Path] = ()
               ) -> AnonymiserIndex:
    index = AnonymiserIndex()
    for p in tor_exits:
        index.add_file(Path(p), TOR_EXIT)
    for p in hosting_ranges:
        index.add_file(Path(p), HOSTING_RANGE)
    return index
