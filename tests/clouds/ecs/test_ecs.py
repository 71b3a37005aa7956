"""ECS adapter through boto3 against moto in server mode (with the strict ECS proxy in front)."""

from __future__ import annotations

import json

import pytest

from fleet.operations.clouds.ecs import EcsAdapter
from fleet.operations.clouds.errors import InvalidRequest, NotFound, PermissionDenied, Unavailable
from fleet.operations.clouds.types import ScalingSettings, ServiceRef
from tests.clouds.conftest import FAST
from tests.clouds.ecs.conftest import CLUSTER, REGION, TASK_ROLE, actions, client, weather
from tests.fakes.aws_faults import iam_action


def test_describe_reads_service_task_definition_and_scaling(adapter, account, proxy):
    snapshot = adapter.describe(weather(account))

    assert snapshot.image == f"123456789012.dkr.ecr.{REGION}.amazonaws.com/mcp-weather:1.4.2"
    assert snapshot.revision == "mcp-weather:1"
    assert snapshot.region == REGION
    assert snapshot.scaling.as_dict() == {
        "min_instances": 1,
        "max_instances": 4,
        "concurrency": None,
        "cpu": "512",
        "memory": "1024",
    }
    assert snapshot.ready_instances == 2
    assert snapshot.ingress == "all"
    assert snapshot.service_identity == TASK_ROLE
    env = {e.name: (e.is_secret_ref, e.value) for e in snapshot.env}
    assert env == {"LOG_LEVEL": (False, "info"), "API_KEY": (True, None)}
    assert snapshot.labels == {"mcp-server": "true"}
    assert actions(proxy) == [
        "ecs:DescribeServices",
        "ecs:DescribeTaskDefinition",
        "application-autoscaling:DescribeScalableTargets",
        "application-autoscaling:DescribeScalingPolicies",
    ]
    assert proxy.requests[0].body == {
        "cluster": CLUSTER,
        "services": ["mcp-weather"],
        "include": ["TAGS"],
    }


def test_service_without_scaling_target_reports_fixed_count(adapter, account):
    backend = adapter.describe(ServiceRef(account, "agent-backend"))

    assert (backend.scaling.min_instances, backend.scaling.max_instances) == (2, 2)
    assert backend.ingress == "internal"


def test_discovery_filters_by_tag(adapter, account, proxy):
    found = adapter.list_services(account, label="mcp-server=true")

    assert [s.resource for s in found] == ["mcp-weather"]
    assert len(adapter.list_services(account)) == 2
    assert actions(proxy)[:2] == ["ecs:ListServices", "ecs:DescribeServices"]


def test_redeploy_forces_new_deployment_and_waits_until_stable(adapter, account, proxy):
    before = adapter.describe(weather(account)).raw["service"]["deployments"][0]["id"]
    proxy.clear_requests()
    lines: list[str] = []

    result = adapter.redeploy(weather(account), reason="rotate", progress=lines.append)

    assert result.status == "succeeded"
    assert result.operation_id.startswith("ecs-svc/") and result.operation_id != before
    assert result.revision_before == result.revision_after == "mcp-weather:1"
    update = next(r for r in proxy.requests if iam_action(r) == "ecs:UpdateService")
    assert update.body == {"cluster": CLUSTER, "service": "mcp-weather", "forceNewDeployment": True}
    assert lines[-1].startswith(f"Deployment {result.operation_id} is stable")


def test_apply_scaling_sets_target_desired_count_and_task_size(adapter, account, proxy):
    result = adapter.apply_scaling(
        weather(account),
        ScalingSettings(min_instances=3, max_instances=6, cpu="1024", memory="2048"),
    )

    assert result.status == "succeeded"
    assert (result.revision_before, result.revision_after) == ("mcp-weather:1", "mcp-weather:2")
    by_action = {iam_action(r): r.body for r in proxy.requests}
    assert by_action["application-autoscaling:RegisterScalableTarget"] == {
        "ServiceNamespace": "ecs",
        "ResourceId": f"service/{CLUSTER}/mcp-weather",
        "ScalableDimension": "ecs:service:DesiredCount",
        "MinCapacity": 3,
        "MaxCapacity": 6,
    }
    registered = by_action["ecs:RegisterTaskDefinition"]
    assert (registered["cpu"], registered["memory"]) == ("1024", "2048")
    assert registered["taskRoleArn"] == TASK_ROLE
    assert registered["containerDefinitions"][0]["secrets"][0]["name"] == "API_KEY"
    assert by_action["ecs:UpdateService"]["desiredCount"] == 3  # 2 is below the new minimum
    assert by_action["ecs:UpdateService"]["taskDefinition"].endswith(
        "task-definition/mcp-weather:2"
    )
    snapshot = adapter.describe(weather(account))
    assert snapshot.scaling.as_dict() == {
        "min_instances": 3,
        "max_instances": 6,
        "concurrency": None,
        "cpu": "1024",
        "memory": "2048",
    }


def test_only_limits_change_needs_no_deployment(adapter, account, proxy):
    result = adapter.apply_scaling(weather(account), ScalingSettings(max_instances=8))

    assert result.status == "succeeded"
    assert "ecs:UpdateService" not in actions(proxy)


def test_concurrency_is_refused(adapter, account):
    with pytest.raises(InvalidRequest, match="no request concurrency"):
        adapter.apply_scaling(weather(account), ScalingSettings(concurrency=10))


def test_permission_denied_names_action_and_resource(adapter, account, proxy):
    proxy.fail_next(403)

    with pytest.raises(PermissionDenied) as caught:
        adapter.describe(weather(account))

    message = str(caught.value)
    assert "ecs:DescribeServices" in message
    assert "service mcp-weather in cluster mcp" in message
    assert "not authorized to perform" in message


def test_update_denied_names_update_service(adapter, account, proxy):
    proxy.fail_action("ecs:UpdateService", 403)

    with pytest.raises(PermissionDenied, match="ecs:UpdateService"):
        adapter.redeploy(weather(account))
    assert actions(proxy).count("ecs:UpdateService") == 1  # not retried


def test_missing_service_is_not_found(adapter, account):
    with pytest.raises(NotFound, match="service ghost in cluster mcp"):
        adapter.describe(ServiceRef(account, "ghost"))


def test_throttling_is_retried(adapter, account, proxy):
    proxy.fail_next(429)

    assert adapter.describe(weather(account)).image
    assert actions(proxy)[:2] == ["ecs:DescribeServices", "ecs:DescribeServices"]


def test_server_errors_retried_then_reported(adapter, account, proxy):
    proxy.fail_next(500, count=5)

    with pytest.raises(Unavailable, match="gave up after 3 attempts"):
        adapter.describe(weather(account))
    assert len(proxy.requests) == 3


def test_deployment_that_never_stabilises_is_unknown(account, proxy, moto_endpoint, monkeypatch):
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "0")  # new services stay IN_PROGRESS
    proxy.plan("mcp-stuck", start_tasks=False)  # no capacity: tasks stay PENDING
    ecs = client("ecs", moto_endpoint)
    weather_service = ecs.describe_services(cluster=CLUSTER, services=["mcp-weather"])
    network = weather_service["services"][0]["networkConfiguration"]
    ecs.create_service(
        cluster=CLUSTER,
        serviceName="mcp-stuck",
        taskDefinition="mcp-weather",
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=network,
    )

    result = EcsAdapter(account, pacing=FAST).redeploy(
        ServiceRef(account, "mcp-stuck"), timeout_s=0.3
    )

    assert result.status == "unknown"
    assert result.operation_id.startswith("ecs-svc/")
    assert result.operation_id in result.message and "AWS console" in result.message


def test_raw_snapshot_is_json_safe(adapter, account):
    raw = adapter.describe(weather(account)).raw
    assert json.loads(json.dumps(raw))["service"]["serviceName"] == "mcp-weather"


def test_describe_many_batches_services_and_reads_each_task_definition_once(
    adapter, account, proxy
):
    names = ["mcp-weather", "agent-backend", "ghost"]
    one_by_one = {n: adapter.describe(ServiceRef(account, n)) for n in names[:2]}
    proxy.requests.clear()

    found = adapter.describe_many([ServiceRef(account, n) for n in names])

    for name, snapshot in one_by_one.items():  # raw differs only in moto's own timestamps
        diff = {
            f: (getattr(snapshot, f), getattr(found[name], f))
            for f in snapshot.__dataclass_fields__
            if f != "raw" and getattr(snapshot, f) != getattr(found[name], f)
        }
        assert not diff, diff
        assert found[name].raw.keys() == snapshot.raw.keys()
        assert found[name].raw["taskDefinition"] == snapshot.raw["taskDefinition"]
    assert isinstance(found["ghost"], NotFound) and "ghost" in str(found["ghost"])
    # One DescribeServices for up to ten services and one auto scaling read for all of them.
    assert sorted(actions(proxy)) == [
        "application-autoscaling:DescribeScalableTargets",
        "application-autoscaling:DescribeScalingPolicies",
        "ecs:DescribeServices",
        "ecs:DescribeTaskDefinition",
        "ecs:DescribeTaskDefinition",
    ]
