"""The demo's four clouds, started together, and the fleet file that places each service on one.

Kubernetes (`fleet.demo.cloud`), Google Cloud Run (`fleet.demo.gcp`), AWS ECS on moto
(`fleet.demo.aws`) and Azure Container Apps (`fleet.demo.azure`) each run as loopback emulators
in the calling process. `env` is what the console's processes need to reach them: the emulator
switch (`FLEET_CLOUD_EMULATOR=1`, honoured only for loopback endpoints), the Google APIs'
endpoints and the Container Apps certificate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fleet.demo import aws, azure, gcp
from fleet.demo.cloud import DEPLOYMENTS, start_demo_cloud
from fleet.operations.clouds.credentials import EMULATOR_ENV

# Which platform each demo service runs on (the account its fleet-file entry moves to).
PLATFORM = (
    {name: "kubernetes" for name in DEPLOYMENTS}
    | {name: "gcp" for name in gcp.SERVICES}
    | {s.name: "aws" for s in aws.SERVICES}
    | {name: "azure" for name in azure.SERVICES}
)


@dataclass
class DemoClouds:
    kubernetes: Any
    gcp: Any
    aws: Any
    azure: Any

    @property
    def env(self) -> dict[str, str]:
        return {EMULATOR_ENV: "1", **self.gcp.env, **self.azure.env}

    def accounts(self) -> dict[str, dict]:
        """Fleet-file account entries, by provider."""
        return {
            "kubernetes": self.kubernetes.account_spec(),
            "gcp": self.gcp.account_spec(),
            "aws": self.aws.account_spec(),
            "azure": self.azure.account_spec(),
        }

    def stop(self) -> None:
        for cloud in (self.kubernetes, self.gcp, self.aws, self.azure):
            if cloud is not None:
                cloud.stop()


def start_demo_clouds(urls: dict[str, str], state_dir: Path) -> DemoClouds:
    """Start the four emulators; `urls` maps each demo service to its server's base URL.

    If one fails to start, the ones already running are stopped before the error goes on.
    """
    clouds = DemoClouds(None, None, None, None)
    try:
        clouds.aws = aws.start_demo_aws()  # first: it is the one that may be missing (moto)
        clouds.kubernetes = start_demo_cloud()
        clouds.gcp = gcp.start_demo_gcp(urls)
        clouds.azure = azure.start_demo_azure(state_dir)
    except BaseException:
        clouds.stop()
        raise
    return clouds


def on_demo_clouds(fleet_yaml: str, accounts: dict[str, dict]) -> str:
    """The demo fleet file with every service moved to its platform's account (resource = name)."""
    fleet = yaml.safe_load(fleet_yaml)
    names = {spec["name"] for spec in accounts.values()}
    fleet["accounts"] = [a for a in fleet.get("accounts") or [] if a["name"] not in names]
    fleet["accounts"] += list(accounts.values())
    for service in fleet.get("services") or []:
        provider = PLATFORM.get(service["name"])
        if provider in accounts:
            service["account"] = accounts[provider]["name"]
            service["resource"] = service["name"]
    used = {service.get("account") for service in fleet.get("services") or []}
    fleet["accounts"] = [a for a in fleet["accounts"] if a["name"] in used]
    return yaml.safe_dump(fleet, sort_keys=False)
