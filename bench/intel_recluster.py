"""Re-cluster an operation's stored links under other clustering rules, scored against truth.

    .venv/bin/python bench/intel_recluster.py /tmp/intel1m "weak_join_max_size=None" \\
        "weak_join_max_size=2"

WORK is a directory kept by `bench/intel_spark.py --keep` or `bench/intel_quality.py --keep`
(WORK/op/intel.duckdb after `haven intel resolve`, WORK/truth.csv). The links table holds
every scored link at or above the threshold with its weight, strong and veto flags, so
`haven.intel.cluster.cluster` can be run again in seconds with any `ClusterParams` (given as
keyword arguments) without scoring again. Prints pairwise and B³ precision/recall/F1, the
number of subjects and the largest subject (rows / true people) for the defaults and for
each variant.
"""

from __future__ import annotations

import argparse
import ast
import csv
import time

import duckdb

from haven.intel.cluster import ClusterParams, Link, cluster
from haven.intel.quality import bcubed, largest_cluster_people, pairwise


def _params(text: str) -> dict:
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = part.partition("=")
        out[key.strip()] = ast.literal_eval(value.strip())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("work")
    ap.add_argument("variants", nargs="*", help='ClusterParams keywords, e.g. "max_size=10"')
    args = ap.parse_args()
    con = duckdb.connect(f"{args.work}/op/intel.duckdb", read_only=True)
    key = {rid: f"{f}:{row}" for rid, f, row in
           con.sql("SELECT record_id, file, row FROM records").fetchall()}
    links = [Link(*row) for row in con.sql(
        "SELECT record_id_l, record_id_r, match_weight, strong, veto, contradicted FROM links").fetchall()]
    con.close()
    with open(f"{args.work}/truth.csv", encoding="utf-8") as fh:
        truth = {f"{r['file']}:{r['row']}": r["person_id"] for r in csv.DictReader(fh)}
    print(f"{len(key):,} records, {len(links):,} links")
    for label in ["defaults", *args.variants]:
        params = ClusterParams(**({} if label == "defaults" else _params(label)))
        t = time.time()
        pred = {key[r]: s for r, s in cluster(key, links, params).items()}
        pw, b3 = pairwise(pred, truth), bcubed(pred, truth)
        size, people = largest_cluster_people(pred, truth)
        print(f"{label:32s} pairwise F1 {pw.f1:.4f} (P {pw.precision:.4f} R {pw.recall:.4f})  "
              f"B3 F1 {b3.f1:.4f} (P {b3.precision:.4f} R {b3.recall:.4f})  subjects "
              f"{len(set(pred.values())):,}  largest {size} rows / {people} people  "
              f"{time.time() - t:.0f} s", flush=True)


if __name__ == "__main__":
    main()
