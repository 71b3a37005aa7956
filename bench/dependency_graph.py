"""Dependency graph benchmark: the /dependencies/ page and its layout for a large fleet.

    python -m bench.dependency_graph [--services 1000] [--requests 20]

About a fifth of the services are agent backends, each calling 3 MCP servers, and every fourth
agent also calls another agent (chains). Runs on a throwaway SQLite file by default; set
BENCH_DATABASE_URL to measure on PostgreSQL. Prints median and p95 server time (Django test
client, no network), the SQL query count and the page size; and the layout alone.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from bench.dashboard import _measure, _setup_django


def _populate(n: int):
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from fleet.models import Dependency, Service

    call_command("migrate", verbosity=0)
    rng = random.Random(14)
    statuses = ["up", "up", "up", "degraded", "down", "unknown", "needs_auth"]
    Service.objects.bulk_create(
        [
            Service(
                name=f"svc-{i:05d}",
                kind="agent_backend" if i % 5 == 0 else "mcp_server",
                url=f"https://svc-{i:05d}.example.com/mcp",
                status=statuses[i % len(statuses)],
            )
            for i in range(n)
        ],
        batch_size=1000,
    )
    ids = dict(Service.objects.values_list("name", "pk"))
    agents = [ids[f"svc-{i:05d}"] for i in range(n) if i % 5 == 0]
    servers = [ids[f"svc-{i:05d}"] for i in range(n) if i % 5]
    pairs = {(a, s) for a in agents for s in rng.sample(servers, 3)}
    pairs |= {(agents[i], agents[i - 1]) for i in range(1, len(agents)) if i % 4 == 0}
    Dependency.objects.bulk_create(
        [Dependency(caller_id=a, callee_id=b) for a, b in sorted(pairs)], batch_size=1000
    )
    user = User.objects.create_user("bench", password="bench-password-1")
    user.groups.add(Group.objects.get(name="viewer"))
    return user, len(pairs)


def _layout_ms(repeats: int) -> float:
    from fleet.dependency_graph import Node, layout
    from fleet.models import Dependency, Service

    rows = list(Service.objects.values_list("pk", "name", "kind", "status"))
    deps = list(Dependency.objects.values_list("caller_id", "callee_id"))
    times = []
    for _ in range(repeats):
        nodes = [Node(id=a, name=b, kind=c, status=d) for a, b, c, d in rows]
        start = time.perf_counter()
        layout(nodes, deps)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    _setup_django()
    from django.db import connection
    from django.test import Client

    user, edges = _populate(args.services)
    client = Client()
    client.force_login(user)
    print(
        f"\nDependency graph benchmark: {args.services:,} services, {edges:,} dependencies, "
        f"{args.requests} requests each, {connection.vendor}\n"
    )
    print(f"{'case':<34} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'bytes':>9}")
    print("-" * 73)
    for label, path in (
        ("graph page", "/dependencies/"),
        ("graph page, a server selected", "/dependencies/?selected=svc-00001"),
    ):
        median, p95, queries, size = _measure(client, path, {}, args.requests)
        print(f"{label:<34} {median:>10.1f} {p95:>8.1f} {queries:>8} {size:>9}")
    print(f"{'layout alone (Python)':<34} {_layout_ms(args.requests):>10.1f}")
    print("\nTarget: a fixed number of queries, and well under a second for 1,000 services.\n")


if __name__ == "__main__":
    main()
