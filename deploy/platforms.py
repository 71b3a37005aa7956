#!/usr/bin/env python3
"""Write the console's definitions for Cloud Run, ECS and Azure Container Apps from one table.

One process per definition, as on Kubernetes: web, a worker pool per queue kind, beat (one), and the
migration as a job. Each file is in the platform API's own shape (what its SDK types parse, which
CI checks in tests/deploy/test_platform_definitions.py). The values under EXAMPLE are placeholders:
change them here and run `python deploy/platforms.py` to rewrite every file.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent

EXAMPLE = {
    "host": "fleet.example.com",
    "gcp_project": "my-project",
    "gcp_region": "europe-west1",
    "gcp_image": "europe-west1-docker.pkg.dev/my-project/platform/fleet-console:1.0.0",
    "cloudsql_instance": "my-project:europe-west1:fleet-console",
    "aws_account": "123456789012",
    "aws_region": "eu-west-1",
    "aws_image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/fleet-console:1.0.0",
    "azure_environment": (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/fleet-console"
        "/providers/Microsoft.App/managedEnvironments/fleet-console"
    ),
    "azure_location": "westeurope",
    "azure_image": "fleetconsole.azurecr.io/fleet-console:1.0.0",
    "azure_vault": "https://fleet-console-kv.vault.azure.net/secrets",
    "azure_redis": "fleet-console.redis.cache.windows.net:6380",
}
SECRETS = ["SECRET_KEY", "DATABASE_URL", "REDIS_URL"]
SETTINGS = {
    "ALLOWED_HOSTS": EXAMPLE["host"],
    "CSRF_TRUSTED_ORIGINS": f"https://{EXAMPLE['host']}",
    "CONSOLE_BASE_URL": f"https://{EXAMPLE['host']}",
    "LOG_JSON": "1",
    "FLEET_TRUST_X_FORWARDED_PROTO": "1",
    "FLEET_TRUSTED_PROXY_COUNT": "1",
    "FLEET_RUN_DIR": "/tmp",
}


@dataclass(frozen=True)
class Process:
    name: str  # web, worker-probes, ..., beat, migrate
    command: str  # the entrypoint's argument
    queues: str = ""  # worker only: FLEET_WORKER_QUEUES
    concurrency: int = 8
    instances: tuple[int, int] = (1, 1)  # min, max
    cpu: float = 1.0
    memory_mib: int = 1024
    calls_clouds: bool = False  # needs the console's cloud identity (workers that touch clouds)

    @property
    def env(self) -> dict[str, str]:
        env = dict(SETTINGS)
        if self.command == "worker":
            env.update(
                FLEET_WORKER_QUEUES=self.queues,
                FLEET_WORKER_CONCURRENCY=str(self.concurrency),
                FLEET_WORKER_NAME=f"{self.name.removeprefix('worker-')}@%h",
            )
        if self.command == "web":
            env.update(WEB_CONCURRENCY="2", FORWARDED_ALLOW_IPS="*")
        return env


PROCESSES = [
    Process("web", "web", instances=(1, 10), cpu=1, memory_mib=1024),
    Process("worker-probes", "worker", "probes", 8, (2, 10), cpu=1, memory_mib=1024),
    Process("worker-cloud", "worker", "cloud", 8, (1, 4), 0.5, 1024, calls_clouds=True),
    Process("worker-audits", "worker", "audits", 2, (1, 4), 1, 2048, calls_clouds=True),
    Process("worker-notifications", "worker", "notifications,celery", 4, (1, 4), 0.5, 1024),
    Process("beat", "beat", instances=(1, 1), cpu=0.5, memory_mib=512),
    Process("migrate", "migrate", cpu=1, memory_mib=1024),
]


# --- Cloud Run (Admin API v2: Service, WorkerPool, Job) ------------------------------------------


def _cloudrun_container(p: Process) -> dict:
    """https://cloud.google.com/run/docs/reference/rest/v2/Container"""
    env = [{"name": k, "value": v} for k, v in p.env.items()]
    env += [
        {
            "name": name,
            "valueSource": {
                "secretKeyRef": {
                    "secret": f"fleet-console-{name.lower().replace('_', '-')}",
                    "version": "latest",
                }
            },
        }
        for name in SECRETS
    ]
    container = {
        "name": p.command,
        "image": EXAMPLE["gcp_image"],
        "args": [p.command],
        "env": env,
        "resources": {"limits": {"cpu": _cpu(p.cpu), "memory": f"{p.memory_mib}Mi"}},
        "volumeMounts": [{"name": "cloudsql", "mountPath": "/cloudsql"}],
    }
    if p.command == "web":
        container["ports"] = [{"name": "http1", "containerPort": 8000}]
        # Requests only: CPU is throttled between requests on the web service; workers and beat
        # run in worker pools, whose CPU is always allocated.
        container["resources"].update(cpuIdle=True, startupCpuBoost=True)
        container["startupProbe"] = {
            "httpGet": {"path": "/healthz", "httpHeaders": [_host_header()]},
            "periodSeconds": 5,
            "failureThreshold": 24,
            "timeoutSeconds": 4,
        }
    return container


def _host_header() -> dict:
    return {"name": "Host", "value": EXAMPLE["host"]}


def _cpu(cpu: float) -> str:
    return str(int(cpu)) if cpu == int(cpu) else f"{int(cpu * 1000)}m"


def _cloudrun_template(p: Process) -> dict:
    account = "fleet-console-cloud" if p.calls_clouds else "fleet-console"
    return {
        "serviceAccount": f"{account}@{EXAMPLE['gcp_project']}.iam.gserviceaccount.com",
        "containers": [_cloudrun_container(p)],
        # Cloud SQL through the built-in connector (DATABASE_URL host=/cloudsql/INSTANCE);
        # Memorystore through Direct VPC egress on private ranges.
        "volumes": [
            {"name": "cloudsql", "cloudSqlInstance": {"instances": [EXAMPLE["cloudsql_instance"]]}}
        ],
        "vpcAccess": {
            "networkInterfaces": [{"network": "default", "subnetwork": "default"}],
            "egress": "PRIVATE_RANGES_ONLY" if p.command == "web" else "ALL_TRAFFIC",
        },
    }


def cloudrun(p: Process) -> tuple[str, dict]:
    labels = {"app": "fleet-console", "process": p.name}
    if p.command == "web":
        template = _cloudrun_template(p) | {
            "scaling": {"minInstanceCount": p.instances[0], "maxInstanceCount": p.instances[1]},
            "maxInstanceRequestConcurrency": 80,
            "timeout": "60s",
        }
        return "service", {"labels": labels, "ingress": "INGRESS_TRAFFIC_ALL", "template": template}
    if p.command == "migrate":
        task = _cloudrun_template(p) | {"maxRetries": 1, "timeout": "1800s"}
        return "job", {"labels": labels, "template": {"taskCount": 1, "template": task}}
    return "workerpool", {
        "labels": labels,
        "scaling": {"manualInstanceCount": p.instances[0]},
        "template": _cloudrun_template(p),
    }


# --- ECS (RegisterTaskDefinition input) ----------------------------------------------------------


def ecs(p: Process) -> dict:
    """https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html"""
    account, region = EXAMPLE["aws_account"], EXAMPLE["aws_region"]
    container: dict = {
        "name": p.command,
        "image": EXAMPLE["aws_image"],
        "essential": True,
        "command": [p.command],
        "user": "10001:10001",
        "readonlyRootFilesystem": True,
        "environment": [{"name": k, "value": v} for k, v in p.env.items()],
        "secrets": [
            {
                "name": name,
                "valueFrom": f"arn:aws:secretsmanager:{region}:{account}:secret:fleet-console/{name}",
            }
            for name in SECRETS
        ],
        "mountPoints": [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}],
        "stopTimeout": 60 if p.command == "worker" else 30,
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": "/ecs/fleet-console",
                "awslogs-region": region,
                "awslogs-stream-prefix": p.name,
            },
        },
    }
    if p.command != "migrate":
        container["healthCheck"] = {
            "command": ["CMD", "python", "/app/deploy/healthcheck.py"],
            "interval": 30,
            "timeout": 5,
            "retries": 3,
            "startPeriod": 60,
        }
    if p.command == "web":
        container["portMappings"] = [{"containerPort": 8000, "protocol": "tcp", "name": "http"}]
    task = {
        "family": f"fleet-console-{p.name}",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "runtimePlatform": {"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"},
        "cpu": str(int(p.cpu * 1024)),
        "memory": str(p.memory_mib),
        # Pulls the image and reads the three secrets; nothing else.
        "executionRoleArn": f"arn:aws:iam::{account}:role/fleet-console-execution",
        "containerDefinitions": [container],
        "volumes": [{"name": "tmp"}],
        "tags": [{"key": "app", "value": "fleet-console"}, {"key": "process", "value": p.name}],
    }
    if p.calls_clouds:  # only the pools that call AWS APIs get the console's task role
        task["taskRoleArn"] = f"arn:aws:iam::{account}:role/fleet-console-cloud"
    return task


# --- Azure Container Apps (ContainerApp, Job) ---------------------------------------------------


def _aca_container(p: Process) -> dict:
    """https://learn.microsoft.com/rest/api/containerapps/container-apps/create-or-update"""
    env = [{"name": k, "value": v} for k, v in p.env.items()]
    env += [{"name": name, "secretRef": name.lower().replace("_", "-")} for name in SECRETS]
    container = {
        "name": p.command,
        "image": EXAMPLE["azure_image"],
        "args": [p.command],
        "env": env,
        "resources": {"cpu": p.cpu, "memory": f"{p.memory_mib / 1024:g}Gi"},
    }
    if p.command == "web":
        container["probes"] = [
            {
                "type": "Readiness",
                "httpGet": {"path": "/healthz", "port": 8000, "httpHeaders": [_host_header()]},
                "periodSeconds": 10,
                "timeoutSeconds": 5,
                "failureThreshold": 3,
            },
            {"type": "Liveness", "tcpSocket": {"port": 8000}, "periodSeconds": 20},
        ]
    return container


def _aca_secrets() -> list[dict]:
    return [
        {
            "name": name.lower().replace("_", "-"),
            "keyVaultUrl": f"{EXAMPLE['azure_vault']}/fleet-console-{name.lower().replace('_', '-')}",
            "identity": "system",
        }
        for name in SECRETS
    ] + [
        {
            "name": "redis-password",
            "keyVaultUrl": f"{EXAMPLE['azure_vault']}/fleet-console-redis-password",
            "identity": "system",
        }
    ]


def container_apps(p: Process) -> tuple[str, dict]:
    base = {
        "location": EXAMPLE["azure_location"],
        "tags": {"app": "fleet-console", "process": p.name},
        "identity": {"type": "SystemAssigned"},
    }
    if p.command == "migrate":
        return "job", base | {
            "properties": {
                "environmentId": EXAMPLE["azure_environment"],
                "configuration": {
                    "triggerType": "Manual",
                    "replicaTimeout": 1800,
                    "replicaRetryLimit": 1,
                    "manualTriggerConfig": {"parallelism": 1, "replicaCompletionCount": 1},
                    "secrets": _aca_secrets(),
                },
                "template": {"containers": [_aca_container(p)]},
            }
        }
    configuration: dict = {"activeRevisionsMode": "Single", "secrets": _aca_secrets()}
    scale: dict = {"minReplicas": p.instances[0], "maxReplicas": p.instances[1]}
    if p.command == "web":
        configuration["ingress"] = {
            "external": True,
            "targetPort": 8000,
            "transport": "http",
            "allowInsecure": False,
        }
        scale["rules"] = [{"name": "http", "http": {"metadata": {"concurrentRequests": "50"}}}]
    elif p.command == "worker":
        # KEDA's Redis list scaler on the pool's first queue (the Celery queue is a Redis list).
        scale["rules"] = [
            {
                "name": "queue-length",
                "custom": {
                    "type": "redis",
                    "metadata": {
                        "address": EXAMPLE["azure_redis"],
                        "listName": p.queues.split(",")[0],
                        "listLength": "100",
                        "enableTLS": "true",
                    },
                    "auth": [{"secretRef": "redis-password", "triggerParameter": "password"}],
                },
            }
        ]
    return "containerapp", base | {
        "properties": {
            "managedEnvironmentId": EXAMPLE["azure_environment"],
            "configuration": configuration,
            "template": {"containers": [_aca_container(p)], "scale": scale},
        }
    }


def definitions() -> dict[Path, dict]:
    """Every file this script writes, by path."""
    files: dict[Path, dict] = {}
    for p in PROCESSES:
        kind, body = cloudrun(p)
        files[DEPLOY / "cloudrun" / f"{p.name}.{kind}.json"] = body
        files[DEPLOY / "ecs" / f"{p.name}.taskdef.json"] = ecs(p)
        kind, body = container_apps(p)
        files[DEPLOY / "container-apps" / f"{p.name}.{kind}.json"] = body
    return files


def render(body: dict) -> str:
    return json.dumps(body, indent=2) + "\n"


def main() -> int:
    for path, body in definitions().items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(render(body))
        print(path.relative_to(DEPLOY.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
