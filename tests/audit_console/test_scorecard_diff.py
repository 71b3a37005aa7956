"""The scorecard matrix, its filters, per-service history and the diff between two runs."""

from __future__ import annotations

from checks.audits import services as audit_services
from checks.audits.models import Attestation
from fleet.models import Service


def test_scorecard_shows_services_by_sections_coloured_by_score(fleet, viewer_client, run_audit):
    run = run_audit()
    page = viewer_client.get("/audits/").content.decode()
    for title in (
        "Infrastructure",
        "Security",
        "Observability",
        "Reliability",
        "Performance",
        "Cost",
        "Compliance",
        "MCP",
    ):
        assert f"<th>{title}</th>" in page
    for service in fleet:
        assert f'href="/audits/services/{service.name}/"' in page
    assert 'class="cell score-bad"' in page  # the demo fleet is far from production-ready
    assert f"audit #{run.pk}" in page
    assert "Run audit" not in page  # viewers see no button


def test_scorecard_filters_live_in_the_url_and_htmx_gets_the_matrix_only(
    fleet, viewer_client, htmx_headers, run_audit
):
    run_audit()
    page = viewer_client.get("/audits/?team=platform&kind=mcp_server", **htmx_headers)
    body = page.content.decode()
    assert "<html" not in body and 'id="audit-matrix"' in body
    assert "/audits/services/notes/" in body
    assert "/audits/services/assistant/" not in body  # an agent backend
    assert "/audits/services/search/" not in body  # another team
    assert "HX-Request" in page["Vary"]
    searched = viewer_client.get("/audits/?q=calen").content.decode()
    assert "/audits/services/calendar/" in searched and "/audits/services/notes/" not in searched


def test_scorecard_before_any_audit(fleet, operator_client):
    page = operator_client.get("/audits/").content.decode()
    assert "No fleet-wide audit has finished yet." in page
    assert "not audited" in page
    assert "Run audit" in page


def test_scorecard_query_count_does_not_grow_with_the_fleet(
    fleet, viewer_client, run_audit, django_assert_max_num_queries
):
    run_audit()
    with django_assert_max_num_queries(14):
        viewer_client.get("/audits/")
    for i in range(10):
        Service.objects.create(name=f"extra-{i}", url=f"https://extra-{i}.example.com/mcp")
    run_audit()
    with django_assert_max_num_queries(14):
        viewer_client.get("/audits/")


def test_service_history_has_a_trend_and_links_to_changes(fleet, viewer_client, run_audit):
    notes = Service.objects.get(name="notes")
    first = run_audit(notes)
    second = run_audit(notes)
    page = viewer_client.get("/audits/services/notes/").content.decode()
    assert "<polyline" in page and 'aria-label="Score trend over 2 audits' in page
    assert f"/audits/diff?from={first.pk}&to={second.pk}" in page


def test_diff_shows_what_got_better_after_an_attestation(fleet, operator, viewer_client, run_audit):
    notes = Service.objects.get(name="notes")
    before = run_audit(notes)
    audit_services.attest(
        actor=operator,
        source="ui",
        rule_id="security.rate-limiting",
        note="Gateway limits 100 rps per client.",
        service=notes,
    )
    after = run_audit(notes)

    page = viewer_client.get(f"/audits/diff?from={before.pk}&to={after.pk}").content.decode()
    assert "Got better (1)" in page
    assert "security.rate-limiting" in page
    assert "Got worse" not in page
    # the order of the two ids does not matter: older is always "before"
    swapped = viewer_client.get(f"/audits/diff?from={after.pk}&to={before.pk}").content.decode()
    assert "Got better (1)" in swapped


def test_diff_between_a_service_run_and_a_fleet_run_compares_common_services(
    fleet, viewer_client, run_audit
):
    one = run_audit(Service.objects.get(name="notes"))
    everyone = run_audit()
    page = viewer_client.get(f"/audits/diff?from={one.pk}&to={everyone.pk}").content.decode()
    assert "over 1 service audited in both" in page
    assert f"Only in #{everyone.pk}: assistant, calendar, inventory, search" in page
    assert "Nothing changed." in page


def test_diff_errors_are_clear(fleet, viewer_client, run_audit):
    run = run_audit()
    bad = viewer_client.get(f"/audits/diff?from=abc&to={run.pk}")
    assert bad.status_code == 400
    assert (
        "&#x27;from&#x27; must be an audit run id (a number), got &#x27;abc&#x27;."
        in bad.content.decode()
    )
    missing = viewer_client.get(f"/audits/diff?from={run.pk}&to=999")
    assert missing.status_code == 404
    assert "Audit run 999 (&#x27;to&#x27;) does not exist." in missing.content.decode()
    assert viewer_client.get("/audits/diff").status_code == 200  # the picker


def test_fleet_wide_attestation_applies_to_every_service(fleet, operator, run_audit):
    audit_services.attest(
        actor=operator,
        source="ui",
        rule_id="observability.dashboards",
        note="Grafana folder 'MCP fleet' covers every service.",
    )
    run = run_audit()
    statuses = set(
        run.results.filter(rule_id="observability.dashboards").values_list("status", flat=True)
    )
    assert statuses == {"pass"}
    assert Attestation.objects.get().service is None


def _age(run, days: int) -> None:
    """Pretend the run finished `days` ago."""
    from datetime import timedelta

    from django.utils import timezone

    from checks.audits.models import AuditRun

    when = timezone.now() - timedelta(days=days)
    AuditRun.objects.filter(pk=run.pk).update(created_at=when, finished_at=when)


def test_what_got_worse_since_last_week(fleet, operator, viewer_client, run_audit):
    month_ago = run_audit()
    _age(month_ago, 30)
    attestation = audit_services.attest(
        actor=operator,
        source="ui",
        rule_id="observability.dashboards",
        note="Grafana folder 'MCP fleet' covers every service.",
    )
    week_ago = run_audit()
    _age(week_ago, 8)
    audit_services.revoke_attestation(actor=operator, source="ui", attestation=attestation)
    today = run_audit()

    scorecard = viewer_client.get("/audits/").content.decode()
    assert "/audits/diff?since=7d" in scorecard
    page = viewer_client.get("/audits/diff?since=7d").content.decode()
    assert "What changed in the last 7 days" in page
    assert f'<a href="/audits/runs/{week_ago.pk}/">#{week_ago.pk}</a>' in page
    assert f'<a href="/audits/runs/{today.pk}/">#{today.pk}</a>' in page
    assert "Got worse (5)" in page and "observability.dashboards" in page
    # further back than the history goes: the oldest run is the baseline
    longer = viewer_client.get("/audits/diff?since=60d").content.decode()
    assert f"#{month_ago.pk}</a>" in longer
    assert "Got worse" not in longer


def test_what_changed_for_one_service(fleet, operator, viewer_client, run_audit):
    notes = Service.objects.get(name="notes")
    older = run_audit()  # a fleet run audits notes too
    _age(older, 10)
    audit_services.attest(
        actor=operator,
        source="ui",
        rule_id="security.rate-limiting",
        note="Gateway limits 100 rps per client.",
        service=notes,
    )
    newer = run_audit(notes)
    service_page = viewer_client.get("/audits/services/notes/").content.decode()
    assert "/audits/diff?since=7d&amp;service=notes" in service_page or (
        "/audits/diff?since=7d&service=notes" in service_page
    )
    page = viewer_client.get("/audits/diff?since=7d&service=notes").content.decode()
    assert "What changed for notes in the last 7 days" in page
    assert f"#{older.pk}</a>" in page and f"#{newer.pk}</a>" in page
    assert "over 1 service audited in both (only notes;" in page
    assert "Got better (1)" in page and "security.rate-limiting" in page
    # the fleet run's other services are not compared
    assert "Only in" not in page


def test_since_errors_are_clear(fleet, viewer_client, run_audit):
    bad = viewer_client.get("/audits/diff?since=week")
    assert bad.status_code == 400
    assert "&#x27;since&#x27; must be a number of days like 7d, got &#x27;week&#x27;." in (
        bad.content.decode()
    )
    nothing = viewer_client.get("/audits/diff?since=7d").content.decode()
    assert "Nothing to compare: there is no finished fleet-wide audit." in nothing
    run_audit()
    one = viewer_client.get("/audits/diff?since=7d").content.decode()
    assert "there is only one finished fleet-wide audit" in one
