"""Scale-out on Celery: 1 and 2 worker processes share one Redis and one PostgreSQL and split a sweep.

    python -m bench.scale_out [--services 5000] [--workers 1,2] [--rounds 2] [--delay 0.05]

Each worker is `celery -A console worker -Q probes` in its own process group (as a separate host
would be), with the production settings. The services are real MCP endpoints on loopback (SDK
servers in separate processes, `--delay` seconds added per response to stand in for a network).
Each round is one interval: every check is made due, two sweeps are enqueued at once (as two beats
by mistake would), and the round ends when every service has its result. Afterwards every service
must have been claimed exactly once per round (`claim_seq` = rounds: no double claims, no gaps) with
exactly one result per round.

Needs PostgreSQL and Redis: BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/bench_scale_out, dropped and created) and BENCH_REDIS_URL
(default redis://127.0.0.1:6379/0; its Celery queues are purged).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKER_SECRET = "scale-out-bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def worker_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a production worker (no embedded defaults)."""
    env = {k: v for k, v in os.environ.items() if k not in {"EMBEDDED", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        DJANGO_SETTINGS_MODULE="console.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECRET_KEY=WORKER_SECRET,
        LOG_JSON="0",
        LOG_LEVEL="WARNING",
        FLEET_WORKER_HEARTBEAT_SECONDS="2",
        FLEET_WORKER_STALE_SECONDS="30",
        **extra,
    )
    return env


def start_workers(
    count: int, env: dict[str, str], log_dir: Path, concurrency: int = 4
) -> list[subprocess.Popen]:
    """`count` probe workers, each in its own session (process group) like a separate host."""
    procs = []
    for i in range(count):
        log = (log_dir / f"worker-{i + 1}.log").open("w")
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "console",
                    "worker",
                    "--queues",
                    "probes",
                    "--pool",
                    "threads",
                    "--concurrency",
                    str(concurrency),
                    "--hostname",
                    f"scale-out-{i + 1}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "--loglevel",
                    "WARNING",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    return procs


def wait_for_workers(procs: Sequence[subprocess.Popen], timeout: float = 120) -> None:
    """Until every worker has written its first heartbeat (it is consuming)."""
    from console.heartbeat import live_workers

    deadline = time.monotonic() + timeout
    pids = {str(p.pid) for p in procs}
    while time.monotonic() < deadline:
        alive = {w.rsplit(":", 1)[-1] for w in live_workers().values_list("worker", flat=True)}
        if pids <= alive:
            return
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"a worker exited with {dead[0].returncode} before it was ready")
        time.sleep(0.3)
    raise TimeoutError(f"workers not ready after {timeout:.0f} s")


def stop_workers(procs: Sequence[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def make_fleet(urls: Sequence[str]) -> int:
    """One MCP server service per URL, each with check settings; returns how many."""
    from checks import sweep_db
    from checks.models import CheckConfig
    from fleet.models import Service

    Service.objects.bulk_create(
        [
            Service(name=f"scale-{i:05d}", kind="mcp_server", url=url, transport="streamable-http")
            for i, url in enumerate(urls)
        ],
        batch_size=1000,
    )
    sweep_db.ensure_configs()
    CheckConfig.objects.update(interval_seconds=3600)
    return len(urls)


def reset_fleet() -> None:
    """Forget every check, so the next run starts from claim 0."""
    from checks.models import CheckConfig, ProbeResult

    ProbeResult.objects.all().delete()
    CheckConfig.objects.update(claim_seq=0)


def run_round(services: int, round_no: int, sweeps: int = 2, timeout: float = 600) -> float:
    """One interval: everything due, `sweeps` sweeps enqueued at once; seconds until all checked."""
    from django.utils import timezone

    from checks.models import CheckConfig, ProbeResult
    from checks.tasks import sweep_task

    CheckConfig.objects.update(next_check_at=timezone.now())
    started = time.perf_counter()
    for _ in range(sweeps):
        sweep_task.delay()
    deadline = time.monotonic() + timeout
    while ProbeResult.objects.count() < services * round_no:
        if time.monotonic() > deadline:
            raise TimeoutError(f"round {round_no} not finished after {timeout:.0f} s")
        time.sleep(0.1)
    return time.perf_counter() - started


@dataclass
class Verdict:
    services: int
    rounds: int
    double_claims: int  # services claimed more often than once per round
    gaps: int  # services claimed less often
    duplicate_results: int  # (service, round) with more than one result
    missing_results: int  # (service, round) with none
    failed_probes: int = 0
    first_errors: list[str] = field(default_factory=list)

    @property
    def exactly_once(self) -> bool:
        return not (
            self.double_claims or self.gaps or self.duplicate_results or self.missing_results
        )


def verify(rounds: int) -> Verdict:
    from django.db.models import Count

    from checks.models import CheckConfig, ProbeResult

    services = CheckConfig.objects.count()
    per_slot = ProbeResult.objects.values("service_id", "slot").annotate(n=Count("id"))
    expected = {
        (sid, r)
        for sid in CheckConfig.objects.values_list("service_id", flat=True)
        for r in range(1, rounds + 1)
    }
    seen = {(row["service_id"], row["slot"]) for row in per_slot}
    failed = ProbeResult.objects.filter(ok=False)
    return Verdict(
        services=services,
        rounds=rounds,
        double_claims=CheckConfig.objects.filter(claim_seq__gt=rounds).count(),
        gaps=CheckConfig.objects.filter(claim_seq__lt=rounds).count(),
        duplicate_results=sum(1 for row in per_slot if row["n"] > 1) + len(seen - expected),
        missing_results=len(expected - seen),
        failed_probes=failed.count(),
        first_errors=list(failed.values_list("error", flat=True)[:3]),
    )


def batches_per_worker() -> dict[str, int]:
    """Probe batches each live worker has run so far (Celery remote control `stats`)."""
    from console.celery import app

    stats = app.control.inspect(timeout=3).stats() or {}
    return {
        name.split("@")[0]: info.get("total", {}).get("checks.probe_batch_task", 0)
        for name, info in sorted(stats.items())
    }


# -- the benchmark ---------------------------------------------------------------------------------


def _setup(database_url: str, redis_url: str) -> None:
    import psycopg

    base, _, name = database_url.rpartition("/")
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ.update(worker_env(database_url, redis_url))
    os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="fleet-scale-out-"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--workers", default="1,2", help="worker process counts to compare")
    parser.add_argument("--rounds", type=int, default=2, help="intervals per worker count")
    parser.add_argument("--concurrency", type=int, default=4, help="batches in flight per worker")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds added per response")
    parser.add_argument("--server-processes", type=int, default=2)
    args = parser.parse_args(argv)
    database_url = os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_scale_out"
    )
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    _setup(database_url, redis_url)

    from bench.probe_sweep import endpoints, start_servers
    from console.celery import app

    servers = start_servers("new", args.delay, args.server_processes)
    logs = Path(tempfile.mkdtemp(prefix="fleet-scale-out-logs-"))
    print(
        f"{args.services} services on {args.server_processes} SDK server processes "
        f"(+{args.delay * 1000:.0f} ms per response); PostgreSQL {database_url.rsplit('/', 1)[-1]}, "
        f"Redis {redis_url}; {args.concurrency} batches of {os.environ.get('PROBE_BATCH_SIZE', 50)} "
        "in flight per worker\n"
    )
    print("| workers | round | wall s | services/s | batches per worker |")
    print("|---:|---:|---:|---:|---|")
    verdicts = []
    try:
        make_fleet(endpoints(servers, args.services))
        for count in [int(w) for w in args.workers.split(",")]:
            app.control.purge()
            reset_fleet()
            procs = start_workers(
                count, worker_env(database_url, redis_url), logs, args.concurrency
            )
            try:
                wait_for_workers(procs)
                for round_no in range(1, args.rounds + 1):
                    wall = run_round(args.services, round_no)
                    split = batches_per_worker() if round_no == args.rounds else {}
                    print(
                        f"| {count} | {round_no} | {wall:.1f} | {args.services / wall:.0f} | "
                        f"{', '.join(str(n) for n in split.values()) or '…'} |",
                        flush=True,
                    )
            finally:
                stop_workers(procs)
            verdicts.append((count, verify(args.rounds)))
    finally:
        servers.stop()
    print()
    for count, v in verdicts:
        print(
            f"{count} worker(s): {v.services} services x {v.rounds} rounds: double claims "
            f"{v.double_claims}, gaps {v.gaps}, duplicate results {v.duplicate_results}, missing "
            f"results {v.missing_results}, failed probes {v.failed_probes} {v.first_errors or ''}"
        )
    return 0 if all(v.exactly_once for _, v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
