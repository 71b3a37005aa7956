"""Sweep benchmark: the real beat-triggered sweep task, probe plus everything it records.

    python -m bench.sweep_record [--sizes 1000,10000] [--sweeps 3] [--databases sqlite,postgres]

For each database and fleet size it registers that many MCP servers (each its own endpoint on a
fast loopback server, `bench/fast_mcp.py`, running in another process so its CPU is not counted),
then calls `checks.tasks.sweep_task` — the task beat runs — until nothing is due, with Celery's
tasks run in this process (so the batches' CPU is counted here too). The first sweep is cold
(statuses move from unknown, tool baselines are written); the following ones are steady state.
Printed per sweep: console CPU per service (probe + result row, status, incidents, drift, rollups,
metrics), SQL queries per service and wall time. PostgreSQL runs use
postgres://postgres@127.0.0.1:5432/bench_sweep (BENCH_POSTGRES_URL to change; recreated).

Measured 2026-11-30 (2 shared cores, load ~15), steady state, console CPU ms per service, before →
after bulk recording: SQLite 1,000: 3.15 → 1.02–1.16 (8.15 → 0.35 queries/service); PostgreSQL
1,000: 4.44–4.94 → 1.04–1.12 (8.1 → 0.31); SQLite 10,000: before never steady (a sweep took over
60 s; 3.38 ms and 8.9 queries per check) → 1.08–1.10 (0.34), 23–50 s wall; PostgreSQL 10,000:
1.07–1.11 (0.30), 32–35 s wall. Target: at most 3 ms.

Recording the probing client on each result (checks 0008), 1,000 services, 3 sweeps, before →
after, steady state CPU ms per service (queries per service): SQLite 1.08–1.21 → 1.07–1.16 (0.35 →
0.35); PostgreSQL 1.05–1.19 → 1.00–1.01 (0.30 → 0.30). Same machine, load ~8 then ~4.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import timedelta

TARGET_MS = 3.0
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/bench_sweep"


def _register(n: int, servers) -> None:  # noqa: ANN001
    from checks.models import CheckConfig
    from fleet.models import Service

    Service.objects.bulk_create(
        [
            Service(name=f"mcp-{i:05d}", kind="mcp_server", url=servers.url(i), team=f"t{i % 20}")
            for i in range(n)
        ],
        batch_size=2000,
    )
    CheckConfig.objects.bulk_create(
        [CheckConfig(service_id=pk) for pk in Service.objects.values_list("pk", flat=True)],
        batch_size=2000,
    )


def _sweep_until_done() -> tuple[int, float, float, int]:
    """Run the beat task until nothing is due: (checked, cpu s, wall s, SQL queries)."""
    from django.db import connection

    from checks.models import ProbeResult
    from checks.tasks import sweep_task

    queries = 0

    def count(execute, sql, params, many, context):  # noqa: ANN001, ANN202
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    before = ProbeResult.objects.count()
    with connection.execute_wrapper(count):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        while sweep_task.apply().get():
            pass
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return ProbeResult.objects.count() - before, cpu, wall, queries


def _child(size: int, sweeps: int, database: str) -> None:
    """One database, one fleet size: print one JSON line per sweep."""
    from bench.dashboard import _setup_django

    if database == "postgres":
        os.environ["BENCH_DATABASE_URL"] = os.environ.get("BENCH_POSTGRES_URL", POSTGRES_URL)
    else:
        os.environ.pop("BENCH_DATABASE_URL", None)
    _setup_django()
    import logging

    from django.core.management import call_command
    from django.utils import timezone

    from bench import fast_mcp
    from checks.models import CheckConfig
    from fleet.models import Service

    logging.disable(logging.WARNING)
    call_command("migrate", verbosity=0)
    servers = fast_mcp.start(1)
    try:
        _register(size, servers)
        for n in range(sweeps):
            CheckConfig.objects.update(next_check_at=timezone.now() - timedelta(seconds=1))
            server0 = servers.cpu_s()
            checked, cpu, wall, queries = _sweep_until_done()
            up = Service.objects.filter(status="up").count()
            print(
                json.dumps(
                    {
                        "database": database,
                        "size": size,
                        "sweep": n + 1,
                        "checked": checked,
                        "up": up,
                        "cpu_ms": cpu / max(checked, 1) * 1000,
                        "queries": queries / max(checked, 1),
                        "wall_s": wall,
                        "server_cpu_ms": (servers.cpu_s() - server0) / max(checked, 1) * 1000,
                    }
                ),
                flush=True,
            )
    finally:
        servers.stop()


def _postgres_reachable() -> bool:
    try:
        import psycopg

        url = os.environ.get("BENCH_POSTGRES_URL", POSTGRES_URL)
        psycopg.connect(url.rpartition("/")[0] + "/postgres", connect_timeout=3).close()
    except Exception:  # noqa: BLE001 - any failure means "skip PostgreSQL"
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--sweeps", type=int, default=3)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--child", nargs=2, metavar=("SIZE", "DATABASE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(int(args.child[0]), args.sweeps, args.child[1])
        return 0
    rows = []
    for database in args.databases.split(","):
        if database == "postgres" and not _postgres_reachable():
            print("PostgreSQL is not reachable: skipped")
            continue
        for size in (int(s) for s in args.sizes.split(",")):
            command = [sys.executable, "-m", "bench.sweep_record", "--sweeps", str(args.sweeps)]
            out = subprocess.run(
                [*command, "--child", str(size), database],
                capture_output=True,
                text=True,
                check=False,
            )
            if out.returncode:
                print(out.stderr[-3000:])
                return 1
            rows += [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    print()
    print("Beat sweep task, probe + recording, one worker process (tasks run in-process)")
    print(
        f"{'database':9} {'services':>8} {'sweep':>11} {'checked':>8} {'up':>6} "
        f"{'CPU ms/svc':>10} {'SQL/svc':>8} {'wall s':>7} {'server CPU ms/svc':>18}"
    )
    for r in rows:
        kind = "cold" if r["sweep"] == 1 else "steady"
        print(
            f"{r['database']:9} {r['size']:>8} {kind + ' ' + str(r['sweep']):>11} "
            f"{r['checked']:>8} {r['up']:>6} {r['cpu_ms']:>10.2f} {r['queries']:>8.2f} "
            f"{r['wall_s']:>7.2f} {r['server_cpu_ms']:>18.2f}"
        )
    print(
        f"target: steady state at most {TARGET_MS:.0f} ms CPU per service; cores: {os.cpu_count()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
