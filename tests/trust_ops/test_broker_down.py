"""Redis (the broker) is down: actions that need a worker say so at once, and leave no row queued.

The broker is a real Redis URL on a loopback port where nothing listens, so Celery's own publish
path fails as it would in production.
"""

from __future__ import annotations

import re
import time

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from checks.audits.models import AuditRun
from console.models import Job
from fleet.models import CloudAccount
from fleet.operations.models import Redeploy
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db(transaction=True)
BROKER_DOWN = "the task queue (broker) is unreachable"


@pytest.fixture
def k8s_service():
    account = CloudAccount.objects.create(name="edge", provider="kubernetes", namespace="mcp")
    return ServiceFactory(name="notes", account=account, resource="notes")


def _bearer(user) -> dict:
    from console.tokens import issue_token

    _, raw = issue_token(user, "t")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_check_now_through_the_api_answers_503_and_fails_the_job(
    broker_down, operator, k8s_service
):
    started = time.monotonic()
    response = Client().post("/api/v1/services/notes/check", **_bearer(operator))

    assert response.status_code == 503
    assert BROKER_DOWN in response.json()["detail"]
    assert response["Retry-After"] == "30"
    assert time.monotonic() - started < 15  # no hanging request
    job = Job.objects.get()
    assert job.status == "failed" and BROKER_DOWN in job.error and job.finished_at


def test_check_now_on_the_page_shows_the_message(broker_down, operator, k8s_service):
    client = Client()
    client.force_login(operator)
    response = client.post(
        "/services/notes/check/", HTTP_REFERER="http://testserver/services/notes/", follow=True
    )

    assert response.redirect_chain[0] == ("http://testserver/services/notes/", 303)
    page = response.content.decode()
    assert "Could not start it" in page and BROKER_DOWN in page
    assert Job.objects.get().status == "failed"


def test_an_htmx_action_is_sent_back_to_its_page(broker_down, operator, k8s_service):
    client = Client()
    client.force_login(operator)
    response = client.post(
        "/services/notes/check/", HTTP_HX_REQUEST="true", HTTP_REFERER="https://evil.example/x"
    )
    assert response.status_code == 503 and response["HX-Redirect"] == "/"


def test_redeploy_answers_503_and_the_service_can_be_redeployed_later(
    broker_down, operator, k8s_service
):
    response = Client().post(
        "/api/v1/services/notes/redeploy",
        {"reason": "x"},
        content_type="application/json",
        **_bearer(operator),
    )

    assert response.status_code == 503 and BROKER_DOWN in response.json()["detail"]
    redeploy = Redeploy.objects.get()
    assert redeploy.status == "failed" and redeploy.error.startswith("Not started: " + BROKER_DOWN)
    # Not "in flight": the one-redeploy-per-service guard does not hold the next one back.
    second = Client().post("/api/v1/services/notes/redeploy", **_bearer(operator))
    assert second.status_code == 503 and Redeploy.objects.count() == 2


def test_batch_redeploy_fails_every_queued_member(broker_down, operator, k8s_service):
    from console.broker import BrokerUnavailable
    from fleet.operations.services import request_batch_redeploy

    with pytest.raises(BrokerUnavailable):
        request_batch_redeploy([k8s_service], operator)
    redeploy = Redeploy.objects.select_related("batch").get()
    assert redeploy.status == "failed" and redeploy.batch.status == "failed"


def test_redeploy_cli_exits_with_the_reason(broker_down, k8s_service):
    with pytest.raises(
        CommandError, match=re.escape(f"Redeploy of notes not started: {BROKER_DOWN}")
    ):
        call_command("redeploy", "notes")
    assert Redeploy.objects.get().status == "failed"


def test_run_audit_answers_503_and_fails_the_run(broker_down, operator, k8s_service):
    response = Client().post(
        "/api/v1/audits", {"scope": "fleet"}, content_type="application/json", **_bearer(operator)
    )

    assert response.status_code == 503 and BROKER_DOWN in response.json()["detail"]
    run = AuditRun.objects.get()
    assert run.status == "failed" and BROKER_DOWN in run.error and run.finished_at


def test_fleet_import_page_fails_the_job(broker_down, operator):
    client = Client()
    client.force_login(operator)
    response = client.post(
        "/fleet-file/",
        {
            "action": "import",
            "text": "services:\n  - {name: a, url: 'https://a.example.com/mcp'}\n",
        },
        HTTP_REFERER="http://testserver/fleet-file/",
        follow=True,
    )

    assert BROKER_DOWN in response.content.decode()
    job = Job.objects.get(name="fleet import")
    assert job.status == "failed" and BROKER_DOWN in job.error


def test_when_redis_stops_pages_still_answer_and_health_names_the_parts(
    broker_down, settings, operator, admin_client_, k8s_service
):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": broker_down,  # the same stopped Redis, as in production
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    client = Client()
    client.force_login(operator)

    assert client.get("/").status_code == 200
    assert client.get("/services/notes/").status_code == 200
    assert client.get("/metrics").status_code == 200
    health = Client().get("/healthz")
    assert health.status_code == 503
    assert health.json()["broker"] == "unavailable" and health.json()["cache"] == "unavailable"
    assert client.post("/api/v1/services/notes/check").status_code == 503


SEND_ONE = """
import json, time, django; django.setup()
from console.broker import BrokerUnavailable, send_task
from checks.audits.tasks import run_audit_task
failed = []
started = time.monotonic()
try:
    send_task(run_audit_task, 1, on_failure=failed.append)
except BrokerUnavailable as exc:
    print(json.dumps({"error": str(exc), "seconds": time.monotonic() - started, "failed": failed}))
"""


@pytest.fixture
def silent_redis():
    """A TCP listener that accepts connections and never answers (a Redis stopped with SIGSTOP)."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held = []

    def accept():
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/4"
    server.close()
    for conn in held:
        conn.close()


@pytest.mark.django_db(transaction=False)
def test_a_redis_that_never_answers_does_not_hang_the_request(silent_redis, tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {
        k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL"}
    }
    env.update(
        EMBEDDED="1",
        DJANGO_SETTINGS_MODULE="console.settings",
        VAR_DIR=str(tmp_path),
        REDIS_URL=silent_redis,
        LOG_LEVEL="CRITICAL",
    )
    done = subprocess.run(
        [sys.executable, "-c", SEND_ONE],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    result = json.loads(done.stdout)

    assert result["seconds"] < 10  # 3 s connect / 5 s read by default, not a hung request
    assert result["error"].startswith(BROKER_DOWN)
    assert result["failed"] == [result["error"]]  # the row's failure callback got the reason
