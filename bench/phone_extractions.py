"""Walk a folder of phone extractions (peer projects' public test data, never committed) and
print, for each extraction haven recognises, its record and what was found inside it.

    .venv/bin/python bench/phone_extractions.py FOLDER [--passwords FILE]

For evaluating the phone readers (`.ab`, iOS backup folders, UFDR, Android file systems) on
data made by real tools rather than haven's own test builders: every extraction record
(`summary.json`'s `extractions`), the items under it (count, bytes, a few paths) and every
problem, so a reader's misses are visible. Not a pass/fail test; the figures in
docs/benchmarks.md name the data they came from.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict

from haven.evidence.base import Extraction, Item, Limits, Problem
from haven.evidence.keys import load_keyring
from haven.evidence.walk import walk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--passwords", default=None, help="file of passwords, one a line")
    parser.add_argument("--show", type=int, default=5, help="item paths shown per extraction")
    args = parser.parse_args()
    limits = Limits(keys=load_keyring(args.passwords, ()))
    found: list[Extraction] = []
    items: list[tuple[str, int]] = []
    problems: list[Problem] = []
    start = time.perf_counter()
    for entry in walk([args.folder], limits, extractions=found):
        if isinstance(entry, Item):
            with entry.open() as fh:
                size = sum(len(chunk) for chunk in iter(lambda: fh.read(1 << 20), b""))
            items.append((entry.path, size))
        else:
            problems.append(entry)
    seconds = time.perf_counter() - start
    print(f"{len(items)} items, {len(problems)} problems, {len(found)} extractions in {seconds:.2f} s")
    under: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for path, size in items:
        owners = [r.path for r in found if path.startswith(r.path + "/")]
        if owners:
            under[max(owners, key=len)].append((path, size))
    for record in found:
        inside = under.get(record.path, [])
        print(f"\n== {record.kind}: {record.path}")
        print(json.dumps(record.metadata, indent=1, sort_keys=True, default=str))
        print(f"   {len(inside)} items, {sum(s for _, s in inside)} bytes")
        for path, size in inside[: args.show]:
            print(f"   {size:>10}  {path}")
    if problems:
        print("\n== problems")
        for problem in problems:
            print(f"   {problem.kind:<12} {problem.path}: {problem.reason}")


if __name__ == "__main__":
    main()
