"""The AWS world the ECS tests share: moto in server mode behind the strict ECS proxy, seeded with
two Fargate services (one with auto scaling) through the demo's world builder, plus small helpers.

The fixtures apply to every test module in this folder.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from fleet.demo.ecs_world import EcsWorld, FargateService, build_ecs_world
from fleet.operations.clouds.ecs import EcsAdapter
from fleet.operations.clouds.types import AccountRef, ServiceRef
from tests.clouds.conftest import FAST
from tests.fakes.aws_ecs import EcsProxy
from tests.fakes.aws_faults import iam_action

REGION = "eu-west-1"
CLUSTER = "mcp"
TASK_ROLE = "arn:aws:iam::123456789012:role/mcp-weather-task"
SECRET = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:k"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def proxy(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[EcsProxy]:
    httpx.post(f"{moto_endpoint}/moto-api/reset")
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "2")  # moto: tasks are running at creation
    with EcsProxy(moto_endpoint) as server:
        seed(moto_endpoint)
        yield server


@functools.cache  # building a boto3 client parses its service model: once per endpoint is enough
def client(name: str, endpoint: str):
    return boto3.client(
        name,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="seed",
        aws_secret_access_key="seed",
    )


WORLD = EcsWorld(
    region=REGION,
    cluster=CLUSTER,
    vpc_cidr="10.0.0.0/16",
    subnet_cidr="10.0.1.0/24",
    group_description="mcp",
    services=tuple(
        FargateService(
            name, tags, count=2, scale=scale, image_tag="1.4.2", public_ip=public,
            task_role=TASK_ROLE, container={"secrets": [{"name": "API_KEY", "valueFrom": SECRET}]},
        )
        for name, public, tags, scale in (
            ("mcp-weather", True, {"mcp-server": "true"}, (1, 4)),
            ("agent-backend", False, {"role": "agent"}, None),
        )
    ),
)  # fmt: skip


def seed(endpoint: str) -> None:
    """The demo's way (fleet.demo.ecs_world), with this folder's world."""
    build_ecs_world(WORLD, lambda name: client(name, endpoint))


@pytest.fixture
def account(proxy: EcsProxy) -> AccountRef:
    return AccountRef(
        name="demo-aws", provider="aws", region=REGION, cluster=CLUSTER, endpoint=proxy.endpoint
    )


@pytest.fixture
def adapter(account: AccountRef) -> EcsAdapter:
    return EcsAdapter(account, pacing=FAST)


def weather(account: AccountRef) -> ServiceRef:
    return ServiceRef(account=account, resource="mcp-weather")


def actions(proxy: EcsProxy) -> list[str]:
    return [iam_action(r) for r in proxy.requests]


def add_service(endpoint: str, name: str, task_definition: str, **extra: object) -> None:
    """Create one more Fargate service in the seeded cluster, on mcp-weather's network."""
    ecs = client("ecs", endpoint)
    weather_service = ecs.describe_services(cluster=CLUSTER, services=["mcp-weather"])
    ecs.create_service(
        cluster=CLUSTER,
        serviceName=name,
        taskDefinition=task_definition,
        desiredCount=extra.pop("desiredCount", 2),
        launchType="FARGATE",
        networkConfiguration=weather_service["services"][0]["networkConfiguration"],
        **extra,
    )


def registered(proxy: EcsProxy, action: str) -> list[dict]:
    """Bodies of the requests the adapter made for one IAM action."""
    return [r.body for r in proxy.requests if iam_action(r) == action]
