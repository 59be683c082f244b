"""Quality of intel resolve + attribute on a generated list with known truth.

    .venv/bin/python bench/intel_quality.py --rows 20000
    .venv/bin/python bench/intel_quality.py --rows 400000 --keep /tmp/intel400k   # the target size
    .venv/bin/python bench/intel_quality.py --reuse /tmp/intel400k   # its list.csv + truth.csv again

Prints pairwise and B³ precision/recall/F1, the largest subject (chaining), attribution
accuracy and review rate, timings, and the same links clustered without the chaining guards.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import duckdb

from haven.intel.attribute import attribute_operation
from haven.intel.cluster import ClusterParams, Link, cluster
from haven.intel.load import load_files
from haven.intel.quality import bcubed, largest_cluster_people, pairwise
from haven.intel.resolve import resolve_operation
from haven.intel.synth import country_locales, generate, write_list


def _fmt(prf) -> str:  # type: ignore[no-untyped-def]
    return f"P {prf.precision:.4f}  R {prf.recall:.4f}  F1 {prf.f1:.4f}"


def read_truth(truth_csv: Path) -> tuple[dict[str, str], dict[str, str]]:
    """truth.csv → ({"file:row": person_id}, {person_id: country})."""
    truth: dict[str, str] = {}
    truth_cc: dict[str, str] = {}
    with truth_csv.open(encoding="utf-8", newline="") as fh:
        for t in csv.DictReader(fh):
            truth[f"{t['file']}:{t['row']}"] = t["person_id"]
            truth_cc[t["person_id"]] = t["country"]
    return truth, truth_cc


def quality_figures(op: Path, truth_csv: Path) -> dict:
    """Pairwise and B³ F1 and attribution accuracy of an attributed operation against truth.csv
    (used by bench/refer_scale.py --reuse)."""
    truth, truth_cc = read_truth(truth_csv)
    con = duckdb.connect(str(op / "intel.duckdb"), read_only=True)
    pred = dict(con.sql("SELECT r.file || ':' || r.row, s.subject_id FROM subject_records s "
                        "JOIN records r USING (record_id)").fetchall())
    con.close()
    n = ok = review = 0
    with (op / "subjects.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            s = json.loads(line)
            owners = Counter(truth[f"{r['file']}:{r['row']}"] for r in s["records"])
            n += 1
            if s["review"] or s["country"] is None:
                review += 1
            else:
                ok += s["country"] == truth_cc[owners.most_common(1)[0][0]]
    pw, b3 = pairwise(pred, truth), bcubed(pred, truth)
    size, ppl = largest_cluster_people(pred, truth)
    return {"pairwise_precision": pw.precision, "pairwise_recall": pw.recall,
            "pairwise_f1": pw.f1, "bcubed_precision": b3.precision, "bcubed_recall": b3.recall,
            "bcubed_f1": b3.f1, "subjects": n, "review": review,
            "review_rate": review / max(n, 1), "attributed_correct": ok,
            "attribution_accuracy": ok / max(n - review, 1),
            "largest_subject_rows": size, "largest_subject_people": ppl,
            "people": len(truth_cc), "countries": len(set(truth_cc.values()))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="work directory to keep (default: a temp dir)")
    ap.add_argument("--reuse", type=Path,
                    help="work in DIR on its list.csv + truth.csv (no generation)")
    args = ap.parse_args()
    work = args.reuse or args.keep or Path(tempfile.mkdtemp(prefix="intel_quality_"))
    work.mkdir(parents=True, exist_ok=True)
    op = work / "op"
    if op.exists():
        shutil.rmtree(op)
    t0 = time.time()
    if args.reuse:
        truth, truth_cc = read_truth(work / "truth.csv")
        args.rows = len(truth)
    else:
        synth = generate(args.rows, seed=args.seed)
        write_list(synth, work / "list.csv", work / "truth.csv")
        truth = {f"list.csv:{t['row']}": t["person_id"] for t in synth.truth}
        truth_cc = {t["person_id"]: t["country"] for t in synth.truth}
        del synth
    t_gen = time.time() - t0
    people = len(set(truth.values()))
    countries = len(set(truth_cc.values()))

    t = time.time(); load_files([work / "list.csv"], op); t_load = time.time() - t
    t = time.time(); summary = resolve_operation(op); t_resolve = time.time() - t
    t = time.time(); meta = attribute_operation(op); t_attr = time.time() - t

    con = duckdb.connect(str(op / "intel.duckdb"), read_only=True)
    pred = dict(con.sql("SELECT r.file || ':' || r.row, s.subject_id FROM subject_records s "
                        "JOIN records r USING (record_id)").fetchall())
    rid_ref = dict(con.sql("SELECT record_id, file || ':' || row FROM records").fetchall())
    links = [Link(*row) for row in con.sql(
        "SELECT record_id_l, record_id_r, match_weight, strong, veto, contradicted FROM links").fetchall()]
    con.close()

    print(f"rows {args.rows}  people {people}  countries {countries} "
          f"(generator offers {len(country_locales())})  subjects {summary.subjects}")
    print(f"time: generate {t_gen:.1f}s  load {t_load:.1f}s  resolve {t_resolve:.1f}s  "
          f"attribute {t_attr:.1f}s  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(f"pairwise  {_fmt(pairwise(pred, truth))}")
    print(f"B3        {_fmt(bcubed(pred, truth))}")
    size, ppl = largest_cluster_people(pred, truth)
    print(f"largest subject: {size} rows of {ppl} people")

    # The same links clustered with guards removed: what the guards buy.
    ids = list(rid_ref)
    for label, params in (
        ("weak links may grow subjects (no weak-join rule)", ClusterParams(weak_join_max_size=None)),
        ("no veto", ClusterParams(honour_veto=False)),
        ("no guards (plain connected components at weight 6)",
         ClusterParams(honour_veto=False, require_strong_between_groups=False, max_size=10**9,
                       weak_join_max_size=None)),
    ):
        alt = {rid_ref[r]: s for r, s in cluster(ids, links, params).items()}
        size, ppl = largest_cluster_people(alt, truth)
        print(f"  {label}: pairwise F1 {pairwise(alt, truth).f1:.4f}  B3 F1 "
              f"{bcubed(alt, truth).f1:.4f}  largest {size} rows / {ppl} people")

    # Attribution: each subject against the country of the person most of its rows belong to.
    n = ok = review = 0
    per_country: dict[str, Counter] = defaultdict(Counter)
    with (op / "subjects.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            s = json.loads(line)
            owners = Counter(truth[f"{r['file']}:{r['row']}"] for r in s["records"])
            true_cc = truth_cc[owners.most_common(1)[0][0]]
            n += 1
            if s["review"] or s["country"] is None:
                review += 1
                per_country[true_cc]["review"] += 1
                continue
            good = s["country"] == true_cc
            ok += good
            per_country[true_cc]["ok" if good else "wrong"] += 1
    decided = n - review
    print(f"attribution: {ok}/{decided} = {ok / max(decided, 1):.4f} of attributed subjects "
          f"correct; review {review}/{n} = {review / max(n, 1):.4f}; "
          f"with indicators {meta['counts'].get('with_indicators', 0)}")
    worst = sorted(per_country.items(), key=lambda kv: kv[1]["ok"] / max(1, kv[1]["ok"] + kv[1]["wrong"]))[:5]
    print("lowest per-country accuracy: " + ", ".join(
        f"{cc} {c['ok']}/{c['ok'] + c['wrong']}" for cc, c in worst))
    if not (args.keep or args.reuse):
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
