"""deploy/cloudrun, deploy/ecs, deploy/container-apps: each file parses as the platform's own type.

Cloud Run: the Admin API v2 protos (google-cloud-run), parsed strictly (an unknown field fails).
ECS: botocore's own parameter validation of the RegisterTaskDefinition input (boto3's model).
Container Apps: the azure-mgmt-appcontainers models, walked field by field (unknown fields fail),
then built with the model's own deserialiser.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path

import botocore.session
import pytest
from azure.mgmt.appcontainers import models as aca
from azure.mgmt.appcontainers._utils.model_base import Model
from azure.mgmt.appcontainers.models import _models as aca_models
from botocore.validate import ParamValidator
from django.conf import settings
from google.cloud import run_v2
from google.protobuf import json_format

from tests.deploy.conftest import DEPLOY, load_deploy_script

platforms = load_deploy_script("platforms")
ECS_INPUT = (
    botocore.session.get_session()
    .get_service_model("ecs")
    .operation_model("RegisterTaskDefinition")
    .input_shape
)
CLOUD_RUN_TYPES = {"service": run_v2.Service, "workerpool": run_v2.WorkerPool, "job": run_v2.Job}
ACA_TYPES = {"containerapp": aca.ContainerApp, "job": aca.Job}


def _files(folder: str) -> list[Path]:
    return sorted((DEPLOY / folder).glob("*.json"))


def _kind(path: Path) -> str:
    return path.name.split(".")[-2]


def test_the_files_are_what_the_generator_writes():
    written = {p: platforms.render(body) for p, body in platforms.definitions().items()}
    on_disk = {
        p: p.read_text() for folder in ("cloudrun", "ecs", "container-apps") for p in _files(folder)
    }
    assert on_disk == written, "run `python deploy/platforms.py` and commit the result"


def test_one_definition_per_process_on_every_platform():
    processes = {p.name for p in platforms.PROCESSES}
    for folder in ("cloudrun", "ecs", "container-apps"):
        assert {p.name.split(".")[0] for p in _files(folder)} == processes
    queues = [q for p in platforms.PROCESSES for q in p.queues.split(",") if q]
    assert sorted(queues) == sorted(settings.FLEET_TASK_QUEUES)


# --- Cloud Run ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", _files("cloudrun"), ids=lambda p: p.name)
def test_cloud_run_definitions_parse_as_admin_api_v2_types(path):
    kind = CLOUD_RUN_TYPES[_kind(path)]
    message = json_format.ParseDict(json.loads(path.read_text()), kind.pb(kind()))
    assert message.template.ByteSize() > 0


def test_cloud_run_parsing_is_strict():
    with pytest.raises(json_format.ParseError, match="minInstances"):
        json_format.ParseDict(
            {"template": {"scaling": {"minInstances": 1}}}, run_v2.Service.pb(run_v2.Service())
        )


def test_cloud_run_web_is_a_service_and_workers_and_beat_are_always_on_worker_pools():
    web = run_v2.Service.from_json((DEPLOY / "cloudrun" / "web.service.json").read_text())
    assert web.template.containers[0].args == ["web"]
    assert web.template.containers[0].startup_probe.http_get.path == "/healthz"
    beat = run_v2.WorkerPool.from_json((DEPLOY / "cloudrun" / "beat.workerpool.json").read_text())
    assert beat.scaling.manual_instance_count == 1
    probes = (DEPLOY / "cloudrun" / "worker-probes.workerpool.json").read_text()
    pool = run_v2.WorkerPool.from_json(probes)
    assert pool.scaling.manual_instance_count >= 1
    env = {e.name: e for e in pool.template.containers[0].env}
    assert env["FLEET_WORKER_QUEUES"].value == "probes"
    assert env["DATABASE_URL"].value_source.secret_key_ref.secret == "fleet-console-database-url"
    job = run_v2.Job.from_json((DEPLOY / "cloudrun" / "migrate.job.json").read_text())
    assert job.template.template.containers[0].args == ["migrate"]


# --- ECS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", _files("ecs"), ids=lambda p: p.name)
def test_ecs_task_definitions_are_valid_register_task_definition_input(path):
    report = ParamValidator().validate(json.loads(path.read_text()), ECS_INPUT)
    assert not report.has_errors(), report.generate_report()


def test_ecs_validation_refuses_unknown_parameters():
    report = ParamValidator().validate({"family": "x", "containerDefinitons": []}, ECS_INPUT)
    assert 'Unknown parameter in input: "containerDefinitons"' in report.generate_report()


def test_ecs_only_cloud_calling_pools_get_the_task_role():
    roles = {
        p.name.split(".")[0]: json.loads(p.read_text()).get("taskRoleArn") for p in _files("ecs")
    }
    assert {n for n, role in roles.items() if role} == {"worker-cloud", "worker-audits"}
    web = json.loads((DEPLOY / "ecs" / "web.taskdef.json").read_text())["containerDefinitions"][0]
    assert web["healthCheck"]["command"] == ["CMD", "python", "/app/deploy/healthcheck.py"]
    assert {s["name"] for s in web["secrets"]} == {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"}


# --- Azure Container Apps ----------------------------------------------------------------------


def _hints(model: type) -> dict[str, object]:
    return typing.get_type_hints(model, globalns={**vars(aca_models), "_models": aca})


def _is_model(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Model)


def aca_problems(data: object, annotation: object, path: str) -> list[str]:
    """Where `data` does not fit `annotation` (an azure-mgmt-appcontainers model or a type)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Union:
        models = [a for a in args if _is_model(a)]
        if models:
            return aca_problems(data, models[0], path)
        simple = [a for a in args if a is not type(None)]
        if str in simple and isinstance(data, str):  # extensible enums are strings
            return []
        return aca_problems(data, simple[0], path)
    if origin is list:
        if not isinstance(data, list):
            return [f"{path}: expected a list"]
        return [p for i, v in enumerate(data) for p in aca_problems(v, args[0], f"{path}[{i}]")]
    if origin is dict:
        if not isinstance(data, dict):
            return [f"{path}: expected a map"]
        return [p for k, v in data.items() for p in aca_problems(v, args[1], f"{path}.{k}")]
    if _is_model(annotation):
        if not isinstance(data, dict):
            return [f"{path}: expected a {annotation.__name__} object"]
        annotation()  # the model computes its field table on first use
        fields = {f._rest_name: attr for attr, f in annotation._attr_to_rest_field.items()}
        hints, problems = _hints(annotation), []
        for key, value in data.items():
            if key not in fields:
                problems.append(f"{path}.{key}: unknown field for {annotation.__name__}")
            else:
                problems += aca_problems(value, hints[fields[key]], f"{path}.{key}")
        return problems
    if annotation in (str, int, bool, float):
        ok = isinstance(data, annotation) or (annotation is float and isinstance(data, int))
        return [] if ok else [f"{path}: expected {annotation.__name__}, got {data!r}"]
    if isinstance(annotation, type) and issubclass(annotation, str):  # a closed enum
        return [] if data in {m.value for m in annotation} else [f"{path}: {data!r} not allowed"]
    return []


@pytest.mark.parametrize("path", _files("container-apps"), ids=lambda p: p.name)
def test_container_apps_definitions_parse_as_the_sdk_models(path):
    model = ACA_TYPES[_kind(path)]
    body = json.loads(path.read_text())
    problems = aca_problems(body, model, path.name)
    assert not problems, "\n".join(problems)
    parsed = model(body)
    assert parsed.properties.template.containers[0].image == platforms.EXAMPLE["azure_image"]


def test_container_apps_validation_refuses_unknown_fields():
    body = {"location": "x", "properties": {"template": {"containers": [{"imag": "x"}]}}}
    assert aca_problems(body, aca.ContainerApp, "app") == [
        "app.properties.template.containers[0].imag: unknown field for Container"
    ]


def test_container_apps_beat_is_exactly_one_replica_and_web_has_ingress():
    beat = aca.ContainerApp(
        json.loads((DEPLOY / "container-apps" / "beat.containerapp.json").read_text())
    )
    assert (
        beat.properties.template.scale.min_replicas,
        beat.properties.template.scale.max_replicas,
    ) == (1, 1)
    web = aca.ContainerApp(
        json.loads((DEPLOY / "container-apps" / "web.containerapp.json").read_text())
    )
    assert web.properties.configuration.ingress.target_port == 8000
    assert web.properties.configuration.secrets[0].key_vault_url.startswith("https://")
