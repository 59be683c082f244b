"""PDQ fast paths compared: the luma path (`PREPROCESS`) against the RGB path it replaced.

    .venv/bin/python bench/pdq_paths.py [--photos 40] [--shared ../shared] [--real DIR] [--json out.json]

haven's fast path used to decode a JPEG at DCT scale to RGB and hash it with pdqhash
(`PREPROCESS_RGB_V1`, `pil13:rgb:dct-or-reduce-short512:pdqhash:v1`). It now decodes a large
JPEG straight to its Y plane and hashes that with `haven.signals.pdqluma` (`PREPROCESS`).
Hashes stored by the old path stay in case stores and hash sets, so what matters is how far
the two paths land from each other and from the reference:

- on the ThreatExchange reference images (`SHARED/testdata/pdq`, quality >= 80, as
  tests/signals/test_pdq.py): each path's distance to the full-resolution reference hash;
- on both, and on `--photos` generated 12 MP photos (`bench/imagegen.py`, cached in
  bench/.cache/photos12mp): old path vs new path, for the PDQ signal, the 32 query hashes
  (`query_hexes`) and the 227 enrolment hashes of a known image (`enrolment_hexes`);
- with `--real DIR`, the same on the JPEGs under DIR (photos no one here made, e.g. the camera
  pictures bench/triage_command.py --photos takes; look at them first, never commit them);
- the CPU per photo of both paths' `pdq_and_query_from_bytes` (decode + the 32 hashes) on the
  12 MP photos, one core, alternating.

The old path is re-implemented here (`rgb_v1_*`, the code of main before the change, checked
against it: identical hashes) so it can be timed and compared in the same process.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))


def rgb_v1_pixels(data: bytes) -> np.ndarray:
    """The old fast path's pixels: RGB, JPEG drafted to DCT scale, others area-reduced."""
    from PIL import Image

    from haven.signals import pdq

    with Image.open(io.BytesIO(data)) as img:
        w, h = img.size
        if img.format in ("JPEG", "MPO") and min(w, h) > pdq.FAST_SHORT_SIDE:
            scale = pdq.FAST_SHORT_SIDE / min(w, h)
            img.draft("RGB", (math.ceil(w * scale), math.ceil(h * scale)))
        img.load()
        rgb = img if img.mode == "RGB" else img.convert("RGB")
        factor = min(rgb.size) // pdq.FAST_SHORT_SIDE
        if factor >= 2:
            rgb = rgb.reduce(factor)
        return np.asarray(rgb)


def _rgb_v1_windows(rgb: np.ndarray, boxes) -> list[np.ndarray]:
    from PIL import Image

    from haven.signals import pdq

    img = Image.fromarray(rgb)
    return [np.asarray(img.resize((pdq.WINDOW_SIDE, pdq.WINDOW_SIDE), Image.BOX, box=b))
            for b in boxes]


def rgb_v1_query(data: bytes) -> tuple[str, int, list[str]]:
    """(pdq hex, quality, the 32 query hashes) as the old fast path made them."""
    import pdqhash

    from haven.signals import pdq

    rgb = rgb_v1_pixels(data)
    bits_list, quality = pdqhash.compute_dihedral(rgb)
    out = [pdq._hex(b) for b in bits_list]
    h, w = rgb.shape[:2]
    boxes = [pdq.window_box(w, h, f, f) for f in pdq.QUERY_WINDOWS]
    for window in _rgb_v1_windows(rgb, boxes):
        out.extend(pdq._hex(b) for b in pdqhash.compute_dihedral(window)[0])
    return out[0], int(quality), out


def rgb_v1_enrolment(data: bytes) -> dict[str, str]:
    """The old fast path's enrolment hashes of a known image (`enrolment_hexes`)."""
    import pdqhash

    from haven.signals import pdq

    rgb = rgb_v1_pixels(data)
    h, w = rgb.shape[:2]
    out = {"pdq": pdq._hex(pdqhash.compute(rgb)[0])}
    names = pdq.enrol_windows()
    windows = _rgb_v1_windows(rgb, [pdq.window_box(w, h, *spec) for _n, spec in names])
    for (name, _spec), window in zip(names, windows):
        out[name] = pdq._hex(pdqhash.compute(window)[0])
    return out


def _stats(values) -> dict:
    a = np.asarray(values, dtype=float)
    return {"n": int(a.size), "mean": round(float(a.mean()), 3), "max": int(a.max()),
            "share_zero": round(float((a == 0).mean()), 3)}


def compare(datas: list[bytes]) -> dict:
    """Old vs new on these encoded images: PDQ, quality, 32 query and 227 enrolment hashes."""
    from haven.signals import pdq

    sig_d, query_d, enrol_d, quality_d = [], [], [], []
    for data in datas:
        old_hex, old_q, old_query = rgb_v1_query(data)
        sig, query = pdq.pdq_and_query_from_bytes(data)
        sig_d.append(pdq.hamming(sig.hex, old_hex))
        quality_d.append(abs(sig.quality - old_q))
        query_d.extend(pdq.hamming(a, b) for a, b in zip(query, old_query))
        old_enrol, new_enrol = rgb_v1_enrolment(data), pdq.enrolment_hexes(data)
        enrol_d.extend(pdq.hamming(new_enrol[k], v) for k, v in old_enrol.items())
    return {"pdq": _stats(sig_d), "quality_abs_diff": _stats(quality_d),
            "query_hashes": _stats(query_d), "enrolment_hashes": _stats(enrol_d)}


def reference_drift(shared: Path) -> dict:
    """Each fast path's distance to the full-resolution reference (quality >= 80 images)."""
    from haven.signals import pdq

    folder = shared / "testdata" / "pdq"
    with open(folder / "computed" / "pdqhash-0.2.8_pillow-13.0.0.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if int(r["quality_fullres"]) >= 80]
    old, new, datas, worst = [], [], [], []
    for row in rows:
        data = (folder / "data" / row["image_rel_to_pdq_data"]).read_bytes()
        datas.append(data)
        old.append(pdq.hamming(rgb_v1_query(data)[0], row["pdq_fullres"]))
        new.append(pdq.hamming(pdq.pdq_from_bytes(data).hex, row["pdq_fullres"]))
        worst.append((new[-1], old[-1], row["image_rel_to_pdq_data"]))
    return {"old_vs_reference": _stats(old), "new_vs_reference": _stats(new),
            "worst_new": sorted(worst, reverse=True)[:3], "old_vs_new": compare(datas)}


def timing(datas: list[bytes], rounds: int = 2) -> dict:
    """CPU ms per photo of decode + 32 hashes, old and new path alternating, one core."""
    from haven.scan.workers import keep_freed_memory
    from haven.signals import pdq

    keep_freed_memory()  # as haven's workers: freed arrays reused, not faulted in again
    paths = {"rgb_v1": rgb_v1_query, "luma": pdq.pdq_and_query_from_bytes}
    cpu: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(rounds):
        for name, fn in paths.items():
            fn(bytes(datas[0]))
            c = time.process_time()
            for data in datas:
                fn(bytes(data))  # a new object: no reuse of the last decode
            cpu[name].append((time.process_time() - c) / len(datas) * 1e3)
    return {k: [round(x, 2) for x in v] for k, v in cpu.items()}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=40, help="generated 12 MP photos compared")
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get(
        "HAVEN_SHARED", HERE.parent.parent / "shared")), help="folder holding testdata/pdq")
    ap.add_argument("--real", type=Path, help="also compare on the JPEGs under this folder")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    from throughput import make_photos

    load = lambda: ", ".join(f"{x:.2f}" for x in os.getloadavg())  # noqa: E731
    out: dict = {"load_start": load()}
    ref = out["reference"] = reference_drift(args.shared)
    print(f"reference images (quality >= 80, n={ref['new_vs_reference']['n']}): distance to the "
          f"full-resolution hash: luma path mean {ref['new_vs_reference']['mean']}, max "
          f"{ref['new_vs_reference']['max']}; RGB path mean {ref['old_vs_reference']['mean']}, "
          f"max {ref['old_vs_reference']['max']}; worst {ref['worst_new']}", flush=True)
    for label, block in (("reference images", ref["old_vs_new"]),):
        print(f"{label}, luma vs RGB path: " + "; ".join(
            f"{k} mean {v['mean']} max {v['max']} ({v['share_zero']:.0%} equal, n={v['n']})"
            for k, v in block.items()), flush=True)
    photos = sorted(make_photos(args.photos).iterdir())[: args.photos]
    datas = [p.read_bytes() for p in photos]
    gen = out["photos12mp"] = compare(datas)
    print(f"{len(datas)} generated 12 MP photos, luma vs RGB path: " + "; ".join(
        f"{k} mean {v['mean']} max {v['max']} ({v['share_zero']:.0%} equal, n={v['n']})"
        for k, v in gen.items()), flush=True)
    if args.real:
        files = sorted(p for p in args.real.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
        real = out["real"] = compare([p.read_bytes() for p in files])
        print(f"{len(files)} JPEGs under {args.real}, luma vs RGB path: " + "; ".join(
            f"{k} mean {v['mean']} max {v['max']} ({v['share_zero']:.0%} equal, n={v['n']})"
            for k, v in real.items()), flush=True)
        out["cpu_ms_per_photo_real"] = timing([p.read_bytes() for p in files[:24]], rounds=1)
        print(f"  CPU ms per photo there: {out['cpu_ms_per_photo_real']}", flush=True)
    t = out["cpu_ms_per_photo"] = timing(datas[:24])
    out["load_end"] = load()
    print(f"decode + 32 hashes per 12 MP photo, CPU ms on one core (two rounds): RGB path "
          f"{t['rgb_v1']}, luma path {t['luma']} (load {out['load_start']} -> {out['load_end']})",
          flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
