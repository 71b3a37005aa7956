"""Audit benchmark: fleet audits of 1,000 and 5,000 services on SQLite and PostgreSQL, then
the pages and the streamed exports of the latest run.

    python -m bench.audit [--sizes 1000,5000] [--databases sqlite,postgres] [--requests 10]
                          [--evidence fakes|stored]

Evidence comes from the fakes of tests/fakes/ over HTTP (bench/fake_clouds.py): Kubernetes,
Cloud Run (with Cloud Logging, Resource Manager and Cloud Monitoring), Container Apps and
moto's ECS, each platform in a process of its own, with a mix of 35 % Kubernetes, 30 % Cloud
Run, 20 % Container Apps and 15 % ECS on two accounts each. Nothing is stored beforehand but
probe results, tool lists and dependencies (what the console's own sweeps record): the audit
reads every cloud description and fact through the same gather path the worker's task uses
(`execute_run`). `--evidence stored` reads stored cloud descriptions instead (no network).

Each database is measured in a fresh process: the audit's wall and CPU time (one worker
process; a first, unmeasured audit of 20 services imports the SDKs as a worker's first audit
does), then server time (Django test client, no network), SQL queries and size of the pages,
and for each export, in a fresh process of its own as a web worker would serve it: time, size,
chunks, queries and the growth of the process's peak RSS while streaming. PostgreSQL uses
BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/bench_audit; dropped and
created). On a shared machine the wall figures follow the load average (printed); CPU does not.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta

from bench import fake_clouds
from bench.dashboard import _setup_django
from bench.fake_clouds import FakeFleet

WARM_UP = 20  # services in the unmeasured first audit
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/bench_audit"

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


def _grow_fleet(start: int, stop: int, accounts: list, clouds: FakeFleet | None = None) -> None:
    """Services start..stop-1 with probes and tool lists; each linked to a platform.

    Without `clouds`, each gets a stored cloud description (CloudSnapshot) on one of `accounts`
    (the query-count tests use this). With `clouds`, each is linked to its resource on the fake
    platforms and nothing is stored: the audit reads every description and fact over HTTP.
    """
    from django.utils import timezone

    from checks.models import ProbeResult, ToolSnapshot
    from fleet.models import Dependency, Service
    from fleet.operations.clouds.types import EnvVar, ScalingSettings, ServiceSnapshot
    from fleet.operations.models import CloudSnapshot
    from fleet.operations.services import snapshot_data

    def linked(i: int) -> tuple[object, str]:
        if clouds is None:
            return accounts[i % 4], f"svc-{i:05d}"
        return accounts[fake_clouds.account_name(i)], fake_clouds.resource_of(i)

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
                account=linked(i)[0],
                resource=linked(i)[1],
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
        if clouds is not None:
            _probes_and_tools(service, i, now, probes, tools, deps, mcp, n)
            continue
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
        _probes_and_tools(service, i, now, probes, tools, deps, mcp, n)
    CloudSnapshot.objects.bulk_create(snapshots, batch_size=1000)
    ProbeResult.objects.bulk_create(probes, batch_size=2000)
    ToolSnapshot.objects.bulk_create(tools, batch_size=1000)
    Dependency.objects.bulk_create(deps, batch_size=1000, ignore_conflicts=True)


def _probes_and_tools(
    service, i: int, now, probes: list, tools: list, deps: list, mcp: list, n: int
):
    """Three probe results, a tool list (MCP servers) or dependencies (agent backends)."""
    from checks.models import ProbeResult, ToolSnapshot
    from fleet.models import Dependency

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


PAGES = [
    ("scorecard", "/audits/"),
    ("scorecard page 10, filtered", "/audits/?environment=staging&page=10"),
    ("fleet run page", "/audits/runs/{run}/"),
    (
        "run page, one rule's failures",
        "/audits/runs/{run}/?rule=reliability.multiple-replicas&status=fail",
    ),
    ("run page, one service", "/audits/runs/{run}/?service=svc-00042"),
    ("run list", "/audits/runs/"),
]
EXPORTS = [("JSON", "json"), ("CSV", "csv"), ("Markdown", "md")]


def _viewer_client():
    from django.contrib.auth.models import Group, User
    from django.test import Client

    user, _ = User.objects.get_or_create(username="bench")
    user.groups.add(Group.objects.get(name="viewer"))
    client = Client()
    client.force_login(user)
    return client


def _measure_one(sizes: list[int], requests: int, evidence: str) -> dict:
    """Everything measured on the database this process was set up with."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    client = _viewer_client()
    out: dict = {"vendor": connection.vendor, "audits": [], "pages": [], "exports": []}
    with contextlib.ExitStack() as stack:
        clouds = stack.enter_context(FakeFleet()) if evidence == "fakes" else None
        accounts = clouds.accounts() if clouds else _accounts()
        # A worker imports the cloud SDKs and reader modules on its first audit, once: warm up
        # on a small fleet so the figures are those of a running worker.
        grown = min(WARM_UP, sizes[0])
        if clouds:
            clouds.grow(0, grown)
        _grow_fleet(0, grown, accounts, clouds)
        _audit(grown)
        for size in sizes:
            if clouds:
                clouds.grow(grown, size)
            _grow_fleet(grown, size, accounts, clouds)
            grown = size
            load = os.getloadavg()[0]
            run, seconds, cpu, _attest = _audit(size)
            print(
                f"  {connection.vendor}: {size:,} services audited in {seconds:.1f} s "
                f"({cpu:.1f} s CPU, load {load:.1f})",
                file=sys.stderr,
                flush=True,
            )
            out["audits"].append(
                {
                    "services": size,
                    "results": run.results.count(),
                    "wall_s": seconds,
                    "cpu_s": cpu,
                    "load": load,
                    "run": run.pk,
                }  # fmt: skip
            )
    run = out["audits"][-1]["run"]
    for label, path in PAGES:
        median, p95, cpu, queries, body = _page(client, path.format(run=run), requests)
        out["pages"].append(
            {
                "case": label,
                "median_ms": median,
                "p95_ms": p95,
                "cpu_ms": cpu,
                "queries": queries,
                "bytes": body,
            }  # fmt: skip
        )
    for label, ext in EXPORTS:
        out["exports"].append({"format": label, **_export_in_fresh_process(run, ext)})
    out["load_end"] = os.getloadavg()[0]
    return out


def _export_in_fresh_process(run: int, ext: str) -> dict:
    """Stream one export in a new process, as a web worker would serve it, and report its
    time, size, query count and the process's peak memory growth while streaming."""
    env = {**os.environ, "BENCH_REUSE_DATABASE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.audit", "--export", f"{run}.{ext}"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _stream_export(target: str) -> dict:
    """(In the fresh process) GET /audits/runs/ID.EXT, consuming the stream chunk by chunk."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = _viewer_client()
    client.get("/audits/runs/")  # imports, templates and the session: not the export's cost
    gc.collect()
    with open("/proc/self/clear_refs", "w") as refs:  # reset the peak (VmHWM) to the current RSS
        refs.write("5")
    before = _rss_kib("VmRSS")
    size = chunks = 0
    with CaptureQueriesContext(connection) as queries:
        start, cpu = time.perf_counter(), time.process_time()
        response = client.get(f"/audits/runs/{target}")
        assert response.status_code == 200 and response.streaming, response.status_code
        for chunk in response.streaming_content:
            size += len(chunk)
            chunks += 1
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "seconds": seconds, "cpu_s": cpu, "bytes": size, "chunks": chunks,
        "queries": len(queries), "rss_before_mib": before / 1024,
        "peak_growth_mib": (_rss_kib("VmHWM") - before) / 1024,
    }  # fmt: skip


def _child(database_url: str, sizes: list[int], requests: int, evidence: str) -> dict:
    env = {**os.environ, "BENCH_DATABASE_URL": database_url}
    env.pop("VAR_DIR", None)
    args = ["--sizes", ",".join(map(str, sizes)), "--requests", str(requests)]
    done = subprocess.run(
        [sys.executable, "-m", "bench.audit", "--one", "--evidence", evidence, *args],
        env=env, stdout=subprocess.PIPE, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def _table(results: list[dict]) -> None:
    print(f"\n{'fleet audit (one worker process)':<34} {'services':>9} {'results':>9} "
          f"{'wall s':>7} {'CPU s':>6} {'load':>5}")  # fmt: skip
    print("-" * 75)
    for res in results:
        for a in res["audits"]:
            print(f"{res['vendor']:<34} {a['services']:>9,} {a['results']:>9,} "
                  f"{a['wall_s']:>7.1f} {a['cpu_s']:>6.1f} {a['load']:>5.1f}")  # fmt: skip
    for res in results:
        size = res["audits"][-1]["services"]
        print(f"\nPages with {size:,} services in the latest run, {res['vendor']}")
        print(f"{'case':<34} {'median ms':>10} {'p95 ms':>8} {'CPU ms':>8} {'queries':>8} "
              f"{'bytes':>10}")  # fmt: skip
        print("-" * 83)
        for p in res["pages"]:
            print(f"{p['case']:<34} {p['median_ms']:>10.1f} {p['p95_ms']:>8.1f} "
                  f"{p['cpu_ms']:>8.1f} {p['queries']:>8} {p['bytes']:>10,}")  # fmt: skip
        print(f"\nStreamed exports of that run, {res['vendor']} (a fresh web process each)")
        print(f"{'format':<12} {'s':>6} {'CPU s':>6} {'MB':>7} {'chunks':>7} {'queries':>8} "
              f"{'peak RSS growth MiB':>20}")  # fmt: skip
        print("-" * 72)
        for e in res["exports"]:
            print(f"{e['format']:<12} {e['seconds']:>6.1f} {e['cpu_s']:>6.1f} "
                  f"{e['bytes'] / 1e6:>7.1f} {e['chunks']:>7,} {e['queries']:>8} "
                  f"{e['peak_growth_mib']:>20.1f}")  # fmt: skip
    print(
        "\nTargets: a 5,000-service audit within 60 s on one worker; scorecard and run page "
        "under 300 ms with a query count that does not grow with the fleet; exports stream.\n"
        "Load is the 1-minute load average when the audit started, on "
        f"{os.cpu_count()} cores (the machine may be shared).\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,5000")
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument(
        "--evidence", choices=("fakes", "stored"), default="fakes",
        help="read the clouds over HTTP from the fakes (default) or from stored snapshots",
    )  # fmt: skip
    parser.add_argument(
        "--databases", default="sqlite,postgres",
        help="sqlite and/or postgres (postgres uses BENCH_DATABASE_URL, default "
        f"{DEFAULT_POSTGRES})",
    )  # fmt: skip
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--export", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if args.export:
        _setup_reused()
        print(json.dumps(_stream_export(args.export)))
        return
    if args.one:
        _setup_django()
        print(json.dumps(_measure_one(sizes, args.requests, args.evidence)))
        return
    urls = {"sqlite": "", "postgres": os.environ.get("BENCH_DATABASE_URL") or DEFAULT_POSTGRES}
    results = []
    for name in args.databases.split(","):
        print(f"measuring on {name} ({args.evidence} evidence, sizes {sizes})…", flush=True)
        results.append(_child(urls[name.strip()], sizes, args.requests, args.evidence))
    _table(results)


def _setup_reused() -> None:
    """Django on the database a parent bench process made (no drop, no migrate)."""
    import django

    if not os.environ.get("BENCH_DATABASE_URL"):
        os.environ.pop("DATABASE_URL", None)
    else:
        os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    os.environ["DJANGO_SETTINGS_MODULE"] = "console.settings_test"
    django.setup()


if __name__ == "__main__":
    main()
