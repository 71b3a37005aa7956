"""Probes reach /healthz by the instance's address (ALB target IP, pod IP); other paths stay checked."""

from __future__ import annotations

import pytest


@pytest.fixture
def production_hosts(settings):
    settings.ALLOWED_HOSTS = ["fleet.example.com"]


@pytest.mark.django_db
def test_healthz_answers_a_probe_that_sends_the_instance_address(client, production_hosts):
    response = client.get("/healthz", HTTP_HOST="10.0.3.17:8000")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


@pytest.mark.django_db
def test_every_other_path_still_refuses_an_unknown_host(client, production_hosts):
    assert client.get("/login/", HTTP_HOST="10.0.3.17:8000").status_code == 400
    assert client.get("/healthz/x", HTTP_HOST="10.0.3.17:8000").status_code == 400
    assert client.get("/login/", HTTP_HOST="fleet.example.com").status_code == 200
