"""Scale of the whole referral path: synthetic list → load → resolve → attribute → refer build.

    .venv/bin/python bench/refer_scale.py --rows 50000
    .venv/bin/python bench/refer_scale.py --rows 400000 --workers 2 --keep /tmp/refer400k  # target
    .venv/bin/python bench/refer_scale.py --reuse /tmp/intel400k     # list.csv + truth.csv kept

`--reuse DIR` takes DIR/list.csv (and DIR/truth.csv, when there, for the quality figures of
bench/intel_quality.py) instead of generating a list, and works in DIR (op/, packages/).

Times each step (generation is reported apart: it is not part of the 5-minute target), the
peak RSS of each step (this process plus its children, sampled every 0.5 s), the load average
at the start and end, the number of packages and their size, and re-verifies every package.
Synthetic Faker data only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import psutil

from haven.intel.attribute import attribute_operation
from haven.intel.load import load_files
from haven.intel.resolve import resolve_operation
from haven.intel.synth import generate, write_list
from haven.refer.build import BuildOptions, build_packages
from haven.refer.verify import verify_package


def _rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _mem(p: psutil.Process) -> int:
    """RSS: cheap to read (/proc/PID/statm). PSS would not count the pages forked build
    workers share with this process twice, but psutil parses smaps_rollup for it in Python,
    holding the GIL: at 0.2 s it took ~30 % of a core from a 4 GB resolve. So the sum is an
    upper bound."""
    return p.memory_info().rss


class RssSampler:
    """Peak RSS of this process plus its children (an upper bound: shared pages of forked
    workers count in each), per step."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._me = psutil.Process()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                total = _mem(self._me)
                for child in self._me.children(recursive=True):
                    try:
                        total += _mem(child)
                    except psutil.Error:
                        pass
            except psutil.Error:
                continue
            self.peak = max(self.peak, total)

    def take(self) -> float:
        """Peak since the last call, MB."""
        peak, self.peak = self.peak, 0
        return peak / 1e6

    def stop(self) -> None:
        self._stop.set()


@contextmanager
def _step(name: str, steps: dict, rss: dict, sampler: RssSampler, cpu: dict):
    sampler.take()
    t, c = time.time(), _cpu()
    yield
    steps[name] = time.time() - t
    cpu[name] = _cpu() - c
    rss[name] = sampler.take()
    print(f"  {name}: {steps[name]:.1f}s wall, {cpu[name]:.1f}s CPU, peak RSS {rss[name]:.0f} MB, "
          f"load {os.getloadavg()[0]:.2f}", flush=True)


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=50000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2, help="processes for refer build")
    ap.add_argument("--keep", type=Path, help="work directory to keep (default: a temp dir)")
    ap.add_argument("--reuse", type=Path, help="work in DIR on its list.csv (no generation)")
    args = ap.parse_args()
    work = args.reuse or args.keep or Path(tempfile.mkdtemp(prefix="refer_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    op, out = work / "op", work / "packages"
    for d in (op, out):
        shutil.rmtree(d, ignore_errors=True)
    load_start = os.getloadavg()

    t = time.time()
    if args.reuse:
        if not (work / "list.csv").is_file():
            sys.exit(f"{work / 'list.csv'} not found")
        countries = None
        if (work / "truth.csv").is_file():
            with (work / "truth.csv").open(encoding="utf-8") as fh:
                countries = len({line.rsplit(",", 1)[-1].strip() for line in fh}) - 1
        args.rows = sum(1 for _ in (work / "list.csv").open(encoding="utf-8")) - 1
    else:
        synth = generate(args.rows, seed=args.seed)
        write_list(synth, work / "list.csv", work / "truth.csv")
        countries = len({x["country"] for x in synth.truth})
        del synth
    t_gen = time.time() - t

    steps: dict[str, float] = {}
    cpu: dict[str, float] = {}
    rss: dict[str, float] = {}
    sampler = RssSampler()
    with _step("load", steps, rss, sampler, cpu):
        load_files([work / "list.csv"], op)
    with _step("resolve", steps, rss, sampler, cpu):
        resolve_operation(op)
    with _step("attribute", steps, rss, sampler, cpu):
        attribute_operation(op)
    rss_before_build = _rss_mb(resource.RUSAGE_SELF)
    with _step("refer build", steps, rss, sampler, cpu):
        summary = build_packages(op, out, BuildOptions(workers=args.workers))
    sampler.stop()
    load_end = os.getloadavg()
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
        "cpu_seconds": {k: round(v, 1) for k, v in cpu.items()},
        "peak_rss_mb_step": {k: round(v) for k, v in rss.items()},
        "load_average_start_end": [round(load_start[0], 2), round(load_end[0], 2)],
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
    quality = None
    if (work / "truth.csv").is_file():
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from intel_quality import quality_figures  # noqa: PLC0415  (bench/ is not a package)

        quality = quality_figures(op, work / "truth.csv")
        figures["quality"] = quality
    print(f"load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end; peak RSS of "
          f"any step {max(rss.values()):.0f} MB")
    if quality:
        print(f"quality: pairwise F1 {quality['pairwise_f1']:.4f}  B3 F1 {quality['bcubed_f1']:.4f}"
              f"  attribution {quality['attribution_accuracy']:.4f}  review "
              f"{quality['review_rate']:.4f}")
    print(json.dumps(figures, sort_keys=True))
    if not (args.keep or args.reuse):
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
