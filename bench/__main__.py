"""Run every benchmark, one after another, each printing its own table: `python -m bench`."""

from __future__ import annotations

import os
import subprocess
import sys

BENCHMARKS = [
    "bench.dashboard",
    "bench.dependency_graph",
    "bench.charts",
    "bench.probe_sweep",
    "bench.sweep_record",
    "bench.audit",
]
if os.environ.get("BENCH_REDIS_URL"):  # workers on PostgreSQL and Redis: needs both
    BENCHMARKS.append("bench.scale_out")


def main() -> int:
    failed = 0
    for module in BENCHMARKS:
        print(f"\n=== {module} ===", flush=True)
        failed += subprocess.call([sys.executable, "-m", module]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
