"""The console's cloud features against real things: the strict fakes, moto, live MCP servers.

Each platform fixture starts its fake (or moto in server mode), registers a cloud account pointed
at it and a service whose URL is a real MCP server on loopback (so the post-deploy probe is a real
probe), and yields a `Platform` bundle.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from moto.server import ThreadedMotoServer

from fleet.models import CloudAccount, Service
from fleet.operations.clouds.credentials import EMULATOR_CA_ENV, EMULATOR_ENV
from fleet.operations.clouds.pacing import Pacing
from tests.fakes.aws_ecs import EcsProxy
from tests.fakes.cloudrun import FakeCloudRun
from tests.fakes.cloudrun import seed_demo as seed_cloudrun
from tests.fakes.container_apps import FakeContainerApps
from tests.fakes.container_apps import seed_demo as seed_container_apps
from tests.fakes.kubernetes import FakeKubernetes
from tests.mcp_servers.misbehaving import status_app
from tests.mcp_servers.sdk_servers import demo_server, streamable_app
from tests.mcp_servers.serving import served

FAST = Pacing(
    attempts=2,
    backoff_initial_s=0.01,
    backoff_max_s=0.02,
    poll_interval_s=0.01,
    poll_max_interval_s=0.03,
    request_timeout_s=5,
)
AZURE_SUB = "00000000-0000-0000-0000-000000000001"
AWS_REGION = "eu-west-1"
AWS_CLUSTER = "mcp"


@dataclass
class Platform:
    provider: str
    fake: Any  # the fake server (or the strict ECS proxy in front of moto)
    account: CloudAccount
    service: Service


@pytest.fixture(autouse=True)
def cloud_setup(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback fakes take emulator credentials; fast polling; short operation timeouts."""
    monkeypatch.setenv(EMULATOR_ENV, "1")
    settings.FLEET_CLOUD_PACING = FAST
    settings.FLEET_CLOUD_OPERATION_TIMEOUT_SECONDS = 5
    logging.getLogger("mcp").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def healthy_url() -> Iterator[str]:
    """A real MCP server (official SDK) answering the post-deploy probe."""
    with served(streamable_app(demo_server("weather", "1.4.2"), json_response=True)) as base:
        yield f"{base}/mcp"


@pytest.fixture(scope="session")
def broken_url() -> Iterator[str]:
    """What a bad release looks like from outside: every request gets 503."""
    with served(status_app(503, b"Service Unavailable")) as base:
        yield f"{base}/mcp"


def register(provider: str, endpoint: str, url: str, resource: str = "mcp-weather", **loc) -> tuple:
    account = CloudAccount.objects.create(
        name=f"test-{provider}", provider=provider, endpoint=endpoint, **loc
    )
    service = Service.objects.create(
        name="weather", url=url, account=account, resource=resource, team="tools"
    )
    return account, service


# -- the four platforms ------------------------------------------------------------------------
@pytest.fixture
def kubernetes(db, healthy_url) -> Iterator[Platform]:
    with FakeKubernetes(rollout_gets=3) as fake:
        fake.add_deployment("mcp-weather", hpa=(2, 6), labels={"mcp-server": "true"})
        fake.add_deployment("mcp-files", replicas=1, labels={"mcp-server": "true"})
        fake.add_deployment("agent-backend", labels={"role": "agent"}, service_type=None)
        account, service = register("kubernetes", fake.endpoint, healthy_url, namespace="mcp")
        yield Platform("kubernetes", fake, account, service)


@pytest.fixture
def cloudrun(db, healthy_url) -> Iterator[Platform]:
    with FakeCloudRun(operation_polls=2) as fake:
        seed_cloudrun(fake)
        # Revision tag URLs lead to the same healthy server here (a test may point them elsewhere).
        origin = healthy_url.rsplit("/mcp", 1)[0]
        fake.tag_uri = lambda service_uri, tag: origin
        account, service = register(
            "gcp", fake.endpoint, healthy_url, project="demo-project", region="us-central1"
        )
        yield Platform("gcp", fake, account, service)


@pytest.fixture
def container_apps(db, healthy_url, tmp_path: Path, monkeypatch) -> Iterator[Platform]:
    with FakeContainerApps(operation_polls=2, restart_gets=2) as fake:
        seed_container_apps(fake)
        ca = tmp_path / "fake-arm.pem"
        ca.write_bytes(fake.cert_pem)
        monkeypatch.setenv(EMULATOR_CA_ENV, str(ca))
        account, service = register(
            "azure", fake.endpoint, healthy_url, subscription=AZURE_SUB, resource_group="mcp-rg"
        )
        yield Platform("azure", fake, account, service)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def ecs(db, healthy_url, moto_endpoint, monkeypatch) -> Iterator[Platform]:
    httpx.post(f"{moto_endpoint}/moto-api/reset")
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "2")  # moto: tasks run as soon as created
    with EcsProxy(moto_endpoint) as proxy:
        seed_ecs(moto_endpoint)
        account, service = register(
            "aws", proxy.endpoint, healthy_url, region=AWS_REGION, cluster=AWS_CLUSTER
        )
        yield Platform("aws", proxy, account, service)


@pytest.fixture(params=["kubernetes", "cloudrun", "container_apps", "ecs"])
def platform(request) -> Platform:
    """Each test using it runs once per platform."""
    return request.getfixturevalue(request.param)


def seed_ecs(endpoint: str) -> None:
    """A Fargate cluster with two services (one with an auto-scaling target), as moto holds it."""
    import boto3

    def client(name: str):
        return boto3.client(
            name,
            endpoint_url=endpoint,
            region_name=AWS_REGION,
            aws_access_key_id="seed",
            aws_secret_access_key="seed",
        )

    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="mcp", Description="mcp", VpcId=vpc)["GroupId"]
    ecs = client("ecs")
    ecs.create_cluster(clusterName=AWS_CLUSTER)
    for name, tags in (
        ("mcp-weather", [{"key": "mcp-server", "value": "true"}]),
        ("agent-backend", [{"key": "role", "value": "agent"}]),
    ):
        ecs.register_task_definition(
            family=name,
            taskRoleArn=f"arn:aws:iam::123456789012:role/{name}-task",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="512",
            memory="1024",
            containerDefinitions=[
                {
                    "name": "server",
                    "image": f"123456789012.dkr.ecr.{AWS_REGION}.amazonaws.com/{name}:1.4.2",
                    "essential": True,
                    "portMappings": [{"containerPort": 8080}],
                }
            ],
        )
        ecs.create_service(
            cluster=AWS_CLUSTER,
            serviceName=name,
            taskDefinition=name,
            desiredCount=2,
            launchType="FARGATE",
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": [subnet],
                    "securityGroups": [group],
                    "assignPublicIp": "ENABLED",
                }
            },
            tags=tags,
        )
    autoscaling = client("application-autoscaling")
    autoscaling.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=f"service/{AWS_CLUSTER}/mcp-weather",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=1,
        MaxCapacity=4,
    )
    # Without a scaling policy the target scales nothing, and the console says so.
    autoscaling.put_scaling_policy(
        PolicyName="cpu-60",
        ServiceNamespace="ecs",
        ResourceId=f"service/{AWS_CLUSTER}/mcp-weather",
        ScalableDimension="ecs:service:DesiredCount",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 60.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
            },
        },
    )
