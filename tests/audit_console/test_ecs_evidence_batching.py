"""An ECS fleet's audit reads shared things once and batches the rest: calls counted at a proxy in
front of moto (server mode), verdicts compared with auditing each service alone.

24 services share 3 task definitions (and so 3 log groups and 2 task roles), 2 security groups
and one application load balancer; 12 of them have a target group of their own behind it.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from checks.audits.evidence import NETWORK
from checks.audits.gather import gather
from checks.audits.models import AuditPolicy
from fleet.models import CloudAccount, Service
from fleet.operations.clouds.credentials import EMULATOR_ENV
from tests.fakes.aws_faults import AwsFaultProxy

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(240)]
REGION = "eu-west-1"
CLUSTER = "mcp"
ACCOUNT = "123456789012"
SERVICES = 24
FAMILIES = ("notes", "files", "search")
BALANCED = range(0, SERVICES, 2)  # every other service has a target group of its own


def _client(url: str, name: str):
    return boto3.client(name, endpoint_url=url, region_name=REGION,
                        aws_access_key_id="seed", aws_secret_access_key="seed")  # fmt: skip


@pytest.fixture(scope="module")
def world() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto keeps one state per process, whichever server serves it: start from a clean one.
    httpx.post(f"{url}/moto-api/reset", timeout=120).raise_for_status()
    _build(url)
    yield url
    server.stop()


def _build(url: str) -> None:
    ec2 = _client(url, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    groups = []
    for name, cidr in (("private", "10.0.0.0/16"), ("open", "0.0.0.0/0")):
        gid = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
             "IpRanges": [{"CidrIp": cidr}]}])  # fmt: skip
        groups.append(gid)
    iam = _client(url, "iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]})  # fmt: skip
    roles = []
    for role, action in (("narrow-task", "dynamodb:GetItem"), ("admin-task", "*")):
        roles.append(iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)["Role"]["Arn"])
        iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}))  # fmt: skip
    logs, ecs = _client(url, "logs"), _client(url, "ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    now = int(time.time() * 1000)
    for n, family in enumerate(FAMILIES):
        group, stream = f"/ecs/{family}", "ecs/server/0123456789abcdef"
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        lines = (
            ["plain text"] * 10 if family == "files" else [json.dumps({"n": i}) for i in range(10)]
        )
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
            {"timestamp": now - 1000 + i, "message": m} for i, m in enumerate(lines)])  # fmt: skip
        ecs.register_task_definition(
            family=family, taskRoleArn=roles[n == 1], networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[{
                "name": "server", "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{family}:1",
                "essential": True, "portMappings": [{"containerPort": 8080}],
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": group, "awslogs-region": REGION,
                    "awslogs-stream-prefix": "ecs"}}}],
        )  # fmt: skip
    elb = _client(url, "elbv2")
    lb = elb.create_load_balancer(Name="mcp-internal", Subnets=subnets, Scheme="internal",
                                  Type="application")["LoadBalancers"][0]  # fmt: skip
    targets = {
        i: elb.create_target_group(
            Name=f"svc-{i:02d}", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip"
        )["TargetGroups"][0]  # fmt: skip
        for i in BALANCED
    }
    first = targets[BALANCED[0]]["TargetGroupArn"]
    listener = elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": first}],
    )["Listeners"][0]  # fmt: skip
    for priority, (i, tg) in enumerate(list(targets.items())[1:], start=1):
        elb.create_rule(
            ListenerArn=listener["ListenerArn"], Priority=priority,
            Conditions=[{"Field": "path-pattern", "Values": [f"/svc-{i:02d}/*"]}],
            Actions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
        )  # fmt: skip
    elb.register_targets(TargetGroupArn=first, Targets=[{"Id": "10.0.1.10"}])
    dims = [
        {"Name": "TargetGroup", "Value": first.split(":")[-1]},
        {"Name": "LoadBalancer", "Value": lb["LoadBalancerArn"].split(":loadbalancer/")[-1]},
    ]
    _client(url, "cloudwatch").put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[
        {"MetricName": "RequestCount", "Dimensions": dims, "Value": 42, "Unit": "Count",
         "Timestamp": datetime.now(UTC) - timedelta(days=1)}])  # fmt: skip
    for i in range(SERVICES):
        balancers = (
            [{"targetGroupArn": targets[i]["TargetGroupArn"], "containerName": "server",
              "containerPort": 8080}] if i in targets else []
        )  # fmt: skip
        ecs.create_service(
            cluster=CLUSTER, serviceName=f"svc-{i:02d}", taskDefinition=FAMILIES[i % 3],
            desiredCount=1, launchType="FARGATE", loadBalancers=balancers,
            networkConfiguration={"awsvpcConfiguration": {
                "subnets": subnets, "securityGroups": [groups[i % 4 == 3]],
                "assignPublicIp": "DISABLED"}},
        )  # fmt: skip


@pytest.fixture
def proxy(world, monkeypatch) -> Iterator[AwsFaultProxy]:
    monkeypatch.setenv(EMULATOR_ENV, "1")
    with AwsFaultProxy(world) as server:
        account = CloudAccount.objects.create(
            name="aws", provider="aws", region=REGION, cluster=CLUSTER, account_id=ACCOUNT,
            endpoint=server.endpoint,
        )  # fmt: skip
        for i in range(SERVICES):
            Service.objects.create(
                name=f"svc-{i:02d}", url=f"https://svc-{i:02d}.example.com/mcp",
                account=account, resource=f"svc-{i:02d}", environment="production",
            )  # fmt: skip
        yield server


def _calls(proxy: AwsFaultProxy) -> Counter:
    """service:Operation of each request the console made (JSON protocols name it in
    X-Amz-Target, query protocols in the form's Action; the service is the signing scope)."""
    counted: Counter = Counter()
    for request in proxy.requests:
        scope = request.headers.get("authorization", "").split("Credential=")[-1].split("/")
        service = scope[3] if len(scope) > 3 else "?"
        target = request.headers.get("x-amz-target", "")
        if target:
            operation = target.rsplit(".", 1)[-1]
        else:
            body = request.raw_body.decode() if request.raw_body else ""
            operation = (parse_qs(body).get("Action") or ["?"])[0]
        counted[f"{service}:{operation}"] += 1
    return counted


def _verdicts(run, name: str) -> dict[str, tuple[str, str]]:
    return {r.rule_id: (r.status, r.message) for r in run.results.filter(service_name=name)}


def test_a_fleet_audit_reads_shared_things_once_and_batches_the_rest(proxy, run_audit):
    run = run_audit()

    calls = _calls(proxy)
    assert calls["ecs:DescribeServices"] == 3  # ten services a call
    assert calls["ecs:DescribeTaskDefinition"] == len(FAMILIES)  # once per revision
    assert calls["ec2:DescribeSecurityGroups"] == 1  # both groups in one call
    assert calls["elasticloadbalancing:DescribeTargetGroups"] == 1  # 12 target groups, one call
    assert calls["elasticloadbalancing:DescribeLoadBalancers"] == 1
    assert calls["elasticloadbalancing:DescribeListeners"] == 1  # once per load balancer
    assert calls["elasticloadbalancing:DescribeRules"] == 1  # once per listener
    assert calls["elasticloadbalancing:DescribeTargetHealth"] == len(BALANCED)  # one each
    # All 12 request counts in one call, the 24 services' CPU and memory (48 queries) in another.
    assert calls["monitoring:GetMetricData"] == 2
    assert calls["wafv2:GetWebACLForResource"] == 1  # once per load balancer
    assert calls["logs:FilterLogEvents"] == len(FAMILIES)  # once per log group
    assert calls["iam:ListRolePolicies"] == 2 and calls["iam:GetRolePolicy"] == 2  # per role
    assert calls["cloudtrail:DescribeTrails"] == 1  # once per account
    assert calls["budgets:DescribeBudgets"] == 1  # once per account
    assert run.results.filter(status="error").count() == 0

    busy, open_, idle = _verdicts(run, "svc-00"), _verdicts(run, "svc-03"), _verdicts(run, "svc-02")
    assert (
        busy["cost.unused-resources"][0] == "pass"
        and "42 requests" in busy["cost.unused-resources"][1]
    )
    assert idle["cost.unused-resources"][0] == "warning"
    assert busy["infrastructure.ingress-configured"][0] == "pass"
    assert idle["infrastructure.ingress-configured"][0] == "fail"  # no healthy target
    assert open_["security.network-restricted"][0] == "fail"
    assert _verdicts(run, "svc-01")["security.least-privilege-review"][0] == "fail"  # admin role
    assert busy["security.least-privilege-review"][0] == "pass"
    assert _verdicts(run, "svc-01")["observability.structured-logging"][0] == "fail"
    assert busy["observability.structured-logging"][0] == "pass"

    # Each service audited alone (no batch, no sharing) gets the same verdicts; dedicated
    # identity compares with the rest of the fleet, which a one-service audit does not describe.
    for name in ("svc-00", "svc-01", "svc-02", "svc-03"):
        alone = _verdicts(run_audit(service=Service.objects.get(name=name)), name)
        in_fleet = _verdicts(run, name)
        assert alone.pop("security.dedicated-identity")[0] == "pass"
        assert in_fleet.pop("security.dedicated-identity")[0] == "fail"  # a shared task role
        assert alone == in_fleet, name


def test_a_missing_security_group_leaves_only_its_services_without_the_fact(world, proxy):
    """DescribeSecurityGroups refuses a whole batch naming a group that is gone; the console
    then reads the batch's groups one at a time, so the other services keep their verdicts."""
    ec2, ecs = _client(world, "ec2"), _client(world, "ecs")
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])["Vpcs"]
    gone = ec2.create_security_group(GroupName="gone", Description="gone", VpcId=vpc["VpcId"])
    network = ecs.describe_services(cluster=CLUSTER, services=["svc-00"])["services"][0][
        "networkConfiguration"
    ]
    network["awsvpcConfiguration"]["securityGroups"] = [gone["GroupId"]]
    ecs.create_service(cluster=CLUSTER, serviceName="svc-gone", taskDefinition="notes",
                       desiredCount=1, launchType="FARGATE", networkConfiguration=network)  # fmt: skip
    ec2.delete_security_group(GroupId=gone["GroupId"])
    Service.objects.create(name="svc-gone", url="https://svc-gone.example.com/mcp",
                           account=CloudAccount.objects.get(name="aws"), resource="svc-gone")  # fmt: skip

    services = list(Service.objects.select_related("account"))
    found = gather(services, AuditPolicy.current(), set(), reads=[NETWORK])

    assert "InvalidGroup.NotFound" in found["svc-gone"].unobserved[NETWORK]
    assert found["svc-00"].observations[NETWORK].value["open_policies"] == []
    assert found["svc-03"].observations[NETWORK].value["open_policies"]  # admits 0.0.0.0/0
    assert _calls(proxy)["ec2:DescribeSecurityGroups"] == 1 + 3  # the batch, then one each
