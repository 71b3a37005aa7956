"""The demo's AWS: moto's server (a real AWS-API emulator) behind the strict ECS deployment proxy.

moto keeps the Fargate cluster, task definitions, services, Application Auto Scaling targets and
AWS Budgets; `EcsProxy` (fleet.demo.emulators.aws_ecs) makes deployments move the way real ECS
does, so a redeploy rolls out task by task. Both run on loopback in the calling process. moto is
the `demo` extra (`pip install -e '.[demo]'`, which `make up` installs), never a production need.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fleet.demo.ecs_world import AWS_ACCOUNT_ID, EcsWorld, FargateService, build_ecs_world

ACCOUNT = "demo-aws"
REGION = "eu-west-1"
CLUSTER = "demo"
SERVICES = (
    FargateService(
        "tickets", {"team": "commerce", "mcp-server": "true"},
        cpu="512", memory="1024", count=2, scale=(2, 6),
        image_tag="2.0.0", container={"stopTimeout": 30},
    ),
    FargateService(
        "reports", {"team": "commerce", "role": "agent"},
        cpu="256", memory="512", count=1,
        image_tag="2.0.0", container={"stopTimeout": 30},
    ),
)  # fmt: skip
WORLD = EcsWorld(
    region=REGION,
    cluster=CLUSTER,
    vpc_cidr="10.20.0.0/16",
    subnet_cidr="10.20.1.0/24",
    group_description="MCP servers",
    services=SERVICES,
)


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
    build_ecs_world(WORLD, lambda name: _client(name, upstream))
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
