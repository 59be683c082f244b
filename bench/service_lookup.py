"""Load benchmark of the matching API: single-signal PDQ lookups against `haven serve`.

Loads N random PDQ hashes into a fresh service data folder, starts `haven serve` (its own
processes, 127.0.0.1), then sends a bounded load: a fixed number of `GET /m/lookup`
requests over a fixed number of keep-alive HTTP/1.1 connections, from one asyncio process
that writes pre-built request bytes and reads raw responses (no HTTP library), so the client
takes as little as possible of the CPU it shares with the server. Half the queries are
enrolled hashes with 8 bits flipped (matches), half random (no match). Prints throughput,
latency percentiles, the CPU time of client and server, the server's memory, and checks
afterwards that every lookup has its own entry in the audit chain and the chain verifies.

    .venv/bin/python bench/service_lookup.py --hashes 1000000 --requests 20000 --connections 16 --workers 2

`--controls N` turns the matching controls on (issue 15): the set's own PDQ threshold, a
negative set of N hashes suppressing it, the flood watch (on by default).

`--audit-key` serves with an audit key file (HMAC-keyed chain, issue 15.4) and verifies the
chain with it.

`--library clustered` (issue 18) loads a clustered library instead (bench/pdq_corpus.py: Zipf
families of near-duplicates, a crowded near-blank region, real PDQ hashes of generated
photos) and times each query class on its own — `nomatch` (fresh photos), `neardup` (a family
member 4-16 bits off), `crowded` (a near-blank hash 0-12 bits off, hundreds to ~10,000
matches) — and a mix (45 % / 50 % / 5 %), each `--requests` lookups, reporting the server's
CPU per lookup per class. `--other-src DIR` serves the same data folder from another
checkout's src/ first (the baseline, same run), then from this one, each from its own copy of
the loaded data folder (quarantines the flood watch made in one run never reach the other).

    .venv/bin/python bench/service_lookup.py --library clustered --hashes 1000000 --requests 3000 --other-src /tmp/base/src
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _load(data_dir: Path, n: int, seed: int, library: str = "uniform"
          ) -> tuple[list[str], str, dict[str, list[str]]]:
    """Fill a fresh service data folder; (hashes, API key, {class: query hexes} if clustered)."""
    from haven.hashsets.model import HashEntry, ImportResult
    from haven.service.accounts import create_api_key
    from haven.service.db import make_engine, session_factory, upgrade
    from haven.service.lookup import store_hashset
    from haven.service.settings import Settings

    settings = Settings(data_dir=data_dir)
    settings.prepare()
    engine = make_engine(settings.url)
    upgrade(engine)
    rng = random.Random(seed)
    classes: dict[str, list[str]] = {}
    if library == "clustered":
        import numpy as np

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from pdq_corpus import CLASSES, Corpus

        nrng = np.random.default_rng(seed)
        corpus = Corpus(seed=seed)
        codes, fam = corpus.library(n, nrng)
        hexes = codes.tobytes().hex()
        hexes = [hexes[64 * k:64 * (k + 1)] for k in range(n)]
        for kind in CLASSES:
            q = corpus.queries(kind, 500, codes, fam, nrng)
            classes[kind] = [bytes(x).hex() for x in q]
        del codes, fam
    else:
        hexes = [f"{rng.getrandbits(256):064x}" for _ in range(n)]
    result = ImportResult(format="bench", scheme="bench",
                          entries=[HashEntry(pdq=h, category="1") for h in hexes])
    with session_factory(engine)() as s:
        store_hashset(s, result, name="bench", source_sha256=None)
        _, key = create_api_key(s, "bench")
        s.commit()
    engine.dispose()
    return hexes, key, classes


def _flip(hex_hash: str, rng: random.Random, bits: int) -> str:
    value = int(hex_hash, 16)
    for b in rng.sample(range(256), bits):
        value ^= 1 << b
    return f"{value:064x}"


def _proc_tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                kids = Path(f"/proc/{p}/task/{task}/children").read_text().split()
                todo.extend(int(k) for k in kids)
        except OSError:
            pass
    return out


def _cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total / tick


def _rss_mb(pids: list[int]) -> dict[int, float]:
    out = {}
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[p] = int(line.split()[1]) / 1024
        except OSError:
            pass
    return out


async def _drive(port: int, requests: list[bytes], connections: int) -> tuple[list[float], int]:
    """Send every request once over `connections` keep-alive connections; latencies in s."""
    latencies: list[float] = []
    errors = 0
    nxt = 0

    async def one_connection() -> None:
        nonlocal nxt, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while nxt < len(requests):
                req = requests[nxt]
                nxt += 1
                t0 = time.perf_counter()
                writer.write(req)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                if head[9:12] != b"200":
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return latencies, errors


def _controls(data_dir: Path, negatives: int, seed: int) -> None:
    """The matching controls on (issue 15): the bench set gets its own PDQ threshold (28) and
    a negative set of `negatives` random hashes suppresses it; the flood watch is on in
    every served worker by default (HAVEN_FLOOD_MIN_QUERIES 50)."""
    from sqlalchemy import select

    from haven.hashsets.model import HashEntry, ImportResult
    from haven.service.db import make_engine, session_factory
    from haven.service.lookup import apply_controls, store_hashset
    from haven.service.models import LookupHashSet
    from haven.service.settings import Settings

    rng = random.Random(seed + 99)
    engine = make_engine(Settings(data_dir=data_dir).url)
    try:
        with session_factory(engine)() as s:
            hs = s.scalar(select(LookupHashSet).where(LookupHashSet.name == "bench"))
            apply_controls(hs, {"pdq_threshold": 28})
            result = ImportResult(format="bench", scheme="bench", entries=[
                HashEntry(pdq=f"{rng.getrandbits(256):064x}") for _ in range(negatives)])
            store_hashset(s, result, name="bench-negatives", source_sha256=None,
                          controls={"negative": True, "suppresses": ["bench"]})
            s.commit()
    finally:
        engine.dispose()


def _request(signal_hex: str, key: str) -> bytes:
    return (f"GET /m/lookup?signal={signal_hex}&signal_type=pdq HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nX-API-Key: {key}\r\n\r\n").encode()


def _audit_check(data_dir: Path, key_file: Path | None) -> tuple[int, bool]:
    from sqlalchemy import func, select

    from haven.service import audit
    from haven.service.db import make_engine, session_factory
    from haven.service.models import AuditEntry
    from haven.service.settings import Settings

    engine = make_engine(Settings(data_dir=data_dir).url)
    try:
        with session_factory(engine)() as s:
            n = s.scalar(select(func.count()).select_from(AuditEntry)
                         .where(AuditEntry.action == "lookup.hma"))
            keyring = audit.Keyring.load(key_file) if key_file else None
            return n, audit.verify(s, keyring).ok
    finally:
        engine.dispose()


def _serve(src: str | None, data_dir: Path, workers: int, env_extra: dict, expect: int,
           batches: dict[str, list[bytes]], warmup: list[bytes], connections: int) -> dict:
    """Start `haven serve` from `src` (None: this checkout), send `warmup` then each batch;
    per batch: lookups/s, latency percentiles, server and client CPU."""
    port = _free_port()
    env = {**os.environ, "HAVEN_DATA_DIR": str(data_dir), **env_extra}
    env.pop("HAVEN_DATABASE_URL", None)
    if src:
        env["PYTHONPATH"] = src
    code = "from haven.cli import app; app()"
    server = subprocess.Popen([sys.executable, "-c", code, "serve", "--port", str(port),
                               "--workers", str(workers)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    out = {}
    try:
        started = time.perf_counter()
        while True:  # one worker answers with the whole library loaded
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                    if json.load(r)["hash_entries"] == expect:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.perf_counter() - started > 1200:
                raise SystemExit("server did not start")
            time.sleep(0.5)
        while True:  # ... and the others have finished loading: the server is idle
            before = _cpu_seconds(_proc_tree(server.pid))
            time.sleep(1)
            if _cpu_seconds(_proc_tree(server.pid)) - before < 0.1:
                break
        print(f"server ready in {time.perf_counter() - started:.1f} s")
        pids = _proc_tree(server.pid)
        rss = _rss_mb(pids)
        print("server RSS MB: " + ", ".join(f"{v:.0f}" for v in rss.values())
              + f" (total {sum(rss.values()):.0f})")
        asyncio.run(_drive(port, warmup, connections))
        for name, reqs in batches.items():
            load_before = os.getloadavg()
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            srv0 = _cpu_seconds(pids)
            t0 = time.perf_counter()
            latencies, errors = asyncio.run(_drive(port, reqs, connections))
            wall = time.perf_counter() - t0
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            srv = _cpu_seconds(pids) - srv0
            client = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
            latencies.sort()
            pct = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000  # noqa: E731
            out[name] = {"per_lookup_ms": 1000 * srv / len(latencies)}
            print(f"  [{name}] {len(latencies)} lookups, {connections} connections, "
                  f"{workers} workers, {wall:.2f} s: {len(latencies) / wall:.0f} lookups/s; "
                  f"latency ms p50 {pct(0.50):.1f} p95 {pct(0.95):.1f} p99 {pct(0.99):.1f} "
                  f"max {latencies[-1] * 1000:.1f}; errors {errors}")
            print(f"  [{name}] CPU: client {client:.2f} s ({100 * client / wall:.0f} % of one "
                  f"core), server {srv:.2f} s ({100 * srv / wall:.0f} %), "
                  f"**{1000 * srv / len(latencies):.3f} ms per lookup**; load average before "
                  f"{load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # clean shutdown: the audit queue is written
        server.wait(timeout=120)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hashes", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=10_000, help="per batch (per class)")
    ap.add_argument("--warmup", type=int, default=500, help="requests sent first, not timed")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2, help="haven serve --workers")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--audit-key", action="store_true", help="serve with an audit key file")
    ap.add_argument("--library", choices=("uniform", "clustered"), default="uniform")
    ap.add_argument("--controls", type=int, default=0, metavar="N",
                    help="matching controls on: the set's own threshold and a negative set of "
                         "N hashes suppressing it (issue 15)")
    ap.add_argument("--other-src", default=None,
                    help="serve from this src/ first (baseline), then from this checkout")
    ap.add_argument("--load-only", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.load_only:  # run by the baseline tree: its schema, then ours upgrades it at start
        hexes, key, classes = _load(Path(args.load_only), args.hashes, args.seed, args.library)
        print(json.dumps({"key": key, "classes": classes, "sample": hexes[:50_000]}))
        return
    try:
        import uvloop  # a cheaper event loop for the client too
        uvloop.install()
    except ImportError:
        pass

    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="haven-bench-") as tmp:
        data_dir = Path(tmp) / "svc"
        started = time.perf_counter()
        if args.other_src:  # the older tree creates the schema it knows
            done = subprocess.run(
                [sys.executable, __file__, "--load-only", str(data_dir), "--hashes",
                 str(args.hashes), "--seed", str(args.seed), "--library", args.library],
                env={**os.environ, "PYTHONPATH": args.other_src}, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"loading with {args.other_src} failed:\n{done.stderr[-2000:]}")
            loaded = json.loads(done.stdout.strip().splitlines()[-1])
            hexes, key, classes = loaded["sample"], loaded["key"], loaded["classes"]
        else:
            hexes, key, classes = _load(data_dir, args.hashes, args.seed, args.library)
        print(f"loaded {args.hashes} PDQ hashes ({args.library}) into SQLite in "
              f"{time.perf_counter() - started:.1f} s")
        expect = args.hashes
        if args.controls and args.other_src:
            raise SystemExit("--controls needs this checkout's schema: run it without "
                             "--other-src (and the baseline without --controls)")
        if args.controls:
            _controls(data_dir, args.controls, args.seed)
            expect += args.controls
            print(f"matching controls on: set threshold 28, {args.controls} negative hashes, "
                  "flood watch on")
        env_extra = {}
        key_file = None
        if args.audit_key:
            from haven.service.audit import new_key

            key_file = Path(tmp) / "audit.keys"
            new_key(key_file)
            env_extra["HAVEN_AUDIT_KEY_FILE"] = str(key_file)
        rng = random.Random(args.seed + 1)
        if classes:
            def pick(kind: str, count: int) -> list[str]:
                return [rng.choice(classes[kind]) for _ in range(count)]

            r = args.requests
            mix = pick("nomatch", r * 45 // 100) + pick("neardup", r // 2)
            mix += pick("crowded", r - len(mix))
            rng.shuffle(mix)
            batches = {kind: [_request(q, key) for q in pick(kind, r)] for kind in classes}
            batches["mix"] = [_request(q, key) for q in mix]
            warmup = [_request(q, key) for q in pick("nomatch", args.warmup)]
        else:
            queries = [(_flip(rng.choice(hexes), rng, 8) if i % 2 == 0
                        else f"{rng.getrandbits(256):064x}")
                       for i in range(args.requests + args.warmup)]
            reqs = [_request(q, key) for q in queries]
            warmup, batches = reqs[:args.warmup], {"50 % near, 50 % random": reqs[args.warmup:]}
        del hexes
        trees = [("this checkout", None)]
        if args.other_src:
            trees = [(f"baseline {args.other_src}", args.other_src)] + trees
        results = {}
        served = []
        for k, (name, src) in enumerate(trees):
            print(f"== {name}", flush=True)
            # each tree starts from the library as loaded: the flood watch's quarantines
            # (kept in the database) and audit entries of one run never reach the next
            folder = data_dir
            if len(trees) > 1:
                folder = Path(tmp) / f"svc-{k}"
                shutil.copytree(data_dir, folder)
            served.append(folder)
            results[name] = _serve(src, folder, args.workers, env_extra, expect, batches,
                                   warmup, args.connections)
            if folder != data_dir and k < len(trees) - 1:
                n, ok = _audit_check(folder, key_file)
                print(f"audit ({name}): {n} lookup.hma entries; chain "
                      f"{'verifies' if ok else 'BROKEN'}")
                shutil.rmtree(folder)
        if len(trees) > 1:
            print("server CPU per lookup (ms): " + "; ".join(
                f"{b}: " + " vs ".join(f"{results[n][b]['per_lookup_ms']:.3f}" for n, _ in trees)
                for b in batches) + " (baseline vs this checkout)")
        sent = len(warmup) + sum(len(b) for b in batches.values())
        n, ok = _audit_check(served[-1], key_file)
        print(f"audit (this checkout): {n} lookup.hma entries for {sent} lookups; "
              f"chain {'verifies' if ok else 'BROKEN'}"
              f"{' (keyed)' if key_file else ' (unkeyed)'}")
        print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
