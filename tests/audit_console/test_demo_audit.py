"""The demo fleet's first audit is decided from what its (fake) cluster shows, good and bad.

The quickstart's demo Deployments are run the way real ones are: some drain on shutdown, are
scraped, fenced by NetworkPolicies and bound to narrow roles; others are oversized, log plain
text, hold an editor's role or are open to the internet without limits. The score is mixed for
those reasons, each verdict naming the Kubernetes object it was read from.
"""

from __future__ import annotations

from collections import Counter

import pytest

from fleet.demo.cloud import DEPLOYMENTS, start_demo_cloud, with_demo_cloud
from fleet.demo.fleet import demo_fleet
from fleet.demo.servers import DEMO_ORDER
from fleet.fleetfile import import_fleet
from fleet.operations.clouds.credentials import EMULATOR_ENV

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(monkeypatch):
    monkeypatch.setenv(EMULATOR_ENV, "1")
    cloud = start_demo_cloud(rollout_gets=2)
    ports = {name: 18200 + i for i, name in enumerate(DEMO_ORDER)}
    import_fleet(with_demo_cloud(demo_fleet(ports, DEPLOYMENTS), cloud.endpoint), actor="up")
    yield cloud
    cloud.stop()


def test_the_demo_fleets_first_audit_is_mixed_and_decided_from_evidence(demo, run_audit):
    run = run_audit()
    results = {(r.service_name, r.rule_id): r for r in run.results.all()}

    def status(service: str, rule: str) -> str:
        return results[(service, rule)].status

    # Well run where the cluster shows it ...
    assert status("notes", "reliability.graceful-shutdown") == "pass"
    assert status("notes", "security.network-restricted") == "pass"
    assert status("notes", "observability.metrics") == "pass"
    assert status("search", "observability.metrics") == "pass"  # a ServiceMonitor selects it
    assert status("search", "security.rate-limiting") == "pass"
    assert status("assistant", "security.least-privilege-review") == "pass"
    # ... and flawed where it shows that.
    assert status("calendar", "security.least-privilege-review") == "fail"
    assert status("calendar", "cost.right-sizing") == "warning"
    assert status("calendar", "observability.structured-logging") == "fail"
    assert status("inventory", "reliability.graceful-shutdown") == "fail"
    assert status("inventory", "security.network-restricted") == "fail"
    assert status("inventory", "security.rate-limiting") == "fail"
    assert status("inventory", "performance.resource-limits") == "warning"
    assert status("inventory", "reliability.backup-restore") == "needs_attestation"
    assert status("notes", "reliability.backup-restore") == "not_applicable"

    # No verdict comes from the console's own logging or audit settings.
    for (_, rule), result in results.items():
        if rule in ("observability.structured-logging", "compliance.audit-logging"):
            assert all(e["source"] != "console configuration" for e in result.evidence)

    summary = run.scores
    counts = Counter(r.status for r in results.values())
    assert counts["pass"] and counts["fail"] and counts["warning"]
    overall = summary["overall"]
    assert 40 < overall < 90, summary
    print(f"demo first audit: {overall} % {dict(counts)} coverage {summary.get('coverage')}")
