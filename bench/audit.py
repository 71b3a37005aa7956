"""Audit benchmark: a fleet audit of 1,000 and 5,000 services, then its pages and exports.

    python -m bench.audit [--sizes 1000,5000] [--requests 10]

Evidence comes from the database, as in production after a cloud sync and a probe sweep: each
linked service has a stored cloud description (CloudSnapshot), three probe results and (MCP
servers) a tool list; agent backends depend on MCP servers; some rules are attested in bulk.
Runs on a throwaway SQLite file by default; set BENCH_DATABASE_URL (e.g.
postgres://postgres@127.0.0.1:5432/bench_audit, created if missing) to measure on PostgreSQL.
Prints the fleet audit's wall and CPU time on one process (what one worker does), then server
time (Django test client, no network; wall and this process's CPU), SQL query count and size of
the scorecard, a fleet run's page and the streamed exports. On a shared machine the wall figures
follow the load average (printed); the CPU figures do not.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import timedelta

from bench.dashboard import _setup_django

PROVIDERS = ("gcp", "aws", "azure", "kubernetes")
REGIONS = ("europe-west1", "us-east-1", "westeurope", "eu-central")


def _accounts() -> list:
    from fleet.models import CloudAccount

    specs = [
        {"name": "gcp", "provider": "gcp", "project": "proj-123", "region": "europe-west1"},
        {"name": "aws", "provider": "aws", "region": "us-east-1", "cluster": "mcp"},
        {"name": "azure", "provider": "azure", "subscription": "s", "resource_group": "rg"},
        {"name": "k8s", "provider": "kubernetes", "namespace": "mcp"},
    ]
    return [
        CloudAccount.objects.get_or_create(name=spec.pop("name"), defaults=spec)[0]
        for spec in specs
    ]


def _grow_fleet(start: int, stop: int, accounts: list) -> None:
    """Services start..stop-1 with a stored cloud description, probes and tool lists."""
    from django.utils import timezone

    from checks.models import ProbeResult, ToolSnapshot
    from fleet.models import Dependency, Service
    from fleet.operations.clouds.types import EnvVar, ScalingSettings, ServiceSnapshot
    from fleet.operations.models import CloudSnapshot
    from fleet.operations.services import snapshot_data

    now = timezone.now()
    services = Service.objects.bulk_create(
        [
            Service(
                name=f"svc-{i:05d}",
                kind="agent_backend" if i % 7 == 0 else "mcp_server",
                url=f"https://svc-{i:05d}.example.com/mcp",
                environment=("production", "staging", "dev")[i % 3],
                team=f"team-{i % 25}",
                tags=["bench", f"group-{i % 10}"],
                account=accounts[i % 4],
                resource=f"svc-{i:05d}",
                health_path="/health",
                status="up",
                last_checked_at=now,
            )
            for i in range(start, stop)
        ],
        batch_size=1000,
    )
    snapshots, probes, tools, deps = [], [], [], []
    mcp = [s for s in services if s.kind == "mcp_server"]
    for n, service in enumerate(services):
        i = start + n
        provider = PROVIDERS[i % 4]
        snapshot = ServiceSnapshot(
            provider=provider,
            resource=service.resource,
            url=service.url,
            image=f"registry.example.com/mcp/{service.name}:1.{i % 9}",
            revision=f"{service.name}-0004{i % 10}",
            region=REGIONS[i % 4],
            scaling=ScalingSettings(
                min_instances=i % 3, max_instances=10, concurrency=80, cpu="1", memory="512Mi"
            ),
            ready_instances=max(1, i % 3),
            ingress=("internal", "all")[i % 2],
            allows_unauthenticated=i % 11 == 0,
            service_identity=f"{service.name}@proj-123.iam" if i % 6 else "",
            env=[EnvVar("PORT", False, "8080"), EnvVar("API_KEY", i % 5 != 0, "x")],
        )
        snapshots.append(
            CloudSnapshot(
                service=service,
                provider=provider,
                account_name=accounts[i % 4].name,
                resource=service.resource,
                data=snapshot_data(snapshot),
                observed_at=now - timedelta(minutes=i % 60),
            )
        )
        for k in range(3):
            probes.append(
                ProbeResult(
                    service=service,
                    checked_at=now - timedelta(minutes=5 * k),
                    ok=(i + k) % 13 != 0,
                    latency_ms=40.0 + (i % 200),
                    transport="streamable-http",
                    protocol_version=("2025-11-25", "2024-11-05")[i % 17 == 0],
                    server_name=service.name,
                    http_status=200,
                    tls_days=60.0,
                    tls_hostname_ok=True,
                    unauthenticated_tools_list=False,
                )
            )
        if service.kind == "mcp_server":
            tools.append(
                ToolSnapshot(
                    service=service,
                    fingerprint=f"fp-{i}",
                    tools=[
                        {
                            "name": "search",
                            "description": "Search the notes for a phrase.",
                            "input_schema": {
                                "type": "object",
                                "properties": {"q": {"type": "string"}},
                            },
                        }
                    ],
                    is_baseline=True,
                )
            )
        elif mcp:
            deps += [Dependency(caller=service, callee=mcp[(n + k) % len(mcp)]) for k in range(3)]
    CloudSnapshot.objects.bulk_create(snapshots, batch_size=1000)
    ProbeResult.objects.bulk_create(probes, batch_size=2000)
    ToolSnapshot.objects.bulk_create(tools, batch_size=1000)
    Dependency.objects.bulk_create(deps, batch_size=1000, ignore_conflicts=True)


def _audit(size: int) -> tuple[object, float, float, float]:
    """A fleet run as the worker executes it: (run, wall s, CPU s, bulk attestation s)."""
    from checks.audits import services as audit_services

    start = time.perf_counter()
    audit_services.attest_bulk(
        actor="bench",
        source="cli",
        rule_id="security.rate-limiting",
        note="Cloud Armor policy 7",
        tag="group-3",
    )
    attest_seconds = time.perf_counter() - start
    run = audit_services.create_run(actor="bench", trigger="cli", enqueue=False)
    start, cpu = time.perf_counter(), time.process_time()
    run = audit_services.execute_run(run)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert run.status == "succeeded", run.error
    return run, seconds, cpu, attest_seconds


def _page(
    client, path: str, requests: int, warm: bool = True
) -> tuple[float, float, float, int, int]:
    """(median wall ms, p95 wall ms, median CPU ms, queries, bytes) of one page."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if warm:
        client.get(path)
    times, cpu = [], []
    for _ in range(requests):
        with CaptureQueriesContext(connection) as queries:
            start, cpu_start = time.perf_counter(), time.process_time()
            response = client.get(path)
            size = (
                sum(len(chunk) for chunk in response.streaming_content)
                if response.streaming
                else len(response.content)
            )
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - cpu_start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return statistics.median(times), p95, statistics.median(cpu), len(queries), size


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,5000")
    parser.add_argument("--requests", type=int, default=10)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    _setup_django()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench", password="bench-password-1")
    user.groups.add(Group.objects.get(name="viewer"))
    client = Client()
    client.force_login(user)
    accounts = _accounts()
    print(f"\nAudit benchmark on {connection.vendor}, {args.requests} requests per page\n")
    runs = []
    grown = 0
    for size in sizes:
        _grow_fleet(grown, size, accounts)
        grown = size
        run, seconds, cpu, attest = _audit(size)
        rows = run.results.count()
        runs.append((size, run, seconds, cpu, attest, rows))
    print(f"load average when measured: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print(
        f"{'fleet audit':<24} {'services':>9} {'results':>9} {'wall s':>7} {'CPU s':>6} "
        f"{'bulk attest s':>14}"
    )
    print("-" * 74)
    for size, _run, seconds, cpu, attest, rows in runs:
        print(
            f"{'run (one process)':<24} {size:>9,} {rows:>9,} {seconds:>7.1f} {cpu:>6.1f} "
            f"{attest:>14.2f}"
        )
    size, run, *_ = runs[-1]
    cases = [
        ("scorecard", "/audits/"),
        ("scorecard page 30, filtered", "/audits/?environment=staging&page=10"),
        ("fleet run page", f"/audits/runs/{run.pk}/"),
        (
            "run page, one rule's failures",
            f"/audits/runs/{run.pk}/?rule=reliability.multiple-replicas&status=fail",
        ),
        ("run page, one service", f"/audits/runs/{run.pk}/?service=svc-00042"),
        ("run list", "/audits/runs/"),
        ("export JSON (streamed)", f"/audits/runs/{run.pk}.json"),
        ("export CSV (streamed)", f"/audits/runs/{run.pk}.csv"),
        ("export Markdown (streamed)", f"/audits/runs/{run.pk}.md"),
    ]
    print(f"\nPages and exports with {size:,} services in the latest run\n")
    print(
        f"{'case':<34} {'median ms':>10} {'p95 ms':>8} {'CPU ms':>8} {'queries':>8} {'bytes':>12}"
    )
    print("-" * 85)
    for label, path in cases:
        export = "export" in label  # large: measured once each, without a warm-up
        median, p95, cpu, queries, body = _page(
            client, path, 1 if export else args.requests, not export
        )
        print(f"{label:<34} {median:>10.1f} {p95:>8.1f} {cpu:>8.1f} {queries:>8} {body:>12,}")
    print(
        "\nTargets: a 5,000-service audit within 60 s on one worker; scorecard and run page "
        "under 300 ms with a query count that does not grow with the fleet; exports stream.\n"
    )


if __name__ == "__main__":
    main()
