"""vPDQ hashing speed on a 720p H.264 file: haven's fast path beside the naive baseline.

    .venv/bin/python bench/video.py [--seconds 60] [--fps 1] [--repeat 3]

The video is generated here (benign procedural content: photo-like backgrounds from
bench/imagegen.py panned by a moving camera, with moving shapes and fresh sensor-like grain in
every frame, so that predicted frames cost what they cost in camera footage; a new scene every
3 s),
encoded with libx264 at 1280x720, 30 fps, CRF 23, preset medium, in two GOP layouts:

- `long-gop`: x264 defaults (key frame every 250 frames, 3 B-frames, B-pyramid) — the
  common case for encoded files and the hard one for sampling (every GOP holds samples);
- `gop-1s`: a key frame every 30 frames, as many phone and streaming encoders write.

Both sides run on one core (decoder threads = 1) in the same run, reading from the page cache:

- baseline: decode every frame at full size, convert the sampled ones to RGB and pdqhash them
  (what upstream vPDQ does; `vpdq_from_path(fast=False)`);
- haven: `vpdq_from_path(fast=True)` — GOP decode plan + NONREF skipping + PDQ's 64x64
  reduction applied to the luma plane.

Reported per side: wall and CPU seconds, frames hashed per second and x real time (video
seconds per CPU second: per core, so it holds on a loaded machine), and the largest Hamming
distance between the two sides' hashes of the same frame.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
sys.path.insert(0, str(HERE))

WIDTH, HEIGHT, RATE = 1280, 720, 30
SCENE_SECONDS = 3
PAN = 96  # pixels the camera travels per scene, each axis
GRAIN = 3.0  # standard deviation of the per-frame grain, in 8-bit levels


def _scene_background(seed: int) -> np.ndarray:
    from imagegen import make_photo

    return np.asarray(make_photo(seed, WIDTH + PAN, HEIGHT + PAN).convert("RGB"))


def frames(seconds: int, seed: int = 0):
    """RGB frames of the benchmark video (deterministic per seed)."""
    from PIL import Image, ImageDraw

    total = seconds * RATE
    per_scene = SCENE_SECONDS * RATE
    background = None
    grain_rng = np.random.default_rng(seed + 12345)
    for n in range(total):
        scene, t = divmod(n, per_scene)
        if t == 0:
            background = _scene_background(seed * 1000 + scene)
            rng = np.random.default_rng(seed * 1000 + scene)
            shapes = [(rng.uniform(0, WIDTH, 2), rng.uniform(-6, 6, 2), rng.uniform(40, 160),
                       tuple(int(c) for c in rng.integers(0, 256, 3))) for _ in range(3)]
        dx = dy = int(PAN * t / per_scene)
        img = Image.fromarray(np.ascontiguousarray(background[dy:dy + HEIGHT, dx:dx + WIDTH]))
        draw = ImageDraw.Draw(img)
        for (x, y), (vx, vy), r, colour in shapes:
            cx, cy = (x + vx * t) % WIDTH, (y + vy * t) % HEIGHT
            draw.ellipse((cx - r, cy - r * 0.7, cx + r, cy + r * 0.7), fill=colour)
        grain = grain_rng.normal(0.0, GRAIN, (HEIGHT, WIDTH, 1)).astype(np.float32)
        yield np.clip(np.asarray(img, dtype=np.float32) + grain, 0, 255).astype(np.uint8)


def encode(path: Path, seconds: int, gop: int | None) -> None:
    """Write the benchmark video with libx264 (gop=None: x264's default key-frame interval)."""
    import av

    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        options = {"crf": "23", "preset": "medium"}
        if gop:
            options["x264-params"] = f"keyint={gop}:min-keyint={gop}:scenecut=0"
        stream.options = options
        for rgb in frames(seconds):
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    tmp.rename(path)


def video(seconds: int, gop: int | None) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    name = f"bench720p-grain-{seconds}s-{'gop' + str(gop) if gop else 'x264default'}.mp4"
    path = CACHE / name
    if not path.exists():
        print(f"encoding {name} ...", flush=True)
        encode(path, seconds, gop)
    return path


def timed(fn, repeat: int):
    """(result, best wall seconds, best CPU seconds) over `repeat` runs."""
    best_wall = best_cpu = float("inf")
    result = None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return result, best_wall, best_cpu


def main(argv: list[str] | None = None) -> None:
    import av

    from haven.signals.pdq import hamming
    from haven.signals.vpdq import vpdq_from_path

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--fps", type=float, default=1.0, help="frames hashed per second of video")
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs per side")
    args = ap.parse_args(argv)

    print(f"PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info}); sampling {args.fps} frame/s; "
          f"one decoder thread; best of {args.repeat}")
    header = (f"{'video':<14} {'side':<9} {'wall s':>7} {'cpu s':>6} {'hashed':>6} "
              f"{'frames/s':>9} {'x real':>7} {'max bits':>8}")
    print(header)
    for gop in (None, 30):
        path = video(args.seconds, gop)
        label = "gop-1s" if gop else "long-gop"
        base, bw, bc = timed(lambda: vpdq_from_path(path, fps=args.fps, fast=False), args.repeat)
        fast, fw, fc = timed(lambda: vpdq_from_path(path, fps=args.fps, fast=True), args.repeat)
        if [f.frame for f in base.frames] != [f.frame for f in fast.frames]:
            raise SystemExit(f"{label}: the two sides hashed different frames")
        worst = max(hamming(a.hex, b.hex) for a, b in zip(base.frames, fast.frames))
        for side, sig, wall, cpu in (("baseline", base, bw, bc), ("haven", fast, fw, fc)):
            n = len(sig.frames)
            print(f"{label:<14} {side:<9} {wall:7.2f} {cpu:6.2f} {n:6d} {n / cpu:9.1f} "
                  f"{args.seconds / cpu:7.1f} {worst if side == 'haven' else 0:8d}")
        print(f"{label:<14} speed-up  {bc / fc:.1f}x (CPU)")


if __name__ == "__main__":
    main()
