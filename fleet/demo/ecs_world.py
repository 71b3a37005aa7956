"""An ECS world on an AWS API endpoint (moto in server mode), built through boto3.

One VPC with a subnet and a security group (moto wants both for an awsvpc service), a cluster, and
per Fargate service its task definition, the service and, when asked, target-tracking auto scaling.
The demo's AWS (fleet.demo.aws) and the ECS tests (tests/clouds/ecs/conftest.py) both build theirs
here, each from its own `EcsWorld`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

AWS_ACCOUNT_ID = "123456789012"  # moto's default account


@dataclass(frozen=True)
class FargateService:
    """One service: its tags, task size, running count, image tag and container extras."""

    name: str
    tags: dict[str, str]
    cpu: str = "512"
    memory: str = "1024"
    count: int = 2
    scale: tuple[int, int] | None = None  # auto scaling (min, max) on 60 % CPU, or none
    image_tag: str = "1.0.0"
    public_ip: bool = False
    task_role: str = ""  # default: the service's own role, <name>-task
    container: dict[str, Any] = field(default_factory=dict)  # e.g. stopTimeout, secrets


@dataclass(frozen=True)
class EcsWorld:
    region: str
    cluster: str
    vpc_cidr: str
    subnet_cidr: str
    group_description: str
    services: tuple[FargateService, ...]


def build_ecs_world(world: EcsWorld, client: Callable[[str], Any]) -> None:
    """Create `world` through `client(name)`, a boto3 client factory for the endpoint."""
    client = functools.cache(client)  # a boto3 client parses its service model: build each once
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock=world.vpc_cidr)["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=world.subnet_cidr)["Subnet"]["SubnetId"]
    group = ec2.create_security_group(
        GroupName="mcp", Description=world.group_description, VpcId=vpc
    )["GroupId"]
    network = {"subnets": [subnet], "securityGroups": [group]}
    client("ecs").create_cluster(clusterName=world.cluster)
    for service in world.services:
        _create_service(world, service, network, client)


def _create_service(
    world: EcsWorld, spec: FargateService, network: dict, client: Callable[[str], Any]
) -> None:
    ecs = client("ecs")
    ecs.register_task_definition(
        family=spec.name,
        taskRoleArn=spec.task_role or f"arn:aws:iam::{AWS_ACCOUNT_ID}:role/{spec.name}-task",
        executionRoleArn=f"arn:aws:iam::{AWS_ACCOUNT_ID}:role/ecsTaskExecutionRole",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu=spec.cpu,
        memory=spec.memory,
        containerDefinitions=[_container(world, spec)],
    )
    public = "ENABLED" if spec.public_ip else "DISABLED"
    with running_tasks(spec.count):
        ecs.create_service(
            cluster=world.cluster,
            serviceName=spec.name,
            taskDefinition=spec.name,
            desiredCount=spec.count,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {**network, "assignPublicIp": public}},
            tags=[{"key": k, "value": v} for k, v in spec.tags.items()],
        )
    if spec.scale:
        _autoscale(f"service/{world.cluster}/{spec.name}", *spec.scale, client=client)


def _container(world: EcsWorld, spec: FargateService) -> dict:
    registry = f"{AWS_ACCOUNT_ID}.dkr.ecr.{world.region}.amazonaws.com"
    return {
        "name": "server",
        "image": f"{registry}/{spec.name}:{spec.image_tag}",
        "essential": True,
        "portMappings": [{"containerPort": 8080}],
        "environment": [{"name": "LOG_LEVEL", "value": "info"}],
        **spec.container,
    }


def _autoscale(resource: str, low: int, high: int, *, client: Callable[[str], Any]) -> None:
    autoscaling = client("application-autoscaling")
    target = {
        "ServiceNamespace": "ecs",
        "ResourceId": resource,
        "ScalableDimension": "ecs:service:DesiredCount",
    }
    autoscaling.register_scalable_target(**target, MinCapacity=low, MaxCapacity=high)
    autoscaling.put_scaling_policy(
        **target,
        PolicyName="cpu-60",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 60.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
            },
        },
    )


@contextmanager
def running_tasks(count: int) -> Iterator[None]:
    """moto starts a new service with MOTO_ECS_SERVICE_RUNNING tasks running (read at creation)."""
    before = os.environ.get("MOTO_ECS_SERVICE_RUNNING")
    os.environ["MOTO_ECS_SERVICE_RUNNING"] = str(count)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MOTO_ECS_SERVICE_RUNNING", None)
        else:
            os.environ["MOTO_ECS_SERVICE_RUNNING"] = before
