"""The four platforms of a benchmark fleet, served by the strict fakes of tests/fakes/ over HTTP.

    python -m bench.fake_clouds PLATFORM     (gcp, aws, azure or kubernetes)

Each platform runs in its own process (the way a cloud API is somebody else's machine), so the
audit being measured pays for its own requests and parsing, not for the fakes' work. The
process prints one JSON line with its endpoints, then reads commands on stdin, one a line:

    grow START STOP       add services svc-START .. svc-(STOP-1) that belong to this platform
                          (see `platform_of`) and answer {"added": n}

and stops when stdin closes. Services vary the way a real fleet does (public or private,
JSON or text logs, broad or narrow roles, with or without traffic), so every reader takes its
usual paths. `FakeFleet` starts the four processes and sets the environment the console reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# A realistic mix: most MCP servers on Kubernetes and Cloud Run, fewer on Container Apps and ECS.
# Index i % 20 picks the platform; (i // 20) % 2 picks one of two accounts on it.
MIX = (("kubernetes", 7), ("gcp", 6), ("azure", 4), ("aws", 3))
_SLOTS = [name for name, share in MIX for _ in range(share)]
PROJECTS = ("bench-proj-a", "bench-proj-b")
NAMESPACES = ("mcp-a", "mcp-b")
GROUPS = ("mcp-rg-a", "mcp-rg-b")
CLUSTERS = ("mcp-a", "mcp-b")
SUBSCRIPTION = "00000000-0000-0000-0000-00000000be0c"
AWS_REGION = "eu-west-1"
AWS_ACCOUNT = "123456789012"
GCP_REGION = "europe-west1"


def platform_of(i: int) -> str:
    return _SLOTS[i % len(_SLOTS)]


def account_of(i: int) -> int:
    return (i // len(_SLOTS)) % 2


def name_of(i: int) -> str:
    return f"svc-{i:05d}"


def resource_of(i: int) -> str:
    """The platform resource a service is linked to (Cloud Run and Azure use an mcp- prefix)."""
    return f"mcp-{i:05d}" if platform_of(i) in ("gcp", "azure") else name_of(i)


def _json_line(i: int, n: int) -> str:
    return json.dumps({"level": "info", "msg": "tool call", "tool": "search", "n": n, "i": i})


def _log_lines(i: int) -> list[Any]:
    """Recent log lines: most services log JSON, every fifth plain text."""
    if i % 5 == 0:
        return [f"GET /mcp 200 {n} ms" for n in range(20)]
    return [json.loads(_json_line(i, n)) for n in range(20)]


# --- Google: Cloud Run, Cloud Logging, Resource Manager, Cloud Monitoring -----------------------


class _Google:
    def __init__(self) -> None:
        from fleet.demo.emulators.cloudrun import FakeCloudRun
        from fleet.demo.emulators.gcp_logging import FakeCloudLogging, FakeResourceManager
        from fleet.demo.emulators.monitoring import FakeMonitoring

        self.run = FakeCloudRun().__enter__()
        self.logging = FakeCloudLogging().__enter__()
        self.crm = FakeResourceManager().__enter__()
        self.monitoring = FakeMonitoring().__enter__()
        for project in PROJECTS:
            self.crm.set_policy(
                project,
                {
                    "roles/datastore.user": [
                        f"serviceAccount:narrow@{project}.iam.gserviceaccount.com"
                    ],
                    "roles/editor": [f"serviceAccount:broad@{project}.iam.gserviceaccount.com"],
                },
                audit_configs={"allServices": ["ADMIN_READ", "DATA_READ", "DATA_WRITE"]}
                if project == PROJECTS[0]
                else None,
            )

    def endpoints(self) -> dict:
        return {
            "run": self.run.endpoint,
            "logging": self.logging.endpoint,
            "crm": self.crm.endpoint,
            "monitoring": self.monitoring.endpoint,
        }

    def add(self, i: int) -> None:
        from fleet.costs.usage import REQUEST_COUNT
        from fleet.demo.emulators.monitoring import SeededSeries

        project, name = PROJECTS[account_of(i)], resource_of(i)
        account = "broad" if i % 9 == 0 else "narrow"
        self.run.add_service(
            name,
            project=project,
            location=GCP_REGION,
            image=f"europe-docker.pkg.dev/{project}/mcp/{name}:1.{i % 9}",
            min_instances=i % 3,
            public=i % 11 == 0,
            ingress=("INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_ALL")[i % 2],
            service_account=f"{account}@{project}.iam.gserviceaccount.com",
            env={"PORT": "8080"},
            secret_env={"API_KEY": f"{name}-key"},
        )
        self.logging.add_entries(project, name, _log_lines(i), location=GCP_REGION)
        if i % 4:  # a quarter saw no requests this week
            now = datetime.now(UTC)
            self.monitoring.seed(
                SeededSeries(
                    REQUEST_COUNT,
                    {"project_id": project, "service_name": name, "location": GCP_REGION},
                    [(now - timedelta(days=1, hours=1), now - timedelta(days=1), 100 + i)],
                    value_type="INT64",
                )
            )


# --- Kubernetes --------------------------------------------------------------------------------


class _Kubernetes:
    def __init__(self) -> None:
        from fleet.demo.emulators.kubernetes import FakeKubernetes

        self.fake = FakeKubernetes().__enter__()
        for namespace in NAMESPACES:
            self.fake.add_role(
                "config-reader",
                [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
                namespace=namespace,
            )

    def endpoints(self) -> dict:
        return {"kubernetes": self.fake.endpoint}

    def add(self, i: int) -> None:
        fake, namespace, name = self.fake, NAMESPACES[account_of(i)], resource_of(i)
        container: dict[str, Any] = {
            "name": "server",
            "image": f"ghcr.io/example/{name}:1.{i % 9}",
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "resources": {
                "requests": {"cpu": "250m", "memory": "128Mi"},
                "limits": {"cpu": "500m", "memory": "256Mi"},
            },
        }
        if i % 3:
            container["lifecycle"] = {"preStop": {"sleep": {"seconds": 5}}}
        fake.add_deployment(
            name,
            namespace=namespace,
            service_account=name,
            replicas=1 + i % 3,
            requests={"cpu": "250m", "memory": "128Mi"},
            limits={"cpu": "500m", "memory": "256Mi"},
            pod_annotations={"prometheus.io/scrape": "true"} if i % 4 else None,
            pod_spec={"terminationGracePeriodSeconds": 30, "containers": [container]},
        )
        if i % 2:
            fake.add_network_policy(
                f"{name}-from-agents",
                namespace=namespace,
                pod_selector={"app": name},
                allow_from=[{"podSelector": {"matchLabels": {"role": "agent"}}}],
            )
        if i % 6 == 0:
            fake.add_ingress(
                name,
                namespace=namespace,
                service=name,
                host=f"{name}.example.com",
                annotations={"nginx.ingress.kubernetes.io/limit-rps": "20"} if i % 12 else None,
            )
        role, kind = ("edit", "ClusterRole") if i % 10 == 0 else ("config-reader", "Role")
        fake.bind_role(
            f"{name}-role", namespace=namespace, service_account=name, role=role, role_kind=kind
        )
        fake.pod_usage[(namespace, name)] = {"cpu": f"{50 + i % 200}m", "memory": "100Mi"}
        fake.pod_logs[(namespace, name)] = [
            line if isinstance(line, str) else json.dumps(line) for line in _log_lines(i)
        ]


# --- Azure Container Apps ----------------------------------------------------------------------


class _Azure:
    """Container Apps with what Azure Resource Manager shows about them (the demo's ARM fake):
    role assignments, Azure Monitor requests and CPU/memory, built-in authentication, the
    subscription's activity-log export, volumes, console lines in each environment's Log
    Analytics workspace and a Cost Management budget per resource group, so the audit reads
    every Azure fact it would in Azure."""

    def __init__(self) -> None:
        from fleet.demo.emulators.azure_arm import FakeArm

        self.fake = FakeArm().__enter__()
        self.ca = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-arm-{os.getpid()}.pem"
        self.ca.write_bytes(self.fake.cert_pem)
        self.fake.define("index-reader", ["Microsoft.Search/searchServices/indexes/read"])
        self.fake.export_activity_log(SUBSCRIPTION, "to-ops", {"Administrative": True})
        now = datetime.now(UTC)
        self.days = [now - timedelta(days=d, hours=2) for d in range(7)]

    def endpoints(self) -> dict:
        return {"azure": self.fake.endpoint, "azure_ca": str(self.ca)}

    def add(self, i: int) -> None:
        app_id = self.fake.add_app(
            resource_of(i),
            subscription=SUBSCRIPTION,
            resource_group=GROUPS[account_of(i)],
            image=f"mcpregistry.azurecr.io/{resource_of(i)}:1.{i % 9}",
            min_replicas=i % 3,
            external=i % 3 != 0,
            env={"PORT": "8080"},
            secret_env={"API_KEY": "api-key"},
        )
        if i % 4 == 1:  # fenced by IP restrictions
            ingress = self.fake.apps[app_id.lower()]["properties"]["configuration"]["ingress"]
            ingress["ipSecurityRestrictions"] = [
                {"name": "office", "ipAddressRange": "203.0.113.0/24", "action": "Allow"}
            ]
        if i % 5:  # a fifth of the apps had no requests this week
            self.fake.add_requests(app_id, [(t, 100.0 + i % 50) for t in self.days])
            self.fake.add_usage(
                app_id,
                cpu_cores=[(t, 0.05 + 0.01 * (i % 30)) for t in self.days],
                memory_bytes=[(t, (200 + i % 300) * 1024**2) for t in self.days],
            )
        if i % 2:
            self.fake.set_auth(app_id, action="Return401")
        role = "index-reader" if i % 3 else "Contributor"
        self.fake.assign(SUBSCRIPTION, self.fake.principal_of(app_id), role)
        group = GROUPS[account_of(i)]
        workspace = f"ws-{group}"
        environment = self.fake.environment_of(app_id)
        if environment.lower() not in self.fake.app_logs:  # once per environment
            self.fake.send_logs(environment, "log-analytics", workspace)
            self.fake.add_budget(SUBSCRIPTION, f"{group}-monthly", resource_group=group)
        if i % 3 == 0:  # a third log JSON, a third plain text, a third nothing
            lines = [f'{{"level": "info", "app": "{resource_of(i)}", "n": {n}}}' for n in range(20)]
            self.fake.add_console_logs(workspace, resource_of(i), lines)
        elif i % 3 == 1:
            self.fake.add_console_logs(
                workspace, resource_of(i), [f"INFO call {n}" for n in range(20)]
            )
        if i % 6 == 0:
            self.fake.set_volumes(app_id, {"data": "AzureFile"})


# --- AWS ECS (moto server) ---------------------------------------------------------------------


class _Aws:
    def __init__(self) -> None:
        os.environ.setdefault("MOTO_ECS_SERVICE_RUNNING", "2")
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        ec2 = self.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=zone)[
                "Subnet"
            ]["SubnetId"]
            for n, zone in ((1, f"{AWS_REGION}a"), (2, f"{AWS_REGION}b"))
        ]
        self.groups = []
        for group, cidr in (("private", "10.0.0.0/16"), ("open", "0.0.0.0/0")):
            gid = ec2.create_security_group(GroupName=group, Description=group, VpcId=vpc)[
                "GroupId"
            ]
            ec2.authorize_security_group_ingress(
                GroupId=gid,
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 8080,
                        "ToPort": 8080,
                        "IpRanges": [{"CidrIp": cidr}],
                    }  # fmt: skip
                ],
            )
            self.groups.append(gid)
        elb = self.client("elbv2")
        self.balancer = elb.create_load_balancer(
            Name="mcp-internal", Subnets=self.subnets, Scheme="internal", Type="application"
        )["LoadBalancers"][0]["LoadBalancerArn"]
        self.vpc = vpc
        iam = self.client("iam")
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                 "Action": "sts:AssumeRole",
                 "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]}  # fmt: skip
        self.roles = []
        for role in ("narrow-task", "admin-task"):
            arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))[
                "Role"
            ]["Arn"]
            self.roles.append(arn)
        iam.put_role_policy(
            RoleName="narrow-task",
            PolicyName="table",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["dynamodb:GetItem"],
                            "Resource": f"arn:aws:dynamodb:{AWS_REGION}:{AWS_ACCOUNT}:table/t",
                        }
                    ],
                }
            ),  # fmt: skip
        )
        iam.put_role_policy(
            RoleName="admin-task",
            PolicyName="everything",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }
            ),  # fmt: skip
        )
        self.client("s3").create_bucket(
            Bucket="trail-logs", CreateBucketConfiguration={"LocationConstraint": AWS_REGION}
        )
        trail = self.client("cloudtrail")
        trail.create_trail(Name="org", S3BucketName="trail-logs", IsMultiRegionTrail=True)
        trail.start_logging(Name="org")
        ecs = self.client("ecs")
        for cluster in CLUSTERS:
            ecs.create_cluster(clusterName=cluster)
        self.ecs, self.logs, self.elb = ecs, self.client("logs"), elb

    def client(self, name: str) -> Any:
        import boto3

        return boto3.client(
            name,
            endpoint_url=self.url,
            region_name=AWS_REGION,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )

    def endpoints(self) -> dict:
        return {"aws": self.url}

    def add(self, i: int) -> None:
        name, cluster = resource_of(i), CLUSTERS[account_of(i)]
        group = f"/ecs/{name}"
        self.logs.create_log_group(logGroupName=group)
        stream = "ecs/server/0123456789abcdef"
        self.logs.create_log_stream(logGroupName=group, logStreamName=stream)
        now = int(time.time() * 1000)
        lines = [line if isinstance(line, str) else json.dumps(line) for line in _log_lines(i)]
        self.logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": now - 1000 + n, "message": m} for n, m in enumerate(lines)],
        )
        container: dict[str, Any] = {
            "name": "server",
            "image": f"{AWS_ACCOUNT}.dkr.ecr.{AWS_REGION}.amazonaws.com/{name}:1.{i % 9}",
            "essential": True,
            "portMappings": [{"containerPort": 8080}],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": group,
                    "awslogs-region": AWS_REGION,
                    "awslogs-stream-prefix": "ecs",
                },
            },  # fmt: skip
        }
        if i % 3:
            container["stopTimeout"] = 60
        self.ecs.register_task_definition(
            family=name,
            taskRoleArn=self.roles[1 if i % 10 == 0 else 0],
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[container],
        )
        balancers = []
        if i % 3 == 0:
            tg = self.elb.create_target_group(
                Name=name, Protocol="HTTP", Port=8080, VpcId=self.vpc, TargetType="ip"
            )["TargetGroups"][0]["TargetGroupArn"]
            balancers = [{"targetGroupArn": tg, "containerName": "server", "containerPort": 8080}]
        self.ecs.create_service(
            cluster=cluster,
            serviceName=name,
            taskDefinition=name,
            desiredCount=1 + i % 3,
            launchType="FARGATE",
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": self.subnets,
                    "securityGroups": [self.groups[i % 2]],
                    "assignPublicIp": "ENABLED" if i % 7 == 0 else "DISABLED",
                }
            },  # fmt: skip
            loadBalancers=balancers,
        )


PLATFORMS = {"gcp": _Google, "kubernetes": _Kubernetes, "azure": _Azure, "aws": _Aws}


def serve(platform: str) -> None:
    """Run one platform's fakes, answering `grow` commands on stdin until it closes."""
    import logging

    from bench.dashboard import _setup_django

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto logs every request otherwise
    os.environ.pop("BENCH_DATABASE_URL", None)  # the fakes never touch the console's database
    _setup_django()  # some fakes name the console's constants (metric types)
    world = PLATFORMS[platform]()
    print(json.dumps(world.endpoints()), flush=True)
    for line in sys.stdin:
        command, *args = line.split()
        if command != "grow":
            print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)
            continue
        start, stop = int(args[0]), int(args[1])
        mine = [i for i in range(start, stop) if platform_of(i) == platform]
        for i in mine:
            world.add(i)
        print(json.dumps({"added": len(mine)}), flush=True)


# --- the console's side ------------------------------------------------------------------------


class FakeFleet:
    """The four platform processes, the console's accounts pointing at them, and the env."""

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen] = {}
        self.endpoints: dict[str, str] = {}

    def __enter__(self) -> FakeFleet:
        root = Path(__file__).resolve().parent.parent
        for platform in PLATFORMS:
            self.procs[platform] = subprocess.Popen(
                [sys.executable, "-m", "bench.fake_clouds", platform],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=root,
            )
        for proc in self.procs.values():
            self.endpoints.update(json.loads(self._line(proc)))
        self._environ()
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs.values():
            if proc.stdin:
                proc.stdin.close()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    @staticmethod
    def _line(proc: subprocess.Popen) -> str:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            raise RuntimeError(f"a fake cloud process ended early (exit {proc.poll()})")
        return line

    def grow(self, start: int, stop: int) -> dict[str, int]:
        """Add services start..stop-1 on their platforms (all four seed in parallel)."""
        for proc in self.procs.values():
            assert proc.stdin is not None
            proc.stdin.write(f"grow {start} {stop}\n")
            proc.stdin.flush()
        return {p: json.loads(self._line(proc))["added"] for p, proc in self.procs.items()}

    def _environ(self) -> None:
        from checks.audits.readers.cloudrun import (
            LOGGING_ENDPOINT_ENV,
            RESOURCE_MANAGER_ENDPOINT_ENV,
        )
        from fleet.budgets.clients import GCP_MONITORING_ENDPOINT_ENV
        from fleet.operations.clouds.credentials import EMULATOR_CA_ENV, EMULATOR_ENV

        os.environ[EMULATOR_ENV] = "1"
        os.environ[EMULATOR_CA_ENV] = self.endpoints["azure_ca"]
        os.environ[LOGGING_ENDPOINT_ENV] = self.endpoints["logging"]
        os.environ[RESOURCE_MANAGER_ENDPOINT_ENV] = self.endpoints["crm"]
        os.environ[GCP_MONITORING_ENDPOINT_ENV] = self.endpoints["monitoring"]

    def accounts(self) -> list:
        """Two console accounts per platform, each pointing at its fake (created if missing)."""
        from fleet.models import CloudAccount

        specs = []
        for n in range(2):
            specs += [
                {"name": f"gcp-{n}", "provider": "gcp", "project": PROJECTS[n],
                 "region": GCP_REGION, "endpoint": self.endpoints["run"]},
                {"name": f"k8s-{n}", "provider": "kubernetes", "namespace": NAMESPACES[n],
                 "endpoint": self.endpoints["kubernetes"]},
                {"name": f"azure-{n}", "provider": "azure", "subscription": SUBSCRIPTION,
                 "resource_group": GROUPS[n], "endpoint": self.endpoints["azure"]},
                {"name": f"aws-{n}", "provider": "aws", "region": AWS_REGION,
                 "cluster": CLUSTERS[n], "account_id": AWS_ACCOUNT,
                 "endpoint": self.endpoints["aws"]},
            ]  # fmt: skip
        accounts = {}
        for spec in specs:
            name = spec.pop("name")
            account, _ = CloudAccount.objects.update_or_create(name=name, defaults=spec)
            accounts[name] = account
        return accounts


def account_name(i: int) -> str:
    short = {"gcp": "gcp", "kubernetes": "k8s", "azure": "azure", "aws": "aws"}[platform_of(i)]
    return f"{short}-{account_of(i)}"


if __name__ == "__main__":
    serve(sys.argv[1])
