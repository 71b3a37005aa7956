"""ECS releases and rollbacks through boto3 against moto (with the strict ECS proxy in front).

A release registers a new task definition revision copied from the running one with one image
replaced and rolls the service onto it; rollback points the service back at a recorded revision.
"""

from __future__ import annotations

import pytest

from fleet.operations.clouds.ecs import EcsAdapter
from fleet.operations.clouds.errors import InvalidRequest
from fleet.operations.clouds.types import ScalingSettings, ServiceRef
from tests.clouds.ecs.conftest import (
    CLUSTER,
    REGION,
    actions,
    add_service,
    client,
    registered,
    weather,
)

OLD_IMAGE = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/mcp-weather:1.4.2"
NEW_IMAGE = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/mcp-weather:1.5.0"


def test_release_registers_a_copy_with_the_new_image_and_rolls_it_out(adapter, account, proxy):
    lines: list[str] = []

    result = adapter.release(weather(account), NEW_IMAGE, reason="1.5.0", progress=lines.append)

    assert result.status == "succeeded", result.message
    assert (result.image_before, result.image_after) == (OLD_IMAGE, NEW_IMAGE)
    assert (result.revision_before, result.revision_after) == ("mcp-weather:1", "mcp-weather:2")
    [request] = registered(proxy, "ecs:RegisterTaskDefinition")
    assert request["containerDefinitions"][0]["image"] == NEW_IMAGE
    assert request["containerDefinitions"][0]["secrets"][0]["name"] == "API_KEY"
    [update] = registered(proxy, "ecs:UpdateService")
    assert update["taskDefinition"].endswith("task-definition/mcp-weather:2")
    assert "forceNewDeployment" not in update
    assert adapter.describe(weather(account)).image == NEW_IMAGE
    assert "1 of 2 tasks running, 1 old still running, rollout IN_PROGRESS" in lines
    assert lines[-1].startswith(f"Deployment {result.operation_id} is stable (2 of 2")


def test_release_keeps_every_task_definition_field_and_tag(adapter, account, proxy, moto_endpoint):
    ecs = client("ecs", moto_endpoint)
    rich = {
        "family": "mcp-search",
        "taskRoleArn": "arn:aws:iam::123456789012:role/search-task",
        "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "1024",
        "memory": "2048",
        "pidMode": "task",
        "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        "ephemeralStorage": {"sizeInGiB": 50},
        "volumes": [{"name": "scratch"}],
        "containerDefinitions": [
            {
                "name": "search",
                "image": "public.ecr.aws/acme/search:3.1",
                "essential": True,
                "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/scratch"}],
                "portMappings": [{"containerPort": 8000}],
            }
        ],
        "tags": [{"key": "team", "value": "search"}, {"key": "cost-centre", "value": "42"}],
    }
    ecs.register_task_definition(**rich)
    add_service(moto_endpoint, "mcp-search", "mcp-search")
    search = ServiceRef(account, "mcp-search")

    adapter.release(search, "public.ecr.aws/acme/search:3.2")
    adapter.apply_scaling(search, ScalingSettings(cpu="2048", memory="4096"))

    def comparable(revision: str) -> tuple[dict, list]:
        answer = ecs.describe_task_definition(taskDefinition=revision, include=["TAGS"])
        definition = answer["taskDefinition"]
        for volatile in ("taskDefinitionArn", "revision", "registeredAt", "cpu", "memory"):
            definition.pop(volatile, None)
        for container in definition["containerDefinitions"]:
            container.pop("image")
        return definition, answer["tags"]

    assert comparable("mcp-search:3") == comparable("mcp-search:1")
    last = ecs.describe_task_definition(taskDefinition="mcp-search:3")["taskDefinition"]
    assert (last["cpu"], last["memory"]) == ("2048", "4096")
    assert last["containerDefinitions"][0]["image"] == "public.ecr.aws/acme/search:3.2"


def test_ecs_has_no_canary_and_says_so(adapter, account, proxy):
    assert adapter.supports_traffic_split(weather(account)) is False

    with pytest.raises(InvalidRequest, match="no traffic split"):
        adapter.release(weather(account), NEW_IMAGE, traffic_percent=10)
    assert actions(proxy) == []


def test_release_refuses_a_malformed_image(adapter, account, proxy):
    with pytest.raises(InvalidRequest, match="not a container image reference"):
        adapter.release(weather(account), "mcp weather:latest")
    assert "ecs:RegisterTaskDefinition" not in actions(proxy)


def _two_containers(moto_endpoint: str, family: str) -> None:
    client("ecs", moto_endpoint).register_task_definition(
        family=family,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="512",
        memory="1024",
        containerDefinitions=[
            {"name": "server", "image": "acme/server:1", "essential": True},
            {"name": "auth-proxy", "image": "acme/auth-proxy:7", "essential": True},
        ],
    )


def test_two_essential_containers_need_the_container_named(adapter, account, proxy, moto_endpoint):
    _two_containers(moto_endpoint, "mcp-pair")
    add_service(moto_endpoint, "mcp-pair", "mcp-pair")

    with pytest.raises(InvalidRequest) as caught:
        adapter.release(ServiceRef(account, "mcp-pair"), "acme/server:2")

    assert "2 essential containers (server, auth-proxy)" in str(caught.value)
    assert "Name it as container=image" in str(caught.value)
    assert "ecs:RegisterTaskDefinition" not in actions(proxy)
    with pytest.raises(
        InvalidRequest, match=r"no container 'web' \(containers: server, auth-proxy\)"
    ):
        adapter.release(ServiceRef(account, "mcp-pair"), "web=acme/server:2")

    result = adapter.release(ServiceRef(account, "mcp-pair"), "auth-proxy=acme/auth-proxy:8")

    assert (result.image_before, result.image_after) == ("acme/auth-proxy:7", "acme/auth-proxy:8")
    [request] = registered(proxy, "ecs:RegisterTaskDefinition")
    images = {c["name"]: c["image"] for c in request["containerDefinitions"]}
    assert images == {"server": "acme/server:1", "auth-proxy": "acme/auth-proxy:8"}


def test_release_replaces_the_container_the_load_balancer_targets(
    adapter, account, proxy, moto_endpoint
):
    _two_containers(moto_endpoint, "mcp-lb")
    group = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/lb/0123456789abcdef"
    add_service(
        moto_endpoint,
        "mcp-lb",
        "mcp-lb",
        loadBalancers=[{"targetGroupArn": group, "containerName": "server", "containerPort": 8080}],
    )

    result = adapter.release(ServiceRef(account, "mcp-lb"), "acme/server:2")

    assert (result.image_before, result.image_after) == ("acme/server:1", "acme/server:2")
    [request] = registered(proxy, "ecs:RegisterTaskDefinition")
    images = {c["name"]: c["image"] for c in request["containerDefinitions"]}
    assert images == {"server": "acme/server:2", "auth-proxy": "acme/auth-proxy:7"}


def test_list_revisions_marks_the_one_serving(adapter, account, proxy):
    adapter.release(weather(account), NEW_IMAGE)

    revisions = adapter.list_revisions(weather(account))

    assert [(r.name, r.image, r.active, r.traffic_percent, r.ready) for r in revisions] == [
        ("mcp-weather:2", NEW_IMAGE, True, 100, True),
        ("mcp-weather:1", OLD_IMAGE, False, 0, None),
    ]
    listed = registered(proxy, "ecs:ListTaskDefinitions")
    assert listed == [{"familyPrefix": "mcp-weather", "status": "ACTIVE", "sort": "DESC"}]


def test_rollback_returns_to_a_recorded_revision(adapter, account, proxy):
    adapter.release(weather(account), NEW_IMAGE)
    proxy.clear_requests()

    result = adapter.rollback(weather(account), "mcp-weather:1", reason="bad build")

    assert result.status == "succeeded", result.message
    assert (result.revision_before, result.revision_after) == ("mcp-weather:2", "mcp-weather:1")
    assert (result.image_before, result.image_after) == (NEW_IMAGE, OLD_IMAGE)
    assert "ecs:RegisterTaskDefinition" not in actions(proxy)
    [update] = registered(proxy, "ecs:UpdateService")
    assert update["taskDefinition"].endswith("task-definition/mcp-weather:1")
    assert adapter.describe(weather(account)).image == OLD_IMAGE


def test_rollback_accepts_a_bare_revision_number(adapter, account, proxy):
    adapter.release(weather(account), NEW_IMAGE)

    result = adapter.rollback(weather(account), "1")

    assert result.revision_after == "mcp-weather:1"


def test_rollback_to_another_family_or_deregistered_revision_is_refused(
    adapter, account, proxy, moto_endpoint
):
    adapter.release(weather(account), NEW_IMAGE)
    client("ecs", moto_endpoint).deregister_task_definition(taskDefinition="mcp-weather:1")

    with pytest.raises(InvalidRequest, match="not a revision of mcp-weather"):
        adapter.rollback(weather(account), "agent-backend:1")
    with pytest.raises(InvalidRequest, match="already runs mcp-weather:2: nothing to roll back"):
        adapter.rollback(weather(account), "mcp-weather:2")
    with pytest.raises(InvalidRequest, match="mcp-weather:1 is INACTIVE"):
        adapter.rollback(weather(account), "mcp-weather:1")
    assert registered(proxy, "ecs:UpdateService") == [registered(proxy, "ecs:UpdateService")[0]]


@pytest.mark.parametrize(
    ("controller", "instead"), [("CODE_DEPLOY", "CodeDeploy"), ("EXTERNAL", "task set")]
)
def test_services_with_another_deployment_controller_are_refused(
    account, proxy, moto_endpoint, controller, instead
):
    add_service(
        moto_endpoint, "mcp-bluegreen", "mcp-weather", deploymentController={"type": controller}
    )
    adapter = EcsAdapter(account)
    service = ServiceRef(account, "mcp-bluegreen")

    for attempt in (
        lambda: adapter.redeploy(service),
        lambda: adapter.release(service, NEW_IMAGE),
        lambda: adapter.rollback(service, "mcp-weather:1"),
        lambda: adapter.apply_scaling(service, ScalingSettings(cpu="1024")),
        lambda: adapter.apply_scaling(service, ScalingSettings(min_instances=3, max_instances=5)),
    ):
        with pytest.raises(InvalidRequest) as caught:
            attempt()
        assert f"uses the {controller} deployment controller" in str(caught.value)
        assert instead in str(caught.value)
    assert "ecs:UpdateService" not in actions(proxy)
    assert "ecs:RegisterTaskDefinition" not in actions(proxy)
    assert "application-autoscaling:RegisterScalableTarget" not in actions(proxy)


def test_the_proxy_refuses_what_ecs_refuses_for_code_deploy(proxy, moto_endpoint):
    add_service(
        moto_endpoint, "mcp-bluegreen", "mcp-weather", deploymentController={"type": "CODE_DEPLOY"}
    )
    ecs = client("ecs", proxy.endpoint)

    with pytest.raises(ecs.exceptions.InvalidParameterException, match="Use AWS CodeDeploy"):
        ecs.update_service(cluster=CLUSTER, service="mcp-bluegreen", forceNewDeployment=True)
    ecs.update_service(cluster=CLUSTER, service="mcp-bluegreen", desiredCount=3)  # allowed
