"""The JSON API and `manage.py redeploy`: same rules, same records, errors that name the field."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from console.models import ApiToken, AuditLogEntry
from fleet.operations import services as cs
from fleet.operations.models import Redeploy

pytestmark = pytest.mark.django_db


def api(user) -> Client:
    _, raw = ApiToken.issue(user, "ci")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def send(client: Client, method: str, path: str, body: dict | None = None):
    return getattr(client, method)(
        path, data=json.dumps(body or {}), content_type="application/json"
    )


def test_api_redeploy_is_accepted_then_readable(
    kubernetes, operator, django_capture_on_commit_callbacks
):
    client = api(operator)
    with django_capture_on_commit_callbacks(execute=True):
        response = send(client, "post", "/api/v1/services/weather/redeploy", {"reason": "api"})

    assert response.status_code == 202
    body = response.json()
    assert body["service"] == "weather" and body["reason"] == "api"
    assert body["requested_by"] == "otto" and body["source"] == "api"
    again = client.get(f"/api/v1/redeploys/{body['id']}").json()
    assert again["status"] == "succeeded" and again["revision_after"] == "2"
    assert "Healthy" in again["log"]
    audit = AuditLogEntry.objects.get(action="redeploy")
    assert audit.source == "api" and audit.actor == operator


def test_api_second_redeploy_gets_409_with_the_running_one(kubernetes, operator):
    client = api(operator)
    first = send(client, "post", "/api/v1/services/weather/redeploy", {"reason": "a"}).json()

    response = send(client, "post", "/api/v1/services/weather/redeploy", {"reason": "b"})

    assert response.status_code == 409
    assert response.json()["redeploy"]["id"] == first["id"]
    assert "already in flight" in response.json()["detail"]


def test_api_redeploy_needs_operator_and_a_cloud_service(kubernetes, viewer, operator):
    assert send(api(viewer), "post", "/api/v1/services/weather/redeploy").status_code == 403
    assert send(api(operator), "post", "/api/v1/services/ghost/redeploy").status_code == 404
    response = send(
        api(operator), "post", "/api/v1/services/weather/redeploy", {"reason": "x" * 600}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "reason"]
    assert not Redeploy.objects.exists()


def test_api_scaling_get_put_apply(kubernetes, operator, django_capture_on_commit_callbacks):
    client = api(operator)
    cs.sync_observed(kubernetes.service)

    got = client.get("/api/v1/services/weather/scaling").json()
    assert got["observed"]["max_instances"] == 6 and got["drift"] == {}

    put = send(client, "put", "/api/v1/services/weather/scaling", {"max_instances": 9})
    assert put.status_code == 200
    assert put.json()["drift"] == {"max_instances": {"observed": 6, "desired": 9}}

    with django_capture_on_commit_callbacks(execute=True):
        applied = send(client, "post", "/api/v1/services/weather/scaling/apply")
    assert applied.status_code == 202
    final = client.get("/api/v1/services/weather/scaling").json()
    assert final["observed"]["max_instances"] == 9 and final["drift"] == {}
    assert [h["kind"] for h in final["history"]][:2] == ["applied", "desired"]


def test_api_scaling_field_errors(kubernetes, operator, viewer):
    response = send(
        api(operator),
        "put",
        "/api/v1/services/weather/scaling",
        {"min_instances": 4, "max_instances": 2, "memory": "huge"},
    )

    assert response.status_code == 422
    fields = {d["loc"][1]: d["msg"] for d in response.json()["detail"]}
    assert fields["min_instances"] == "Min instances (4) must not exceed max instances (2)."
    assert "'huge' is not a Kubernetes quantity" in fields["memory"]
    assert send(api(viewer), "put", "/api/v1/services/weather/scaling", {}).status_code == 403
    assert send(api(viewer), "post", "/api/v1/services/weather/scaling/apply").status_code == 403


def test_api_discover_marks_registered(kubernetes, viewer):
    rows = api(viewer).get("/api/v1/accounts/test-kubernetes/discover?label=mcp-server").json()

    assert {r["resource"]: r["registered_as"] for r in rows} == {
        "mcp-files": None,
        "mcp-weather": "weather",
    }


def test_api_discover_reports_a_cloud_error(kubernetes, viewer):
    kubernetes.fake.fail_next(403, path_contains="/deployments")

    response = api(viewer).get("/api/v1/accounts/test-kubernetes/discover")

    assert response.status_code == 502
    assert "deployments.apps list" in response.json()["detail"]


# --wait follows the row while the task runs: the task must start when the request commits,
# as it does outside tests, so these run with real transactions.
@pytest.mark.django_db(transaction=True)
def test_cli_redeploy_waits_and_prints_progress(kubernetes, capsys):
    call_command("redeploy", "weather", "--wait", "--timeout", "60", "--reason", "from the cli")

    out = capsys.readouterr().out
    assert "Restarting deployment mcp/mcp-weather" in out
    assert "Succeeded · revision 1 → 2" in out
    audit = AuditLogEntry.objects.get(action="redeploy")
    assert audit.source == "cli" and audit.actor_label.startswith("cli:")
    assert audit.after["reason"] == "from the cli"


@pytest.mark.django_db(transaction=True)
def test_cli_exit_code_on_failure(kubernetes, broken_url):
    kubernetes.service.url = broken_url
    kubernetes.service.save()

    with pytest.raises(CommandError) as caught:
        call_command("redeploy", "weather", "--wait", "--timeout", "60")

    assert caught.value.returncode == 1
    assert "unhealthy" in str(caught.value)


@pytest.mark.django_db(transaction=True)
def test_cli_exit_code_on_unknown(kubernetes, settings):
    kubernetes.fake.rollout_gets = 0
    kubernetes.fake.fail_next(
        503, count=1000, method="GET", when=lambda r: bool(kubernetes.fake.requests_to("PATCH"))
    )
    settings.FLEET_CLOUD_OPERATION_TIMEOUT_SECONDS = 0.2

    with pytest.raises(CommandError) as caught:
        call_command("redeploy", "weather", "--wait", "--timeout", "60")

    assert caught.value.returncode == 2
    assert "check the cloud console" in str(caught.value)


def test_cli_names_the_problem(db, kubernetes):
    with pytest.raises(CommandError, match="name: no service named 'ghost'"):
        call_command("redeploy", "ghost")
    with pytest.raises(CommandError, match="--timeout: must be a positive"):
        call_command("redeploy", "weather", "--wait", "--timeout", "0")


def test_api_redeploy_body_is_optional(kubernetes, operator):
    client = api(operator)

    response = client.post("/api/v1/services/weather/redeploy")

    assert response.status_code == 202 and response.json()["reason"] == ""
    bad = client.post(
        "/api/v1/services/weather/redeploy", data="{", content_type="application/json"
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "reason"]


def test_api_scaling_put_with_a_misspelt_field_is_refused_and_keeps_desired(kubernetes, operator):
    client = api(operator)
    send(client, "put", "/api/v1/services/weather/scaling", {"max_instances": 9})

    response = send(client, "put", "/api/v1/services/weather/scaling", {"max_instance": 10})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "max_instance"
    assert client.get("/api/v1/services/weather/scaling").json()["desired"]["max_instances"] == 9


def test_api_discover_names_a_bad_label_filter(kubernetes, viewer):
    response = api(viewer).get("/api/v1/accounts/test-kubernetes/discover", {"label": "a b"})

    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"][-1] == "label" and "'a b' is not a label filter" in detail["msg"]
    assert not [r for r in kubernetes.fake.requests if "/deployments" in r.path]


def test_api_refresh_from_cloud_reads_the_service_now(
    kubernetes, operator, viewer, django_capture_on_commit_callbacks
):
    assert send(api(viewer), "post", "/api/v1/services/weather/cloud/refresh").status_code == 403

    with django_capture_on_commit_callbacks(execute=True):
        response = send(api(operator), "post", "/api/v1/services/weather/cloud/refresh")

    assert response.status_code == 202
    scaling = api(viewer).get("/api/v1/services/weather/scaling").json()
    assert scaling["observed"]["max_instances"] == 6 and scaling["observed_at"]


def test_api_rolling_batch_redeploys_the_selection(
    kubernetes, operator, viewer, django_capture_on_commit_callbacks
):
    from fleet.models import Service

    Service.objects.create(
        name="files", url=kubernetes.service.url, account=kubernetes.account, resource="mcp-files"
    )
    body = {"services": ["weather", "files"], "concurrency": 1, "reason": "rotate"}
    assert send(api(viewer), "post", "/api/v1/redeploy-batches", body).status_code == 403

    with django_capture_on_commit_callbacks(execute=True):
        response = send(api(operator), "post", "/api/v1/redeploy-batches", body)

    assert response.status_code == 202
    batch = api(viewer).get(f"/api/v1/redeploy-batches/{response.json()['id']}").json()
    assert batch["status"] == "succeeded" and batch["reason"] == "rotate"
    assert [(r["service"], r["status"]) for r in batch["redeploys"]] == [
        ("weather", "succeeded"),
        ("files", "succeeded"),
    ]
    assert kubernetes.fake.requests_to("PATCH", "/deployments/mcp-files")


def test_api_rolling_batch_names_bad_input(kubernetes, operator):
    client = api(operator)

    ghost = send(client, "post", "/api/v1/redeploy-batches", {"services": ["weather", "ghost"]})
    zero = send(
        client, "post", "/api/v1/redeploy-batches", {"services": ["weather"], "concurrency": 0}
    )

    assert ghost.status_code == 422
    assert ghost.json()["detail"][0] == {
        "loc": ["body", "services"],
        "msg": "No service named 'ghost'.",
        "type": "value_error",
    }
    assert zero.status_code == 422 and zero.json()["detail"][0]["loc"] == ["body", "concurrency"]
    assert not Redeploy.objects.exists()


def test_api_import_registers_discovered_services(kubernetes, operator, viewer):
    body = {"resources": ["mcp-files"], "label": "mcp-server=true"}
    path = "/api/v1/accounts/test-kubernetes/discover"
    assert send(api(viewer), "post", path, body).status_code == 403

    response = send(api(operator), "post", path, body)
    unknown = send(api(operator), "post", path, {"resources": ["nope"]})

    assert response.status_code == 201 and response.json() == {"registered": ["mcp-files"]}
    assert api(viewer).get("/api/v1/services/mcp-files").json()["resource"] == "mcp-files"
    assert AuditLogEntry.objects.get(action="import-discovered").source == "api"
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["msg"] == "Not found in test-kubernetes: nope."
