"""The demo's AWS: moto's server (a real AWS-API emulator) behind the strict ECS deployment proxy.

moto keeps the Fargate cluster, task definitions, services, Application Auto Scaling targets and
AWS Budgets; `EcsProxy` (fleet.demo.emulators.aws_ecs) makes deployments move the way real ECS
does, so a redeploy rolls out task by task. Both run on loopback in the calling process. moto is
the `demo` extra (`pip install -e '.[demo]'`, which `make up` installs), never a production need.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

ACCOUNT = "demo-aws"
REGION = "eu-west-1"
CLUSTER = "demo"
AWS_ACCOUNT_ID = "123456789012"  # moto's default account
# Per ECS demo service: tags, task cpu/memory, desired count, auto-scaling range or None.
SERVICES: dict[str, dict[str, Any]] = {
    "tickets": {
        "tags": {"team": "commerce", "mcp-server": "true"},
        "cpu": "512", "memory": "1024", "count": 2, "scale": (2, 6),
    },
    "reports": {
        "tags": {"team": "commerce", "role": "agent"},
        "cpu": "256", "memory": "512", "count": 1, "scale": None,
    },
}  # fmt: skip


class MotoMissing(RuntimeError):
    """moto is not installed: the demo's AWS cannot start."""


@dataclass
class DemoAws:
    moto: Any
    proxy: Any

    @property
    def endpoint(self) -> str:
        return self.proxy.endpoint

    def account_spec(self) -> dict:
        return {
            "name": ACCOUNT,
            "provider": "aws",
            "region": REGION,
            "cluster": CLUSTER,
            "account_id": AWS_ACCOUNT_ID,
            "endpoint": self.endpoint,
        }

    def stop(self) -> None:
        self.proxy.stop()
        self.moto.stop()


@contextmanager
def _running_tasks(count: int):
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


def start_demo_aws() -> DemoAws:
    """Start moto and the ECS proxy on 127.0.0.1 and create the demo's Fargate services."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise MotoMissing(
            "the demo's AWS emulator needs moto: run `make up` (it installs the demo extra) or "
            "`pip install -e '.[demo]'`; or start without the demo fleet (--no-demo)"
        ) from exc
    from fleet.demo.emulators.aws_ecs import EcsProxy

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    upstream = f"http://{host}:{port}"
    _seed(upstream)
    proxy = EcsProxy(upstream).start()
    return DemoAws(server, proxy)


def _client(name: str, endpoint: str) -> Any:
    import boto3

    return boto3.client(
        name,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="demo",
        aws_secret_access_key="demo",
    )


def _seed(endpoint: str) -> None:
    ec2 = _client("ec2", endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="mcp", Description="MCP servers", VpcId=vpc)
    ecs = _client("ecs", endpoint)
    ecs.create_cluster(clusterName=CLUSTER)
    autoscaling = _client("application-autoscaling", endpoint)
    for name, spec in SERVICES.items():
        ecs.register_task_definition(
            family=name,
            taskRoleArn=f"arn:aws:iam::{AWS_ACCOUNT_ID}:role/{name}-task",
            executionRoleArn=f"arn:aws:iam::{AWS_ACCOUNT_ID}:role/ecsTaskExecutionRole",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu=spec["cpu"],
            memory=spec["memory"],
            containerDefinitions=[
                {
                    "name": "server",
                    "image": f"{AWS_ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/{name}:2.0.0",
                    "essential": True,
                    "portMappings": [{"containerPort": 8080}],
                    "environment": [{"name": "LOG_LEVEL", "value": "info"}],
                    "stopTimeout": 30,
                }
            ],
        )
        with _running_tasks(spec["count"]):
            ecs.create_service(
                cluster=CLUSTER,
                serviceName=name,
                taskDefinition=name,
                desiredCount=spec["count"],
                launchType="FARGATE",
                networkConfiguration={
                    "awsvpcConfiguration": {
                        "subnets": [subnet],
                        "securityGroups": [group["GroupId"]],
                        "assignPublicIp": "DISABLED",
                    }
                },
                tags=[{"key": k, "value": v} for k, v in spec["tags"].items()],
            )
        if spec["scale"]:
            low, high = spec["scale"]
            resource = f"service/{CLUSTER}/{name}"
            autoscaling.register_scalable_target(
                ServiceNamespace="ecs",
                ResourceId=resource,
                ScalableDimension="ecs:service:DesiredCount",
                MinCapacity=low,
                MaxCapacity=high,
            )
            autoscaling.put_scaling_policy(
                PolicyName="cpu-60",
                ServiceNamespace="ecs",
                ResourceId=resource,
                ScalableDimension="ecs:service:DesiredCount",
                PolicyType="TargetTrackingScaling",
                TargetTrackingScalingPolicyConfiguration={
                    "TargetValue": 60.0,
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
                    },
                },
            )
