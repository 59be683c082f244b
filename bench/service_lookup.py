"""Load benchmark of the matching API: single-signal PDQ lookups against `haven serve`.

Loads N random PDQ hashes into a fresh service data folder, starts the server on
127.0.0.1 in its own process, then sends a bounded number of `GET /m/lookup` requests from
a fixed number of client threads (each a keep-alive connection) and prints throughput and
latency percentiles. Half the queries are enrolled hashes with a few bits flipped (matches),
half random (no match).

    .venv/bin/python bench/service_lookup.py --hashes 1000000 --requests 20000 --clients 8
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _load(data_dir: Path, n: int, seed: int) -> tuple[list[str], str]:
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
    hexes = [f"{rng.getrandbits(256):064x}" for _ in range(n)]
    result = ImportResult(format="bench", scheme="bench",
                          entries=[HashEntry(pdq=h, category="1") for h in hexes])
    with session_factory(engine)() as s:
        store_hashset(s, result, name="bench", source_sha256=None)
        _, key = create_api_key(s, "bench")
        s.commit()
    engine.dispose()
    return hexes, key


def _flip(hex_hash: str, rng: random.Random, bits: int) -> str:
    value = int(hex_hash, 16)
    for b in rng.sample(range(256), bits):
        value ^= 1 << b
    return f"{value:064x}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hashes", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=5_000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-lookup-audit", action="store_true",
                    help="measurement only: patch the server so lookups write no audit entry, "
                    "to see what the per-lookup audit commit costs")
    args = ap.parse_args()

    import httpx

    with tempfile.TemporaryDirectory(prefix="haven-bench-") as tmp:
        data_dir = Path(tmp) / "svc"
        started = time.perf_counter()
        hexes, key = _load(data_dir, args.hashes, args.seed)
        print(f"loaded {args.hashes} PDQ hashes in {time.perf_counter() - started:.1f} s")
        port = _free_port()
        env = {**os.environ, "HAVEN_DATA_DIR": str(data_dir)}
        env.pop("HAVEN_DATABASE_URL", None)
        code = ("import typer; from haven.service.cli import serve; "
                "app = typer.Typer(); app.command()(serve); app()")
        if args.skip_lookup_audit:
            code = ("from haven.service import audit; _r = audit.record; "
                    "audit.record = lambda s, actor, action, *a, **k: None "
                    "if action.startswith('lookup') else _r(s, actor, action, *a, **k); " + code)
        server = subprocess.Popen([sys.executable, "-c", code, "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            started = time.perf_counter()
            while True:
                try:
                    httpx.get(f"{base}/health", timeout=2)
                    break
                except httpx.TransportError:
                    if server.poll() is not None or time.perf_counter() - started > 600:
                        raise SystemExit("server did not start")
                    time.sleep(0.5)
            print(f"server ready in {time.perf_counter() - started:.1f} s")
            rng = random.Random(args.seed + 1)
            queries = [(_flip(rng.choice(hexes), rng, 8) if i % 2 == 0
                        else f"{rng.getrandbits(256):064x}") for i in range(args.requests)]
            latencies: list[float] = []
            errors = [0]
            lock = threading.Lock()
            per_client = [queries[k::args.clients] for k in range(args.clients)]

            def run(mine: list[str]) -> None:
                with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as c:
                    local = []
                    for q in mine:
                        t0 = time.perf_counter()
                        r = c.get("/m/lookup", params={"signal": q, "signal_type": "pdq"})
                        local.append(time.perf_counter() - t0)
                        if r.status_code != 200:
                            errors[0] += 1
                with lock:
                    latencies.extend(local)

            threads = [threading.Thread(target=run, args=(m,)) for m in per_client]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            latencies.sort()
            pct = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000  # noqa: E731
            print(f"{len(latencies)} lookups, {args.clients} clients, {wall:.1f} s: "
                  f"{len(latencies) / wall:.0f} lookups/s; latency ms p50 {pct(0.50):.1f} "
                  f"p95 {pct(0.95):.1f} p99 {pct(0.99):.1f} mean "
                  f"{statistics.fmean(latencies) * 1000:.1f}; errors {errors[0]}")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
