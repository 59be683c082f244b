"""Hash-only recall: known sets given as one PDQ per image (no image), per kind of variant.

    nice .venv/bin/python bench/recall.py --hash-only              # full run (minutes)
    nice .venv/bin/python bench/recall.py --hash-only --quick      # smoke run
    nice .venv/bin/python bench/recall.py --hash-only --photos DIR  # + a folder of photos

Known sets, as PDQ only (the reference hash of the JPEG q90 file):
- collages: N images from bench/imagegen.py (640x480);
- package photos: the sample photos shipped inside scikit-image and the ThreatExchange
  reference images in <shared>/testdata/pdq/data (bridge, pen-and-coaster, labelme subset),
  or with `--package-photos DIR` every image under DIR (the photographs shipped inside the
  pip and Debian packages at hand, each looked at, gathered for local evaluation: see
  docs/hash-only.md; never committed);
- each `--photos DIR` (repeatable): every image under DIR, one family named after DIR (public
  photographs fetched for local evaluation; never committed).

Each photo family is also reported without its PDQ-unstable photos (`[family, PDQ-stable]`:
pdqhash's own PDQ moves > 16 bits when the photo is moved by 1-2 px), and the 'before'
column gives recall and false matches of the same run without the native frames
(`framing.native_frame`: every item searched again without its luma, i.e. the previous
hypotheses; timed too, so the cost lines give both). The unrelated images are cached
without their luma: one that looks PDQ-unstable and comes within `framing.NATIVE_CANDIDATE`
of a known hash is made again from its generator and searched with it.

`--dev` draws other queries (seeds 100+ instead of 0+) and other unrelated images (indices
from `DEV_UNRELATED` on) from the same known pictures: the split changes to the hypotheses
are shaped on; the figures in docs/hash-only.md come from the default split.

Queries: variants of known images (the kinds of bench/recall.py plus crop 8-15 %, banner
6-12 %, corner logo 10-20 %), one per image and kind (photos: several seeds each).
Unrelated (never known): images of the same generator family, near-blank images,
screenshots and text pages; their luminance grids and plain query hashes are cached under
bench/.cache/hashonly (gitignored) so a second run only re-matches.

Methods: today's `haven` query hashes (8 dihedral PDQ of the item and of its central 84/89/93 %
windows, threshold 31) against the hash-only list, and the same plus
`haven.match.framing.FramingIndex` (hypotheses of the original framing). Costs are CPU
seconds per query image (process time, so other load on the machine counts less).
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))
import recall  # noqa: E402
from imagegen import _sources, make_photo  # noqa: E402

from haven.match import framing  # noqa: E402
from haven.match.near import NearIndex  # noqa: E402
from haven.signals import pdq  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache" / "hashonly"
SIZE = (640, 480)
#: Unrelated images are smaller (cheaper to generate; PDQ's 64x64 domain hides the size).
UNRELATED_SIZE = (400, 300)
UNRELATED_SEED = 7_000_000


# -- variants added for hash-only lists ------------------------------------------------------
def v_crop_large(img, rng):
    """Each side cut by 8-15 %, independently."""
    w, h = img.size
    left, right = rng.uniform(0.08, 0.15, 2) * w
    top, bottom = rng.uniform(0.08, 0.15, 2) * h
    return recall._jpeg(img.crop((round(left), round(top), round(w - right), round(h - bottom))))


def v_banner12(img, rng):
    """A solid band over the top or bottom 6-12 % of the height, with a caption on it."""
    img = img.copy()
    w, h = img.size
    band = max(1, int(h * rng.uniform(0.06, 0.12)))
    y = 0 if rng.random() < 0.5 else h - band
    draw = ImageDraw.Draw(img)
    colour = tuple(int(v) for v in rng.integers(0, 256, 3))
    draw.rectangle((0, y, w, y + band), fill=colour)
    font = ImageFont.load_default(size=max(8, int(band * 0.6)))
    ink = (0, 0, 0) if sum(colour) > 380 else (255, 255, 255)
    draw.text((int(w * rng.uniform(0.02, 0.3)), y + band // 5), recall._caption(rng), font=font,
              fill=ink)
    return recall._jpeg(img)


def v_logo(img, rng):
    """An opaque mark 10-20 % of the width in a random corner, 1-3 % in from the edges."""
    img = img.copy()
    w, h = img.size
    lw = int(w * rng.uniform(0.10, 0.20))
    lh = int(lw * rng.uniform(0.35, 1.0))
    pad = int(w * rng.uniform(0.01, 0.03))
    corner = int(rng.integers(0, 4))
    x = pad if corner % 2 == 0 else w - lw - pad
    y = pad if corner < 2 else h - lh - pad
    draw = ImageDraw.Draw(img)
    colour = tuple(int(v) for v in rng.integers(0, 256, 3))
    draw.rounded_rectangle((x, y, x + lw, y + lh), radius=max(1, lh // 5), fill=colour)
    font = ImageFont.load_default(size=max(8, lh // 3))
    ink = (0, 0, 0) if sum(colour) > 380 else (255, 255, 255)
    draw.text((x + lw // 10, y + lh // 3), "studio", font=font, fill=ink)
    return recall._jpeg(img)


VARIANTS = dict(recall.VARIANTS)
VARIANTS.update({
    "crop 8-15%/side": v_crop_large,
    "banner 6-12%": v_banner12,
    "corner logo 10-20%": v_logo,
})


# -- unrelated images --------------------------------------------------------------------------
def _near_blank(rng) -> Image.Image:
    w, h = UNRELATED_SIZE
    base = rng.integers(0, 256, 3)
    y, x = np.mgrid[0:h, 0:w]
    tilt = rng.uniform(-12, 12, 2)
    img = base[None, None, :] + (tilt[0] * x / w + tilt[1] * y / h)[..., None]
    img = img + rng.normal(0, rng.uniform(0.5, 4), (h, w, 1))
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    if rng.random() < 0.5:  # a small mark or two
        draw = ImageDraw.Draw(out)
        for _ in range(int(rng.integers(1, 3))):
            cx, cy = rng.integers(0, w), rng.integers(0, h)
            r = int(rng.integers(3, 20))
            draw.ellipse((cx - r, cy - r, cx + r, cy + r),
                         fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return out


def _screenshot(rng) -> Image.Image:
    w, h = UNRELATED_SIZE
    bg = tuple(int(v) for v in (rng.integers(225, 256, 3) if rng.random() < 0.7
                                else rng.integers(20, 60, 3)))
    img = Image.new("RGB", UNRELATED_SIZE, bg)
    draw = ImageDraw.Draw(img)
    dark = sum(bg) < 380
    ink = (230, 230, 230) if dark else (30, 30, 30)
    bar = int(rng.integers(24, 60))
    draw.rectangle((0, 0, w, bar), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    side = int(rng.integers(0, w // 4)) if rng.random() < 0.6 else 0
    if side:
        draw.rectangle((0, bar, side, h), fill=tuple(int(v) for v in rng.integers(150, 256, 3)))
    font = ImageFont.load_default(size=int(rng.integers(11, 18)))
    y = bar + 10
    while y < h - 20:
        kind = rng.random()
        x = side + int(rng.integers(8, 40))
        if kind < 0.6:
            draw.text((x, y), recall._caption(rng) + " " + recall._caption(rng), font=font,
                      fill=ink)
            y += font.size + int(rng.integers(4, 12))
        elif kind < 0.8:
            bw, bh = int(rng.integers(60, 200)), int(rng.integers(20, 40))
            draw.rounded_rectangle((x, y, x + bw, y + bh), radius=6,
                                   fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
            y += bh + 10
        else:
            bw, bh = int(rng.integers(100, max(101, w - x - 10))), int(rng.integers(40, 140))
            draw.rectangle((x, y, x + bw, y + bh), outline=ink,
                           fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
            y += bh + 10
    return img


def _text_page(rng) -> Image.Image:
    w, h = UNRELATED_SIZE
    paper = tuple(int(v) for v in rng.integers(235, 256, 3))
    img = Image.new("RGB", UNRELATED_SIZE, paper)
    draw = ImageDraw.Draw(img)
    size = int(rng.integers(10, 22))
    font = ImageFont.load_default(size=size)
    margin = int(rng.integers(20, 80))
    y = margin
    ink = tuple(int(v) for v in rng.integers(0, 60, 3))
    while y < h - margin:
        if rng.random() < 0.12:
            y += size  # paragraph break
            continue
        line = " ".join(recall._caption(rng) for _ in range(4))
        draw.text((margin, y), line[: int(rng.integers(30, 90))], font=font, fill=ink)
        y += int(size * rng.uniform(1.2, 1.6))
    return img


def unrelated_image(j: int) -> tuple[str, Image.Image]:
    """The j-th unrelated image: 40 % same generator, 20 % each of blank/screen/text."""
    rng = np.random.default_rng([UNRELATED_SEED, j])
    kind = j % 5
    if kind in (0, 1):
        return "generated", make_photo(UNRELATED_SEED + j, *UNRELATED_SIZE)
    if kind == 2:
        return "near-blank", _near_blank(rng)
    if kind == 3:
        return "screenshot", _screenshot(rng)
    return "text page", _text_page(rng)


# -- hashing the two ways ----------------------------------------------------------------------
def plain_query(data: bytes) -> tuple[list[str], bool, float]:
    """Today's query hashes, whether PDQ trusts the image, and the CPU seconds it took."""
    t = time.process_time()
    sig, hexes = pdq.pdq_and_query_from_bytes(data)
    return hexes, sig.trusted, time.process_time() - t


def framing_item(data: bytes) -> tuple[framing.Item, float, float]:
    """The item for the hypotheses, the CPU seconds of its grid and PDQ samples (the previous
    code's item) and of those plus the luma the native frames need when the item looks
    PDQ-unstable (the decode is shared with `plain_query` on the same bytes object, as in
    the scan)."""
    pixels = pdq._prepared(data, True).pixels
    t = time.process_time()
    grid = framing.luma_grid(pixels)
    cells = framing.pdq_cells(pixels)
    t_before = time.process_time() - t
    luma = framing.native_luma(pixels, grid, cells)
    t_all = time.process_time() - t
    return (framing.Item(grid, pixels.shape[1] / pixels.shape[0], cells, luma), t_before,
            t_all)


def _photo_sources(shared: Path | None) -> list[Image.Image]:
    out = [img.copy() for img in _sources()]
    if shared is not None:
        data = shared / "testdata" / "pdq" / "data"
        paths = [data / "bridge-mods" / "aaa-orig.jpg",
                 data / "reg-test-input" / "pen-and-coaster.png"]
        paths += sorted((data / "reg-test-input" / "labelme-subset").glob("*.jpg"))
        for p in paths:
            if p.exists():
                with Image.open(p) as img:
                    img = img.convert("RGB")
                    img.thumbnail((1024, 1024))
                    out.append(img.copy())
    return out


PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".webp", ".tif", ".tiff")


def _folder_photos(folder: Path, named: bool = False) -> list:
    """Every image under `folder` (sorted by path), RGB, at most 1024 px on its long side
    (with `named`: (path, image) pairs)."""
    out = []
    for p in sorted(folder.rglob("*")):
        if p.suffix.lower() not in PHOTO_SUFFIXES or not p.is_file():
            continue
        with Image.open(p) as img:
            img = img.convert("RGB")
            img.thumbnail((1024, 1024))
            out.append((p, img.copy()) if named else img.copy())
    return out


def _cached_unrelated(m: int, progress: bool, first: int = 0) -> dict:
    """Grids (uint8), PDQ samples (`framing.Item.cells`, float16 as a worker sends them), plain
    query codes, trusted flags and kinds of the first m unrelated."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"unrelated-{m}-g{framing.GRID}-c64{f'-from{first}' if first else ''}.npz"
    if path.exists():
        z = np.load(path)
        return {k: z[k] for k in z.files}
    grids = np.empty((m, framing.GRID, framing.GRID), dtype=np.uint8)
    aspects = np.empty(m, dtype=np.float32)
    cells = np.zeros((m, 64, 64), dtype=np.float16)
    codes = np.zeros((m, 32, 32), dtype=np.uint8)
    ncodes = np.zeros(m, dtype=np.int16)
    trusted = np.zeros(m, dtype=bool)
    kinds = np.empty(m, dtype="U12")
    t_plain = np.zeros(m)
    t_item = np.zeros(m)
    t_grid = np.zeros(m)
    for j in range(m):
        kind, img = unrelated_image(first + j)
        data = recall._jpeg(img, 90)
        hexes, ok, tp = plain_query(data)
        item, tg, ti = framing_item(data)
        t_grid[j] = tg
        grids[j] = np.clip(np.rint(item.grid), 0, 255)
        aspects[j] = item.aspect
        cells[j] = item.cells
        raw = bytes.fromhex("".join(hexes))
        codes[j, :len(hexes)] = np.frombuffer(raw, np.uint8).reshape(-1, 32)
        ncodes[j] = len(hexes)
        trusted[j], kinds[j], t_plain[j], t_item[j] = ok, kind, tp, ti
        if progress and j % 2000 == 1999:
            print(f"  unrelated {j + 1}/{m} hashed", file=sys.stderr)
    out = dict(grids=grids, aspects=aspects, cells=cells, codes=codes, ncodes=ncodes,
               trusted=trusted, kinds=kinds, t_plain=t_plain, t_item=t_item, t_grid=t_grid)
    np.savez(path, **out)
    return out


#: The newest hypothesis families: 'before' = the same queries searched again without them
#: (without the item's luma the native frames need, and with `framing.INNER` off), timed
#: beside.
NEW_FAMILIES = ("nframe", "inner")
#: `--dev`: query seeds start here (the default split uses 0, 1, ...) and unrelated images
#: are numbered from DEV_UNRELATED on (the default split uses 0 .. m-1).
DEV_SEED = 100
DEV_UNRELATED = 1_000_000


#: A photo whose own PDQ moves by more than this many bits when the photo is moved by 1 or 2
#: pixels is "PDQ-unstable": its known hash depends on the exact pixel grid (bench reports
#: the photo families with and without such photos).
UNSTABLE_SHIFT = 16


def shift_bits(img: Image.Image) -> int:
    """Bits pdqhash's PDQ of `img` (JPEG q90) moves when the picture is moved by 1 or 2 px."""
    w, h = img.size
    own = pdq.pdq_from_bytes(recall._jpeg(img, 90)).hex
    return max(pdq.hamming(own, pdq.pdq_from_bytes(recall._jpeg(img.crop((d, d, w, h)), 90)).hex)
               for d in (1, 2))


#: Seed of the padding library (bench/pdq_corpus.py): its photos are make_photo(31 * 100003 +
#: s), seeds no known, query or unrelated image uses.
PAD_SEED = 31
#: With padding, the false-match arithmetic counts the (unrelated, known) pairs whose best
#: first-round distance is within this radius (the compiled pass reports only those).
PAD_RADIUS = 60


def padding(pad: int) -> np.ndarray:
    """`pad` realistic known PDQ codes (pad x 32 uint8): bench/pdq_corpus.py's clustered
    library (families of near-duplicates with Zipf sizes, heads grown from real PDQ hashes of
    generated photos, 5 % near-blank rows), never related to this bench's images."""
    from pdq_corpus import Corpus

    codes, _families = Corpus(photos=600, blanks=40, seed=PAD_SEED).library(
        pad, np.random.default_rng(PAD_SEED))
    return codes


def _previous(fidx: framing.FramingIndex, item: framing.Item) -> list[framing.Hit]:
    """The search without `NEW_FAMILIES` (the previous code): no luma, no inner pictures."""
    framing.INNER = False
    try:
        return fidx.search(framing.Item(item.grid, item.aspect, item.cells))
    finally:
        framing.INNER = True


def run(n: int, m: int, queries: int, photo_seeds: int, shared: Path | None,
        progress: bool = True, folders: tuple[Path, ...] = (), folder_seeds: int = 2,
        kinds: tuple[str, ...] = (), package_dir: Path | None = None,
        pad: int = 0, dev: bool = False, queries_out: Path | None = None) -> dict:
    """`pad`: that many padding known hashes (`padding`) are added to the known list after
    the real ones; matches to them count as wrong identities / false matches. `queries_out`:
    one JSON line per query written there (to compare two runs query for query)."""
    t0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    cpu0 = time.process_time()
    # known: collages then photos, PDQ only
    known_imgs: list[tuple[str, Image.Image]] = []
    for i in range(n):
        known_imgs.append(("collages", make_photo(recall.KNOWN_SEED + i, *SIZE)))
    # the package family: the built-in list, or every image under --package-photos DIR
    for img in (_folder_photos(package_dir) if package_dir else _photo_sources(shared)):
        known_imgs.append(("package photos", img))
    for folder in folders:
        for img in _folder_photos(folder):
            known_imgs.append((folder.name, img))
    known_sigs = [pdq.pdq_from_bytes(recall._jpeg(img, 90)) for _f, img in known_imgs]
    known_hex = [sig.hex for sig in known_sigs]
    # a known list holds one entry per picture: drop photos within 31 bits of an earlier one
    # (scikit-image's motorcycle_left/right are a stereo pair, near-duplicates by nature)
    keep, dropped = [], 0
    for k, h in enumerate(known_hex):
        if known_imgs[k][0] != "collages" and any(pdq.hamming(h, known_hex[j]) <= 31
                                                  for j in keep):
            dropped += 1
            continue
        keep.append(k)
    known_imgs = [known_imgs[k] for k in keep]
    # known pictures whose own PDQ is below PDQ's quality bar (< 50): their copies are mostly
    # untrusted too and never near-matched, plainly or with hypotheses (reported, not dropped)
    low_quality = {i for i, k in enumerate(keep) if not known_sigs[k].trusted}
    known_hex = [known_hex[k] for k in keep]
    unstable = {k for k, (f, img) in enumerate(known_imgs)
                if f != "collages" and shift_bits(img) > UNSTABLE_SHIFT}
    plain_index = NearIndex()
    plain_index.add(known_hex, list(range(len(known_hex))))
    known_codes = np.frombuffer(bytes.fromhex("".join(known_hex)), np.uint8).reshape(-1, 32)
    if pad:
        extra = padding(pad)
        plain_index.add_codes(extra, np.arange(len(known_hex), len(known_hex) + pad))
        plain_index.compact()  # one multi-index segment, as a case's scan builds it
        known_codes = np.concatenate([known_codes, extra])
        del extra
    fidx = framing.FramingIndex(known_codes)
    n_rows = len(known_codes)
    if progress:
        print(f"  {len(known_hex)} known hashed, {pad} padding "
              f"({time.perf_counter() - t0:.0f}s)", file=sys.stderr)

    # one-time costs (the compiled search, cached matrices) before anything is timed
    warm = framing.Item.from_pixels(pdq._prepared(recall._jpeg(known_imgs[0][1], 90), True).pixels)
    for w_item in (warm, framing.Item(warm.grid, warm.aspect, None)):
        fidx.search(w_item)
    warm_luma = framing.native_luma(np.full((96, 96), 128, np.uint8), warm.grid, warm.cells)
    framing.native_frame(np.zeros((96, 96), np.uint8) if warm_luma is None else warm_luma,
                         fidx.codes[0], (0.04, 0.04, 0.04, 0.04))
    framing.caption_blocks(warm.cells)

    def match(data: bytes):
        hexes, trusted, tp = plain_query(data)
        t = time.process_time()
        plain = {i for i, _d in plain_index.search(hexes, 31)} if trusted else set()
        tp += time.process_time() - t  # today = hashing + the plain search, same known list
        item, ti_old, ti = framing_item(data)
        t = time.process_time()
        hits = fidx.search(item) if trusted else []
        ts = time.process_time() - t
        # the previous code (no luma, so no native frames), timed
        t = time.process_time()
        old = _previous(fidx, item) if trusted else []
        ts_old = time.process_time() - t
        framed = {h.row: h for h in hits}
        return plain, framed, {h.row for h in old}, tp, ti + ts, ti_old + ts_old

    results: dict[str, dict] = {}
    costs_plain, costs_extra, costs_before = [], [], []
    fam_costs: dict[str, list[tuple[float, float, float]]] = {}
    families = [("collages", list(range(min(queries, n))), 1)]
    for family in dict.fromkeys(f for f, _i in known_imgs if f != "collages"):
        ids = [k for k, (f, _i) in enumerate(known_imgs) if f == family]
        families.append((family, ids, photo_seeds if family == "package photos"
                         else folder_seeds))
    photo_ids = [k for k, (f, _i) in enumerate(known_imgs) if f != "collages"]
    per_query: list[dict] = []
    for k, (kind, fn) in enumerate(VARIANTS.items()):
        if kinds and kind not in kinds:
            continue
        for family, ids, seeds in families:
            if not ids:
                continue
            r_all = results.setdefault(f"{kind} [{family}]", dict(q=0, plain=0, both=0, wrong=0,
                                                                  fam={}))
            r_stable = None
            if family != "collages" and unstable & set(ids):
                r_stable = results.setdefault(f"{kind} [{family}, PDQ-stable]",
                                              dict(q=0, plain=0, both=0, wrong=0, fam={}))
            for i in ids:
                for s in range(seeds):
                    rng = np.random.default_rng([i, k, s + (DEV_SEED if dev else 0)])
                    plain, framed, before, tp, te, te_old = match(fn(known_imgs[i][1], rng))
                    costs_plain.append(tp)
                    costs_extra.append(te)
                    costs_before.append(te_old)
                    fam_costs.setdefault(family, []).append((tp, te, te_old))
                    own = framed.get(i)
                    per_query.append(dict(kind=kind, family=family, known=i, seed=s,
                                          plain=i in plain, found=i in plain or i in framed,
                                          tag=own.tag if own else None,
                                          distance=own.distance if own else None,
                                          wrong=sorted(int(v) for v in
                                                       (plain | set(framed)) - {i})))
                    for r in (r_all,) if r_stable is None or i in unstable else (r_all, r_stable):
                        r["q"] += 1
                        r["plain"] += i in plain
                        r["both"] += i in plain or i in framed
                        r["before"] = r.get("before", 0) + (i in plain or i in before)
                        r["wrong"] += bool((plain | set(framed)) - {i})
                        if (set(framed) - plain) - {i}:
                            r["wrong_framing"] = r.get("wrong_framing", 0) + 1
                        if i in framed and i not in plain:
                            fam = framed[i].tag.split("-")[0]
                            r["fam"][fam] = r["fam"].get(fam, 0) + 1
        if progress:
            print(f"  {kind}: done ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)

    # unrelated: cached grids and query codes, matched against today's known lists
    u = _cached_unrelated(m, progress, DEV_UNRELATED if dev else 0)
    fm_plain: dict[str, int] = {}
    fm_framed: dict[str, int] = {}
    fm_before: dict[str, int] = {}
    rebuilt: dict[str, int] = {}
    native_closest: dict[str, int] = {}
    native_pairs: dict[str, int] = {}
    closest: dict[str, int] = {}
    closest_fam: dict[tuple[str, str], int] = {}
    per_kind: dict[str, int] = {}
    untrusted: dict[str, int] = {}
    hist = np.zeros(257, dtype=np.int64)  # best hypothesis distance per (unrelated, known)
    pairs = 0
    t_search, t_search_old = [], []
    t_plain_search = []
    for j in range(m):
        kind = str(u["kinds"][j])
        per_kind[kind] = per_kind.get(kind, 0) + 1
        if not u["trusted"][j]:
            untrusted[kind] = untrusted.get(kind, 0) + 1
            continue
        hexes = [bytes(c).hex() for c in u["codes"][j, :u["ncodes"][j]]]
        t = time.process_time()
        if plain_index.search(hexes, 31):
            fm_plain[kind] = fm_plain.get(kind, 0) + 1
        t_plain_search.append(time.process_time() - t)
        item = framing.Item(u["grids"][j].astype(np.float32), float(u["aspects"][j]),
                            u["cells"][j].astype(np.float32))
        # the distance distribution behind the false-match arithmetic (first round only):
        # every row's best distance when the list is small, else the rows within PAD_RADIUS
        detail: dict = {"radius": PAD_RADIUS} if pad else {}
        fidx.search(item, detail)
        near = (detail["near_dist"] if pad else detail["first_round_family"]["frame"])
        if len(near) and int(near.min()) <= framing.NATIVE_CANDIDATE:
            # the cache holds no luma: an item close enough for native frames is made again
            # from its image, and searched as the scan would (with its luma when gated)
            _k, img = unrelated_image(j + (DEV_UNRELATED if dev else 0))
            full = framing.Item.from_pixels(pdq._prepared(recall._jpeg(img, 90), True).pixels)
            if full.luma is not None:
                item = full
                rebuilt[kind] = rebuilt.get(kind, 0) + 1
                detail = {"radius": PAD_RADIUS} if pad else {}
                fidx.search(item, detail)
        t = time.process_time()
        hits = fidx.search(item)
        t_search.append(time.process_time() - t)
        t = time.process_time()
        old = _previous(fidx, item)
        t_search_old.append(time.process_time() - t)
        detail_check: dict = {"radius": PAD_RADIUS} if pad else {}
        assert [h.row for h in fidx.search(item, detail_check)] == [h.row for h in hits]
        for _row, nd in detail_check.get("native", ()):
            native_closest[kind] = min(native_closest.get(kind, 256), int(nd))
            native_pairs[kind] = native_pairs.get(kind, 0) + 1
        if hits:
            fm_framed[kind] = fm_framed.get(kind, 0) + 1
        if old:
            fm_before[kind] = fm_before.get(kind, 0) + 1
        d = (detail["near_dist"] if pad else detail["first_round"]).astype(np.int64)
        hist += np.bincount(d, minlength=257)[:257]
        pairs += n_rows
        closest[kind] = min(closest.get(kind, 256), int(d.min()) if len(d) else 256)
        for fam, fd in detail.get("first_round_family", {}).items():
            key = (kind, fam)
            closest_fam[key] = min(closest_fam.get(key, 256), int(fd.min()) if len(fd) else 256)
        if progress and j % 5000 == 4999:
            print(f"  unrelated {j + 1}/{m} matched ({time.perf_counter() - t0:.0f}s)",
                  file=sys.stderr)
    if queries_out is not None:
        import json

        queries_out.write_text("".join(json.dumps(q) + "\n" for q in per_query))
    return dict(results=results, n_known=len(known_hex), n_photos=len(photo_ids), m=m, dev=dev,
                pad=pad, pairs=pairs, cpu=time.process_time() - cpu0,
                cost_unrelated_plain_search=float(np.mean(t_plain_search)) if t_plain_search
                else 0.0,
                dropped=dropped,
                known_per_family={f: sum(g == f for g, _i in known_imgs)
                                  for f in dict.fromkeys(g for g, _i in known_imgs)},
                low_quality={f: sum(known_imgs[k][0] == f for k in low_quality)
                             for f in dict.fromkeys(g for g, _i in known_imgs)},
                unstable_per_family={f: sum(known_imgs[k][0] == f for k in unstable)
                                     for f in dict.fromkeys(g for g, _i in known_imgs)},
                fam_costs={f: np.mean(v, axis=0).tolist() for f, v in fam_costs.items()},
                per_kind=per_kind, untrusted=untrusted, fm_plain=fm_plain, fm_framed=fm_framed,
                fm_before=fm_before, rebuilt=rebuilt, native_closest=native_closest,
                native_pairs=native_pairs,
                closest=closest, closest_fam=closest_fam, hist=hist,
                cost_plain=float(np.mean(costs_plain)), cost_extra=float(np.mean(costs_extra)),
                cost_unrelated_plain=float(np.mean(u["t_plain"])),
                cost_unrelated_item=float(np.mean(u["t_item"])),
                cost_unrelated_search=float(np.mean(t_search)) if t_search else 0.0,
                cost_unrelated_search_before=float(np.mean(t_search_old)) if t_search_old
                else 0.0,
                cost_before=float(np.mean(costs_before)),
                cost_unrelated_grid=float(np.mean(u["t_grid"])) if "t_grid" in u else 0.0,
                elapsed=time.perf_counter() - t0, load=(load0, os.getloadavg()[0]))


def _closest(r: dict, kind: str) -> str:
    d = r["closest"].get(kind)
    if d is None:
        return "-"
    return f"> {PAD_RADIUS}" if r.get("pad") and d > PAD_RADIUS else str(d)


def report(r: dict) -> None:
    fams = ", ".join(f"{n} {f}" for f, n in r["known_per_family"].items())
    pad = f" + {r['pad']:,} padding (bench/pdq_corpus.py, clustered)" if r.get("pad") else ""
    print(f"hash-only: {r['n_known']} known PDQ ({fams}; {r['dropped']} near-duplicate "
          f"photos dropped){pad}, {r['m']} unrelated, {r['elapsed']:.0f}s wall, "
          f"{r['cpu']:.0f}s CPU, load {r['load'][0]:.1f} -> {r['load'][1]:.1f}")
    unst = ", ".join(f"{f} {c}" for f, c in r["unstable_per_family"].items() if c)
    low = ", ".join(f"{f} {c}" for f, c in r.get("low_quality", {}).items() if c)
    print(f"known pictures whose own PDQ quality is < 50 (their copies are untrusted and never "
          f"near-matched, plainly or with hypotheses; kept in the rows): {low or 'none'}")
    print(f"PDQ-unstable photos (own PDQ moves > {UNSTABLE_SHIFT} bits under a 1-2 px shift): "
          f"{unst or 'none'}; '[family, PDQ-stable]' rows leave them out")
    print(f"thresholds: plain 31 (full 256 bits); hypotheses {framing.FAMILIES} on the "
          f"{256 - framing.DROP_BITS} most reliable bits")
    print(f"column 'before': the same run without the families {', '.join(NEW_FAMILIES)}"
          f"{'; DEV split (other query seeds and unrelated images)' if r.get('dev') else ''}")
    print(f"{'variant [family]':<52}{'queries':>8}{'today':>9}{'before':>9}{'+framing':>10}  "
          "wrong-id today/added  found only by")
    for kind, v in r["results"].items():
        fam = ", ".join(f"{k} {c}" for k, c in sorted(v["fam"].items()))
        added = v.get("wrong_framing", 0)
        print(f"{kind:<52}{v['q']:>8}{v['plain'] / v['q']:>9.1%}{v['before'] / v['q']:>9.1%}"
              f"{v['both'] / v['q']:>10.1%}"
              f"  {v['wrong'] - added:>5}/{added:<5}  {fam}")
    print("unrelated (false matches today / with framing at the previous thresholds / now; "
          "closest first-round distance; untrusted PDQ quality < 50 skipped):")
    for kind, count in r["per_kind"].items():
        print(f"  {kind:<12}{count:>7}  {r['fm_plain'].get(kind, 0)} / "
              f"{r['fm_before'].get(kind, 0)} / {r['fm_framed'].get(kind, 0)}"
              f"  closest {_closest(r, kind)}"
              f"  untrusted {r['untrusted'].get(kind, 0)}")
    if r.get("closest_fam"):
        fams = list(dict.fromkeys(f for _k, f in r["closest_fam"]))
        print("  closest first-round distance per hypothesis family (threshold): "
              + "; ".join(f"{f} ({framing.FAMILIES[f]}): " + ", ".join(
                  f"{k} {d}" for (k, g), d in r["closest_fam"].items() if g == f)
                  for f in fams))
    if "rebuilt" in r:
        kinds = list(r["per_kind"])
        print(f"  native frames (nframe, threshold {framing.FAMILIES['nframe']}; only items that "
              f"look PDQ-unstable and come within {framing.NATIVE_CANDIDATE} of a known hash "
              "are searched): items rebuilt with their luma "
              + ", ".join(f"{k} {r['rebuilt'].get(k, 0)}" for k in kinds)
              + "; (item, known) pairs searched natively "
              + ", ".join(f"{k} {r['native_pairs'].get(k, 0)}" for k in kinds)
              + "; closest native distance "
              + ", ".join(f"{k} {r['native_closest'].get(k, '-')}" for k in kinds))
    hist = r["hist"]
    cum = np.cumsum(hist)
    pairs = r.get("pairs") or int(cum[-1])
    marks = ", ".join(f"<={t}: {int(cum[t])}" for t in (30, 36, 40, 44, 48, 52, 56, 60))
    print(f"  best first-round distance over {pairs:,} (unrelated, known) pairs: {marks}")
    base = r["cost_plain"]
    print(f"cost per query image (CPU ms, decode included in today): today {base * 1e3:.2f}; "
          f"framing adds {r['cost_extra'] * 1e3:.2f} (grid + PDQ samples + hypotheses + search)"
          f" -> {(base + r['cost_extra']) / base:.2f}x; the previous code (grid + its search, "
          f"same run) {r['cost_before'] * 1e3:.2f} -> {(base + r['cost_before']) / base:.2f}x")
    for fam, (tp, te, tb) in r["fam_costs"].items():
        print(f"  queries of {fam:<22} today {tp * 1e3:.2f}, + framing {te * 1e3:.2f} -> "
              f"{(tp + te) / tp:.2f}x (previous code + {tb * 1e3:.2f} -> {(tp + tb) / tp:.2f}x)")
    tp = r["cost_unrelated_plain"] + r.get("cost_unrelated_plain_search", 0.0)
    te = r["cost_unrelated_item"] + r["cost_unrelated_search"]
    tb = (r.get("cost_unrelated_grid") or r["cost_unrelated_item"]) + r.get(
        "cost_unrelated_search_before", 0.0)
    split = ("(grid only)" if r.get("cost_unrelated_grid")
             else "(grid and samples: not split in this cache)")
    print(f"  unrelated: the previous hypotheses' search "
          f"{r.get('cost_unrelated_search_before', 0) * 1e3:.2f} ms vs "
          f"{r['cost_unrelated_search'] * 1e3:.2f} now; with the item {split} {(tp + tb) / tp:.2f}x")
    print(f"  unrelated {UNRELATED_SIZE[0]}x{UNRELATED_SIZE[1]} (hashing and grid timed when "
          f"cached; plain search {r.get('cost_unrelated_plain_search', 0.0) * 1e3:.2f} and "
          f"hypotheses {r['cost_unrelated_search'] * 1e3:.2f} in this run) "
          f"today {tp * 1e3:.2f}, + framing {te * 1e3:.2f} -> {(tp + te) / tp:.2f}x")
