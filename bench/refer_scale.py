"""Scale of the whole referral path: synthetic list → load → resolve → attribute → refer build.

    .venv/bin/python bench/refer_scale.py --rows 50000
    .venv/bin/python bench/refer_scale.py --rows 400000 --workers 2 --keep /tmp/refer400k  # target

Times each step (generation is reported apart: it is not part of the 5-minute target), the
peak RSS of this process and of the build's worker processes, the number of packages and
their size, and re-verifies every package. Synthetic Faker data only.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

from haven.intel.attribute import attribute_operation
from haven.intel.load import load_files
from haven.intel.resolve import resolve_operation
from haven.intel.synth import generate, write_list
from haven.refer.build import BuildOptions, build_packages
from haven.refer.verify import verify_package


def _rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=50000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2, help="processes for refer build")
    ap.add_argument("--keep", type=Path, help="work directory to keep (default: a temp dir)")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="refer_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    op, out = work / "op", work / "packages"
    for d in (op, out):
        shutil.rmtree(d, ignore_errors=True)

    t = time.time()
    synth = generate(args.rows, seed=args.seed)
    write_list(synth, work / "list.csv", work / "truth.csv")
    countries = len({x["country"] for x in synth.truth})
    del synth
    t_gen = time.time() - t

    steps: dict[str, float] = {}
    t = time.time(); load_files([work / "list.csv"], op); steps["load"] = time.time() - t
    t = time.time(); resolve_operation(op); steps["resolve"] = time.time() - t
    t = time.time(); attribute_operation(op); steps["attribute"] = time.time() - t
    rss_before_build = _rss_mb(resource.RUSAGE_SELF)
    t = time.time()
    summary = build_packages(op, out, BuildOptions(workers=args.workers))
    steps["refer build"] = time.time() - t
    t = time.time()
    bad = [p.code for p in summary.packages if not verify_package(out / p.code).ok]
    t_verify = time.time() - t
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    biggest = max(summary.packages, key=lambda p: p.subjects)
    total = sum(steps.values())
    figures = {
        "rows": args.rows, "generated_countries": countries,
        "packages": len(summary.packages),
        "country_packages": sum(1 for p in summary.packages if p.code != "XX"),
        "subjects_routed": summary.subjects_routed,
        "largest_package": {"code": biggest.code, "subjects": biggest.subjects,
                            "records": biggest.records},
        "package_bytes": size, "workers": args.workers,
        "seconds": {k: round(v, 1) for k, v in steps.items()},
        "seconds_total_without_generation": round(total, 1),
        "seconds_generation": round(t_gen, 1), "seconds_verify_all": round(t_verify, 1),
        "peak_rss_mb_main": round(_rss_mb(resource.RUSAGE_SELF)),
        "peak_rss_mb_main_before_build": round(rss_before_build),
        "peak_rss_mb_largest_worker": round(_rss_mb(resource.RUSAGE_CHILDREN)),
        "packages_failing_verify": bad,
    }
    print(f"rows {args.rows}: " + "  ".join(f"{k} {v:.1f}s" for k, v in steps.items())
          + f"  total {total:.1f}s (generation {t_gen:.1f}s apart)")
    print(f"packages {figures['packages']} ({figures['country_packages']} countries + "
          f"coordinator), {size / 1e6:.1f} MB, largest {biggest.code} {biggest.subjects} "
          f"subjects; verify all {t_verify:.1f}s, failing: {bad or 'none'}")
    print(f"peak RSS: main {figures['peak_rss_mb_main']} MB, largest build worker "
          f"{figures['peak_rss_mb_largest_worker']} MB")
    print(json.dumps(figures, sort_keys=True))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
