"""Charts benchmark: the service page at each chart range, and the dashboard with its sparklines.

    python -m bench.charts [--interval 10] [--requests 10] [--rows 50]

One service checked every `--interval` seconds: raw results for the last 48 hours (the default
raw retention) and hourly rollups for the 28 days before, as retention leaves them. The dashboard
page holds `--rows` services, each with a day of checks. Runs on a throwaway SQLite file by
default; set BENCH_DATABASE_URL to measure on PostgreSQL. Prints median and p95 server time
(Django test client, no network), the SQL query count and the page size.
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from bench.dashboard import _measure, _setup_django

RAW_HOURS, ROLLUP_DAYS = 48, 28


def _populate(interval: int, rows: int):
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.utils import timezone

    from checks.models import HourlyRollup, ProbeResult
    from fleet.models import Service

    call_command("migrate", verbosity=0)
    now = timezone.now()
    services = Service.objects.bulk_create(
        [
            Service(name=f"svc-{i:03d}", kind="mcp_server", url=f"https://svc-{i:03d}.example/mcp")
            for i in range(rows)
        ]
    )
    target = services[0]
    per_hour = 3600 // interval
    ProbeResult.objects.bulk_create(
        (
            ProbeResult(
                service=target,
                checked_at=now - timedelta(seconds=interval * i),
                ok=i % 97 != 0,
                latency_ms=None if i % 97 == 0 else 20.0 + (i * 13) % 400,
                phases={"connect": 3.0, "initialize": 12.0, "tools_list": 9.0},
            )
            for i in range(RAW_HOURS * per_hour)
        ),
        batch_size=2000,
    )
    first_rolled = (now - timedelta(hours=RAW_HOURS)).replace(minute=0, second=0, microsecond=0)
    HourlyRollup.objects.bulk_create(
        [
            HourlyRollup(
                service=target,
                hour=first_rolled - timedelta(hours=h + 1),
                count=per_hour,
                failures=per_hour // 97,
                latency_count=per_hour - per_hour // 97,
                latency_sum_ms=(per_hour - per_hour // 97) * 120.0,
                latency_max_ms=420.0,
                histogram={"50": per_hour // 2, "200": per_hour // 3, "500": per_hour // 7},
            )
            for h in range(ROLLUP_DAYS * 24)
        ]
    )
    ProbeResult.objects.bulk_create(
        (
            ProbeResult(
                service=s, checked_at=now - timedelta(minutes=5 * i), ok=True, latency_ms=30.0 + i
            )
            for s in services[1:]
            for i in range(24 * 12)
        ),
        batch_size=2000,
    )
    user = User.objects.create_user("bench", password="bench-password-1")
    user.groups.add(Group.objects.get(name="viewer"))
    return user, target.name


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--rows", type=int, default=50)
    args = parser.parse_args()
    _setup_django()
    from django.db import connection
    from django.test import Client

    user, name = _populate(args.interval, args.rows)
    client = Client()
    client.force_login(user)
    print(
        f"\nCharts benchmark: one service checked every {args.interval} s ({RAW_HOURS} h raw, "
        f"{ROLLUP_DAYS} d of rollups); dashboard of {args.rows} rows; {connection.vendor}\n"
    )
    print(f"{'case':<36} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'bytes':>9}")
    print("-" * 75)
    htmx = {"HTTP_HX_REQUEST": "true"}
    cases = [
        (f"chart fragment, {key}", f"/services/{name}/health/latency/?range={key}", htmx)
        for key in ("1h", "24h", "7d", "30d")
    ]
    cases += [
        ("service page (24 h chart, phases)", f"/services/{name}/", {}),
        ("dashboard with sparklines", "/", {}),
    ]
    for label, path, headers in cases:
        median, p95, queries, size = _measure(client, path, headers, args.requests)
        print(f"{label:<36} {median:>10.1f} {p95:>8.1f} {queries:>8} {size:>9}")
    print("\nNo target is set; the query counts stay the same whatever the range or the rows.\n")


if __name__ == "__main__":
    main()
