"""A small hand-made attributed operation: subjects.jsonl plus the records in the store.

Names, e-mails and phones are invented for the tests. Each subject has distinctive values
so a test can search every package file for values that must not be there.
"""

from __future__ import annotations

import json
from pathlib import Path

from haven.intel.fields import FIELDS
from haven.intel.store import open_store

SHA = "ab" * 32
FILE = "customers.csv"

# subject_id → (country, countries, review, records: [(row, fields)], indicators)
SUBJECTS = {
    "S-fr0000000001": ("FR", ["FR"], False, [
        (1, {"full_name": "Amelie Durandeau", "email": "amelie.durandeau@example.fr",
             "phone": "+33612345678", "country": "FR", "ip": "192.0.2.10"}),
        (2, {"full_name": "Amélie Durandeau", "email": "amelie.durandeau@example.fr",
             "city": "Lyon", "country": "France"})], []),
    "S-de0000000001": ("DE", ["DE"], False, [
        (3, {"full_name": "=HYPERLINK(\"http://x.test\",\"klick\")",
             "email": "hans.weberling@example.de", "phone": "-49301234567",
             "street": "@SUM(1+1)", "country": "DE"})], []),
    "S-es0000000001": ("ES", ["ES", "FR"], False, [
        (4, {"full_name": "Lucia Gomezvilla", "email": "lucia.gomezvilla@example.es",
             "country": "ES", "card_country": "FR"})], []),
    "S-rv0000000001": (None, ["IT", "PT"], True, [
        (5, {"full_name": "Giulia Rossetti", "email": "giulia.rossetti@example.it",
             "country": "IT", "card_country": "PT"})], []),
    "S-un0000000001": (None, [], False, [
        (6, {"full_name": "Nemo Nobodyson", "email": "nemo.nobodyson@example.org"})], []),
    "S-jm0000000001": ("JM", ["JM"], False, [
        (7, {"full_name": "Rohan Campbellton", "email": "rohan.campbellton@example.jm",
             "country": "JM"})], []),
    "S-us0000000001": ("US", ["US"], False, [
        (8, {"full_name": "John Carterfield", "email": "john.carterfield@mailinator.com",
             "country": "US"}),
        (9, {"full_name": "John Carterfield", "username": "jcarterfield", "country": "US",
             "ip": "2001:db8::7"})],
        [{"kind": "disposable_email", "detail": "disposable e-mail domain mailinator.com",
          "records": [{"file": FILE, "row": 8}]}]),
}

#: Distinctive values per subject, to look for in packages.
MARKERS = {
    sid: sorted({v for _, f in recs for k, v in f.items()
                 if k in ("full_name", "email", "username") and not v.startswith("=")})
    for sid, (_, _, _, recs, _) in SUBJECTS.items()
}


def write_operation(op: Path) -> Path:
    con = open_store(op, create=True)
    try:
        con.execute("INSERT INTO files (sha256, file, path, format, encoding, rows, records, "
                    "problems) VALUES (?, ?, ?, 'csv', 'utf-8', 9, 9, 0)",
                    [SHA, FILE, f"/evidence/{FILE}"])
        cols = ["record_id", "sha256", "file", "row", "line", *FIELDS]
        for _, (_, _, _, recs, _) in SUBJECTS.items():
            for row, fields in recs:
                values = [f"{SHA[:16]}-{row}", SHA, FILE, row, row + 1,
                          *(fields.get(f) for f in FIELDS)]
                con.execute(f"INSERT INTO records ({', '.join(cols)}) VALUES "
                            f"({', '.join('?' * len(cols))})", values)
    finally:
        con.close()
    with (op / "subjects.jsonl").open("w", encoding="utf-8") as fh:
        for sid, (cc, ccs, review, recs, indicators) in sorted(SUBJECTS.items()):
            names = sorted({f["full_name"].casefold() for _, f in recs if f.get("full_name")})
            evidence = [{"kind": "address", "country": f["country"], "file": FILE, "row": row,
                         "value": f["country"], "weight": 1.0,
                         "stance": "for" if cc and f["country"] == cc else
                                   ("split" if cc is None else "against")}
                        for row, f in recs if f.get("country") and len(f["country"]) == 2]
            obj = {"subject_id": sid, "records": [{"file": FILE, "row": r} for r, _ in recs],
                   "country": cc, "confidence": 0.0 if cc is None else
                   (0.64 if indicators else (0.7 if len(ccs) > 1 else 0.95)),
                   "countries": ccs, "shared": len(ccs) > 1, "review": review,
                   "scores": {c: 1.0 for c in ccs}, "evidence": evidence,
                   "indicators": indicators, "names": names, "links": []}
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
    (op / "attribution.json").write_text(json.dumps({
        "ip_database": {"package": "iptocc", "version": "0.0-test", "database_date": None}}))
    (op / "model.json").write_text("{}")
    return op




def package_text(folder: Path) -> dict[str, str]:
    """Every file of a package as searchable text (XLSX unzipped; the PDF's text is encoded
    glyph ids, so it is left out — its content is the summary's, checked in HTML)."""
    import zipfile

    out = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as z:
                out[path.name] = "\n".join(z.read(n).decode("utf-8") for n in z.namelist())
        elif path.suffix != ".pdf":
            out[path.name] = path.read_text(encoding="utf-8")
    return out


def routed_subjects(folder: Path) -> set[str]:
    doc = json.loads((folder / "subjects.json").read_text(encoding="utf-8"))
    return {s["subject_id"] for s in doc["subjects"]}
