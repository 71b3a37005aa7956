"""Running audits from the console (buttons, redeploy hook, schedule) and reading the pages."""

from __future__ import annotations

import json

from asgiref.sync import async_to_sync
from django.test import AsyncClient
from django_celery_beat.models import PeriodicTask

from checks.audits import services as audit_services
from checks.audits.catalogue import RULES
from checks.audits.models import AuditResult, AuditRun
from checks.audits.tasks import run_audit_task, scheduled_audit_task
from console.celery import app as celery_app
from console.models import AuditLogEntry
from fleet.models import Service
from tests.audit_console.conftest import streamed


def test_fleet_run_button_audits_every_service(
    fleet, operator, operator_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post("/audits/run/")

    run = AuditRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/audits/runs/{run.pk}/"
    assert (run.status, run.trigger, run.triggered_by) == ("succeeded", "manual", operator)
    assert AuditResult.objects.filter(run=run).count() == len(fleet) * len(RULES)
    assert {s.service_name for s in run.service_scores.all()} == {s.name for s in fleet}
    assert run.scores["services_audited"] == len(fleet)
    assert AuditLogEntry.objects.filter(action="audit", actor=operator, source="ui").exists()

    page = operator_client.get(f"/audits/runs/{run.pk}/").content.decode()
    assert "infrastructure.tls-valid" in page  # the summary per rule
    assert 'href="?rule=infrastructure.tls-valid&status=fail"' in page
    assert 'hx-trigger="every 2s"' not in page  # finished: no more polling
    failing = operator_client.get(
        f"/audits/runs/{run.pk}/?rule=infrastructure.tls-valid&status=fail"
    )
    text = failing.content.decode()
    assert "The production service is registered with a plain http:// URL." in text
    assert "console service registry" in text  # evidence: from where


def test_service_run_button_audits_that_service_only(
    fleet, operator_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post("/audits/services/notes/run/")
    run = AuditRun.objects.get()
    assert run.scope_label == "notes"
    assert set(AuditResult.objects.values_list("service_name", flat=True)) == {"notes"}


def test_service_page_shows_the_audit_card(fleet, operator_client, run_audit):
    service = Service.objects.get(name="notes")
    run_audit(service)
    run_audit(service)
    page = operator_client.get("/services/notes/").content.decode()
    assert "Production audit" in page
    assert '<svg class="sparkline' in page and "<polyline" in page
    assert "/audits/services/notes/run/" in page
    assert "security.rate-limiting" in page  # a manual rule, waiting for an attestation
    assert "needs attestation" in page


def test_queued_run_page_polls_until_finished(fleet, viewer_client, htmx_headers):
    run = audit_services.create_run(actor=None, trigger="manual", enqueue=False)
    page = viewer_client.get(f"/audits/runs/{run.pk}/").content.decode()
    assert 'hx-trigger="every 2s"' in page and "Waiting for a worker" in page

    run_audit_task(run.pk)
    fragment = viewer_client.get(f"/audits/runs/{run.pk}/", **htmx_headers)
    assert "<html" not in fragment.content.decode()
    assert fragment["HX-Refresh"] == "true"  # reload once to show the results


def test_task_returns_quietly_for_a_missing_or_started_run(fleet):
    run_audit_task(999999)
    run = audit_services.create_run(actor=None, trigger="manual", enqueue=False)
    run_audit_task(run.pk)
    run_audit_task(run.pk)  # a redelivered message does not run it twice
    assert AuditResult.objects.filter(run=run).count() == len(fleet) * len(RULES)


def test_a_run_whose_service_was_deleted_fails_with_the_reason(fleet):
    service = Service.objects.get(name="notes")
    run = audit_services.create_run(actor=None, trigger="manual", service=service, enqueue=False)
    service.delete()
    run_audit_task(run.pk)
    run.refresh_from_db()
    assert run.status == "failed"
    assert "the service 'notes' was deleted before the audit ran" in run.error


def test_request_audit_after_redeploy(fleet, django_capture_on_commit_callbacks):
    service = Service.objects.get(name="search")
    with django_capture_on_commit_callbacks(execute=True):
        run = audit_services.request_audit(service)
    run.refresh_from_db()
    assert (run.trigger, run.status, run.scope_label) == ("redeploy", "succeeded", "search")
    entry = AuditLogEntry.objects.get(action="audit")
    assert (entry.source, entry.actor_label) == ("system", "redeploy")


def test_daily_schedule_is_installed_and_runs_a_fleet_audit(fleet):
    task = PeriodicTask.objects.get(name="Daily fleet audit")
    assert task.enabled and task.task == "audits.scheduled_audit_task"
    assert (task.crontab.hour, task.crontab.minute) == ("3", "30")
    assert task.task in celery_app.tasks

    scheduled_audit_task()
    run = AuditRun.objects.get()
    assert (run.trigger, run.status, run.scope_label) == ("schedule", "succeeded", "fleet")


def test_viewers_cannot_start_audits(fleet, viewer_client):
    assert viewer_client.post("/audits/run/").status_code == 403
    assert viewer_client.post("/audits/services/notes/run/").status_code == 403
    assert not AuditRun.objects.exists()


def test_run_detail_of_a_missing_run_is_a_clear_404(viewer_client, db):
    response = viewer_client.get("/audits/runs/4242/")
    assert response.status_code == 404
    assert "Audit run 4242 does not exist." in response.content.decode()


def test_run_detail_filters_by_service_and_status(fleet, viewer_client, run_audit):
    run = run_audit()
    page = viewer_client.get(f"/audits/runs/{run.pk}/?service=notes&status=fail").content.decode()
    assert "infrastructure.tls-valid" in page
    assert 'href="/audits/services/search/"' not in page
    assert "security.rate-limiting" not in page  # needs_attestation, filtered out


def test_run_list(fleet, viewer_client, run_audit):
    run = run_audit()
    page = viewer_client.get("/audits/runs/").content.decode()
    assert f"/audits/runs/{run.pk}.json" in page


def test_exports_of_a_run(fleet, viewer_client, run_audit):
    run = run_audit()
    as_json = viewer_client.get(f"/audits/runs/{run.pk}.json")
    assert as_json["Content-Type"] == "application/json"
    data = json.loads(streamed(as_json))
    assert data["run"]["id"] == str(run.pk)
    assert set(data["fleet"]) >= {"overall", "sections", "counts", "coverage"}
    assert {"service", "score", "results"} == set(data["services"][0])

    as_csv = streamed(viewer_client.get(f"/audits/runs/{run.pk}.csv"))
    assert as_csv.splitlines()[0] == (
        "service,rule_id,section,title,severity,status,decided_by,message,source,"
        "observed_at,evidence"
    )
    assert len(as_csv.splitlines()) == 1 + len(fleet) * len(RULES)

    as_md = viewer_client.get(f"/audits/runs/{run.pk}.md")
    assert as_md["Content-Type"].startswith("text/markdown")
    assert streamed(as_md).startswith(f"# Production audit {run.pk}")


def test_exports_stream_under_asgi_without_being_collected_first(fleet, viewer, run_audit):
    """Under uvicorn Django would gather a synchronous iterator into one list (the whole export in
    memory); the export is handed over as an async iterator there, chunk by chunk."""
    run = run_audit()
    client = AsyncClient()
    client.force_login(viewer)

    async def fetch():
        response = await client.get(f"/audits/runs/{run.pk}.csv")
        chunks = [chunk async for chunk in response.streaming_content]
        return response, chunks

    response, chunks = async_to_sync(fetch)()
    assert response.status_code == 200 and response.is_async
    assert len(chunks) > 1
    body = b"".join(chunks).decode()
    assert len(body.splitlines()) == 1 + len(fleet) * len(RULES)


def test_export_of_a_missing_or_unfinished_run(fleet, viewer_client):
    missing = viewer_client.get("/audits/runs/777.json")
    assert missing.status_code == 404
    assert missing.content.decode() == "Audit run 777 does not exist.\n"
    queued = audit_services.create_run(actor=None, trigger="manual", enqueue=False)
    response = viewer_client.get(f"/audits/runs/{queued.pk}.csv")
    assert response.status_code == 409
    assert "has no results to export" in response.content.decode()


def test_a_service_deleted_while_the_fleet_audit_runs_does_not_fail_it(fleet):
    run = audit_services.create_run(actor=None, trigger="manual", enqueue=False)
    deleted = []

    def log(line: str) -> None:  # called while evidence is gathered, before anything is stored
        if not deleted:
            Service.objects.filter(name="search").delete()
            deleted.append(line)

    audit_services.execute_run(run, log=log)
    run.refresh_from_db()
    assert deleted and run.status == "succeeded", run.error
    assert run.results.count() == len(fleet) * len(RULES)
    assert run.results.filter(service_name="search", service__isnull=True).count() == len(RULES)
    assert run.service_scores.get(service_name="search").service_id is None
    assert run.service_scores.get(service_name="search").overall is not None


def test_a_run_whose_worker_vanished_is_failed_by_the_next_audit(fleet, viewer_client, run_audit):
    from datetime import timedelta

    from django.utils import timezone

    lost = audit_services.create_run(actor=None, trigger="manual", enqueue=False)
    recent = audit_services.create_run(actor=None, trigger="manual", enqueue=False)
    AuditRun.objects.filter(pk=lost.pk).update(
        status="running", started_at=timezone.now() - timedelta(hours=7)
    )
    AuditRun.objects.filter(pk=recent.pk).update(
        status="running", started_at=timezone.now() - timedelta(minutes=5)
    )
    run_audit(Service.objects.get(name="notes"))
    lost.refresh_from_db()
    recent.refresh_from_db()
    assert lost.status == "failed" and lost.finished_at is not None
    assert "No worker finished this run within 6 hours of its start" in lost.error
    assert recent.status == "running"  # still within its time
    page = viewer_client.get(f"/audits/runs/{lost.pk}/").content.decode()
    assert "No worker finished this run" in page
    assert 'hx-trigger="every 2s"' not in page  # the page stops polling
