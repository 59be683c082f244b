"""Run every triage benchmark with its defaults: `make bench` (or .venv/bin/python bench/run.py).

Each benchmark prints its own figures beside the baseline measured in the same run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ("throughput.py", "recall.py")


def main() -> int:
    worst = 0
    for name in BENCHES:
        print(f"== {name}", flush=True)
        worst = max(worst, subprocess.call([sys.executable, str(HERE / name)]))
    return worst


if __name__ == "__main__":
    sys.exit(main())
