"""Dashboard benchmark: 5,000 registered services, the full page and its htmx refresh fragment.

    python -m bench.dashboard [--services 5000] [--requests 40]

Runs on a throwaway SQLite file by default; set BENCH_DATABASE_URL (e.g.
postgres://postgres@127.0.0.1:5432/bench, created if missing) to measure on PostgreSQL.
Prints median and p95 server time (Django test client, no network) and the SQL query count.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def _setup_django() -> None:
    url = os.environ.get("BENCH_DATABASE_URL", "")
    os.environ["DATABASE_URL"] = url
    if not url:
        os.environ.pop("DATABASE_URL")
    os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="fleet-bench-"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "console.settings_test"
    if url.startswith("postgres"):
        _create_postgres_db(url)
    import django

    django.setup()


def _create_postgres_db(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def _populate(n: int):
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.utils import timezone

    from fleet.models import CloudAccount, Service

    call_command("migrate", verbosity=0)
    accounts = [
        CloudAccount.objects.create(
            name="gcp", provider="gcp", project="proj-123", region="us-central1"
        ),
        CloudAccount.objects.create(name="aws", provider="aws", region="us-east-1", cluster="mcp"),
        CloudAccount.objects.create(
            name="azure", provider="azure", subscription="s", resource_group="rg"
        ),
        CloudAccount.objects.create(name="k8s", provider="kubernetes", namespace="mcp"),
    ]
    statuses = ["up", "up", "up", "degraded", "down", "unknown"]
    now = timezone.now()
    Service.objects.bulk_create(
        [
            Service(
                name=f"svc-{i:05d}",
                kind="agent_backend" if i % 7 == 0 else "mcp_server",
                url=f"https://svc-{i:05d}.example.com/mcp",
                environment=("production", "staging", "dev")[i % 3],
                team=f"team-{i % 25}",
                tags=["bench", f"group-{i % 10}"],
                account=accounts[i % 4] if i % 5 else None,
                resource=f"svc-{i:05d}" if i % 5 else "",
                status=statuses[i % len(statuses)],
                last_checked_at=now,
                last_latency_ms=float(20 + i % 300),
            )
            for i in range(n)
        ],
        batch_size=1000,
    )
    user = User.objects.create_user("bench", password="bench-password-1")
    user.groups.add(Group.objects.get(name="viewer"))
    return user


def _measure(client, path: str, headers: dict, requests: int) -> tuple[float, float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(path, **headers)  # warm caches and the connection
    times = []
    for _ in range(requests):
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            response = client.get(path, **headers)
            times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return statistics.median(times), p95, len(queries), len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    _setup_django()
    from django.db import connection
    from django.test import Client

    user = _populate(args.services)
    client = Client()
    client.force_login(user)
    htmx = {"HTTP_HX_REQUEST": "true"}
    cases = [
        ("dashboard page", "/", {}),
        ("refresh fragment (htmx)", "/", htmx),
        ("filtered + sorted page", "/?environment=staging&sort=-latency&q=svc-01", {}),
        ("page 50 of the table", "/?page=50", {}),
    ]
    engine = connection.vendor
    print(
        f"\nDashboard benchmark: {args.services:,} services, {args.requests} requests each, {engine}\n"
    )
    print(f"{'case':<28} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'bytes':>8}")
    print("-" * 66)
    for label, path, headers in cases:
        median, p95, queries, size = _measure(client, path, headers, args.requests)
        print(f"{label:<28} {median:>10.1f} {p95:>8.1f} {queries:>8} {size:>8}")
    print("\nTarget: under 150 ms median and at most 15 queries, not growing with the fleet.\n")


if __name__ == "__main__":
    main()
