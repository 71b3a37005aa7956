"""The AWS part of a fleet audit alone: the ECS services of the audit benchmark's fleet.

    python -m bench.ecs_evidence [--fleet 5000]

Seeds moto (server mode, its own process, as in bench/fake_clouds.py) with the ECS services a
fleet of `--fleet` services holds (15 %, on two accounts), registers them on SQLite, then measures
what the audit's gather does for them, in this process: the live descriptions (the adapter's
`describe_many`, per account), the ECS evidence reader and the budget reader. It prints wall and
CPU time and the AWS calls made per operation (counted by a botocore `before-call` hook on every
client this process makes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench import fake_clouds as fc
from bench.dashboard import _setup_django

CALLS: Counter = Counter()


def _counted(model: Any, **_: Any) -> None:
    """A before-call handler that answers nothing (an answer would replace the call)."""
    CALLS[f"{model.service_model.service_name}:{model.name}"] += 1


def _count_calls() -> None:
    """Count every AWS call made through a botocore session made from now on."""
    import botocore.session

    make = botocore.session.Session.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        make(self, *args, **kwargs)
        self.register("before-call", _counted)

    # A bench instrument, not the console's code: each new session registers the counter.
    botocore.session.Session.__init__ = counting


def _services(endpoint: str, fleet: int) -> list:
    from fleet.models import CloudAccount, Service
    from fleet.operations.clouds.credentials import EMULATOR_ENV

    os.environ[EMULATOR_ENV] = "1"
    accounts = {
        f"aws-{n}": CloudAccount.objects.create(
            name=f"aws-{n}",
            provider="aws",
            region=fc.AWS_REGION,
            cluster=fc.CLUSTERS[n],
            account_id=fc.AWS_ACCOUNT,
            endpoint=endpoint,
        )  # fmt: skip
        for n in range(2)
    }
    Service.objects.bulk_create(
        Service(
            name=fc.name_of(i),
            url=f"https://{fc.name_of(i)}.example.com/mcp",
            account=accounts[fc.account_name(i)],
            resource=fc.resource_of(i),
        )  # fmt: skip
        for i in range(fleet)
        if fc.platform_of(i) == "aws"
    )
    return list(Service.objects.select_related("account").order_by("pk"))


def _measure(label: str, read: Callable[[], Any]) -> Any:
    CALLS.clear()
    start, cpu = time.perf_counter(), time.process_time()
    found = read()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"{label:<36} {seconds:>7.1f} {cpu:>6.2f} {sum(CALLS.values()):>6}")
    for operation, count in CALLS.most_common():
        print(f"    {operation:<40} {count:>6}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fleet", type=int, default=5000)
    args = parser.parse_args()
    os.environ.pop("BENCH_DATABASE_URL", None)
    _setup_django()
    from django.core.management import call_command
    from django.utils import timezone

    from checks.audits import gather
    from checks.audits.gather import ReadContext
    from checks.audits.readers import ecs
    from fleet.budgets import evidence as budgets

    call_command("migrate", verbosity=0)
    _count_calls()
    aws = subprocess.Popen(
        [sys.executable, "-m", "bench.fake_clouds", "aws"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert aws.stdin and aws.stdout
        endpoint = json.loads(aws.stdout.readline())["aws"]
        aws.stdin.write(f"grow 0 {args.fleet}\n")
        aws.stdin.flush()
        aws.stdout.readline()
        services = _services(endpoint, args.fleet)
        few = services[:5]  # a worker's first audit imports the SDKs: not measured
        ecs.read_all(ReadContext(few, gather._live_snapshots(few), timezone.now()))
        print(
            f"{len(services)} ECS services, load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        print(f"{'part':<36} {'wall s':>7} {'CPU s':>6} {'calls':>6}")
        clouds = _measure("descriptions (describe_many)", lambda: gather._live_snapshots(services))
        context = ReadContext(services, clouds, timezone.now())
        _measure("ECS evidence reader", lambda: ecs.read_all(context))
        _measure("budget reader", lambda: budgets.budget_coverage(context))
    finally:
        if aws.stdin:
            aws.stdin.close()
        aws.wait(timeout=30)


if __name__ == "__main__":
    main()
