"""ECS services: audit verdicts from the AWS APIs around the service, against moto (server mode):
the task role's IAM policies, security groups and load balancers, the container's CloudWatch
Logs, CloudTrail trails, stopTimeout/EFS volumes from the task definition, the EFS file systems'
keys, AWS/ECS CPU and memory metrics, and authentication actions on the load balancer's listeners.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import httpx
import pytest
from moto.backends import get_backend
from moto.server import ThreadedMotoServer

from checks.audits.evidence import Provenance
from checks.audits.readers import ecs_storage
from fleet.models import CloudAccount, Service
from fleet.operations.clouds.credentials import EMULATOR_ENV
from tests.fakes.aws_faults import AwsFaultProxy

# The first test also builds the module's AWS world (about half a minute on a busy 2-core machine).
pytestmark = [pytest.mark.django_db, pytest.mark.timeout(240)]
REGION = "eu-west-1"
CLUSTER = "mcp"
ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@functools.cache
def aws(name: str, url: str):
    return boto3.client(name, endpoint_url=url, region_name=REGION,
                        aws_access_key_id="seed", aws_secret_access_key="seed")  # fmt: skip


def _role(url: str, name: str) -> str:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]}  # fmt: skip
    return aws("iam", url).create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]["Arn"]


def _logs(url: str, group: str, lines: list[str]) -> None:
    logs = aws("logs", url)
    logs.create_log_group(logGroupName=group)
    stream = "ecs/server/0123456789abcdef"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    events = [{"timestamp": now - 1000 + i, "message": line} for i, line in enumerate(lines)]
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


@pytest.fixture(scope="module")
def built_world(moto_url) -> Iterator[str]:
    """The AWS world, built once for the module (its setup is the slow part: moto loads every AWS
    managed IAM policy); `world` puts back, after each test, whatever that test changed in it."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")  # AWS managed policies exist
        env.setenv("MOTO_ECS_SERVICE_RUNNING", "2")
        httpx.post(f"{moto_url}/moto-api/reset", timeout=120).raise_for_status()
        _build(moto_url)
        yield moto_url


@pytest.fixture
def world(built_world, monkeypatch) -> Iterator[str]:
    monkeypatch.setenv(EMULATOR_ENV, "1")
    yield built_world
    _restore(built_world)


def _restore(url: str) -> None:
    """Undo what the tests change: WAF web ACLs and rule groups, CloudWatch metrics, extra inline
    policies, registered targets and a stopped trail. Services no part of the world uses are
    reset inside moto (it runs in this process); the rest is put back through the APIs."""
    for service in ("wafv2", "cloudwatch"):
        for account_backend in get_backend(service).values():
            account_backend.reset()
    iam = aws("iam", url)
    for role, kept in (("notes-task", {"table"}), ("files-task", set())):
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            if name not in kept:
                iam.delete_role_policy(RoleName=role, PolicyName=name)
    elb = aws("elbv2", url)
    [lb] = elb.describe_load_balancers(Names=["notes-internal"])["LoadBalancers"]
    [group] = elb.describe_target_groups(Names=["notes"])["TargetGroups"]
    forward = [{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}]
    for listener in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
        if listener["Port"] == 80:
            elb.modify_listener(ListenerArn=listener["ListenerArn"], DefaultActions=forward)
        else:
            elb.delete_listener(ListenerArn=listener["ListenerArn"])
    ecs = aws("ecs", url)
    if not ecs.describe_services(cluster=CLUSTER, services=["files"])["services"][0][
        "taskDefinition"
    ].endswith("/files:1"):
        ecs.update_service(cluster=CLUSTER, service="files", taskDefinition="files:1")
    targets = elb.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
    registered = [{"Id": t["Target"]["Id"]} for t in targets["TargetHealthDescriptions"]]
    if registered:
        elb.deregister_targets(TargetGroupArn=group["TargetGroupArn"], Targets=registered)
    aws("cloudtrail", url).start_logging(Name="org")


def _build(moto_url: str) -> None:
    ec2 = aws("ec2", moto_url)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    private = ec2.create_security_group(GroupName="notes", Description="vpc only", VpcId=vpc)
    ec2.authorize_security_group_ingress(GroupId=private["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
         "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}])  # fmt: skip
    open_ = ec2.create_security_group(GroupName="files", Description="anyone", VpcId=vpc)
    ec2.authorize_security_group_ingress(GroupId=open_["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])  # fmt: skip
    elb = aws("elbv2", moto_url)
    lb = elb.create_load_balancer(Name="notes-internal", Subnets=subnets, Scheme="internal",
                                  Type="application")["LoadBalancers"][0]  # fmt: skip
    tg = elb.create_target_group(Name="notes", Protocol="HTTP", Port=8080, VpcId=vpc,
                                 TargetType="ip")["TargetGroups"][0]  # fmt: skip
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])  # fmt: skip
    iam = aws("iam", moto_url)
    notes_role = _role(moto_url, "notes-task")
    iam.put_role_policy(RoleName="notes-task", PolicyName="table", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["dynamodb:GetItem"],
        "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/notes"}]}))  # fmt: skip
    files_role = _role(moto_url, "files-task")
    iam.attach_role_policy(RoleName="files-task",
                           PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")  # fmt: skip
    _logs(moto_url, "/ecs/notes", [json.dumps({"level": "info", "tool": "add"})] * 20)
    _logs(moto_url, "/ecs/files", ["listing /srv", "done"] * 10)
    aws("s3", moto_url).create_bucket(
        Bucket="trail-logs", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    trail = aws("cloudtrail", moto_url)
    trail.create_trail(Name="org", S3BucketName="trail-logs", IsMultiRegionTrail=True)
    trail.start_logging(Name="org")
    # The files service mounts an EFS file system encrypted with a customer-managed key.
    key = aws("kms", moto_url).create_key(Description="files")["KeyMetadata"]["Arn"]
    files_fs = aws("efs", moto_url).create_file_system(
        CreationToken="files", Encrypted=True, KmsKeyId=key
    )["FileSystemId"]
    ecs = aws("ecs", moto_url)
    ecs.create_cluster(clusterName=CLUSTER)
    for name, role, group, public, extra in (
        ("notes", notes_role, private["GroupId"], "DISABLED", {"stopTimeout": 60}),
        ("files", files_role, open_["GroupId"], "ENABLED", {}),
    ):
        ecs.register_task_definition(
            family=name, taskRoleArn=role, networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            volumes=[{"name": "data", "efsVolumeConfiguration": {"fileSystemId": files_fs}}]
            if name == "files" else [],
            containerDefinitions=[{
                "name": "server", "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}:1",
                "essential": True, "portMappings": [{"containerPort": 8080}],
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": f"/ecs/{name}", "awslogs-region": REGION,
                    "awslogs-stream-prefix": "ecs"}},
                **extra,
            }],
        )  # fmt: skip
        ecs.create_service(
            cluster=CLUSTER, serviceName=name, taskDefinition=name, desiredCount=2,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {
                "subnets": subnets, "securityGroups": [group], "assignPublicIp": public}},
            loadBalancers=[{"targetGroupArn": tg["TargetGroupArn"], "containerName": "server",
                            "containerPort": 8080}] if name == "notes" else [],
        )  # fmt: skip


@pytest.fixture
def services(world) -> dict[str, Service]:
    account = CloudAccount.objects.create(
        name="aws", provider="aws", region=REGION, cluster=CLUSTER, account_id=ACCOUNT,
        endpoint=world,
    )  # fmt: skip
    return {
        name: Service.objects.create(
            name=name,
            url=f"https://{name}.example.com/mcp",
            account=account,
            resource=name,
            environment="production",
        )  # fmt: skip
        for name in ("notes", "files")
    }


def verdicts(run, service: str) -> dict:
    return {r.rule_id: r for r in run.results.filter(service_name=service)}


def test_ecs_rules_decide_from_aws_apis(services, run_audit, viewer_client):
    run = run_audit()
    notes, files = verdicts(run, "notes"), verdicts(run, "files")

    shutdown = notes["reliability.graceful-shutdown"]
    assert shutdown.status == "pass" and "stopTimeout 60 s" in str(shutdown.evidence)
    assert files["reliability.graceful-shutdown"].status == "warning"  # nothing drains it first
    iam = files["security.least-privilege-review"]
    assert iam.status == "fail" and "AdministratorAccess" in str(iam.evidence)
    assert notes["security.least-privilege-review"].status == "pass"
    network = files["security.network-restricted"]
    assert network.status == "fail" and "0.0.0.0/0" in network.message
    assert notes["security.network-restricted"].status == "pass"
    assert "notes-internal (internal)" in str(notes["security.network-restricted"].evidence)
    assert notes["observability.structured-logging"].status == "pass"
    assert files["observability.structured-logging"].status == "fail"
    audit = notes["compliance.audit-logging"]
    assert audit.status == "pass" and "logging trail(s): org" in str(audit.evidence)
    assert files["reliability.backup-restore"].status == "needs_attestation"
    assert notes["reliability.backup-restore"].status == "not_applicable"
    # What ECS cannot show is said, with why.
    auth = files["security.platform-auth"]
    assert auth.status == "no_evidence" and "no load balancer in front: ECS" in auth.message
    open_ = notes["security.platform-auth"]  # an ALB forwarding without an authenticate action
    assert open_.status == "warning"
    assert "no authentication action on the load balancer in front (notes-internal HTTP:80" in (
        str(open_.evidence)
    )
    encrypted = files["compliance.encryption-at-rest"]
    assert encrypted.status == "pass" and "customer-managed key arn:aws:kms:" in encrypted.message
    assert notes["compliance.encryption-at-rest"].status == "not_applicable"  # no EFS volume
    # No AWS/ECS metric points yet: no evidence, with why.
    unsized = notes["cost.right-sizing"]
    assert unsized.status == "needs_attestation"  # the rule is attestable
    assert "no AWS/ECS CPUUtilization or MemoryUtilization points for mcp/notes" in (
        unsized.message
    )
    assert notes["observability.metrics"].status == "needs_attestation"
    assert "CloudWatch has no AWS/ECS" in notes["performance.resource-limits"].message
    page = viewer_client.get(f"/audits/runs/{run.pk}/?service=files").content.decode()
    assert "set the container&#x27;s stopTimeout above the slowest call" in page


def test_the_load_balancer_route_must_reach_healthy_tasks(world, services, run_audit):
    elb = aws("elbv2", world)
    [group] = elb.describe_target_groups(Names=["notes"])["TargetGroups"]

    unhealthy = verdicts(run_audit(), "notes")["infrastructure.ingress-configured"]
    assert unhealthy.status == "fail" and "no healthy target" in unhealthy.message

    elb.register_targets(TargetGroupArn=group["TargetGroupArn"],
                         Targets=[{"Id": "10.0.1.10"}, {"Id": "10.0.2.10"}])  # fmt: skip
    healthy = verdicts(run_audit(), "notes")["infrastructure.ingress-configured"]
    assert healthy.status == "pass"
    assert "notes-internal (internal) HTTP:80 → notes" in str(healthy.evidence)


def test_no_logging_trail_fails_audit_logging(world, services, run_audit):
    aws("cloudtrail", world).stop_logging(Name="org")

    result = verdicts(run_audit(), "notes")["compliance.audit-logging"]

    assert result.status == "fail" and "none logging" in str(result.evidence)


def test_a_wildcard_inline_policy_is_broad(world, services, run_audit):
    aws("iam", world).put_role_policy(RoleName="notes-task", PolicyName="lazy", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*",
        "Resource": "*"}]}))  # fmt: skip

    result = verdicts(run_audit(), "notes")["security.least-privilege-review"]

    assert result.status == "fail" and "s3:* on every resource" in str(result.evidence)


def _seen(name: str) -> dict:
    return {"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False, "MetricName": name}


def _web_acl(world: str, name: str, rules: list[dict]) -> dict:
    return aws("wafv2", world).create_web_acl(
        Name=name, Scope="REGIONAL", DefaultAction={"Allow": {}}, VisibilityConfig=_seen(name),
        Rules=rules,
    )["Summary"]  # fmt: skip


def _balancer_arn(world: str) -> str:
    [lb] = aws("elbv2", world).describe_load_balancers(Names=["notes-internal"])["LoadBalancers"]
    return lb["LoadBalancerArn"]


def test_a_rate_based_waf_rule_on_the_load_balancer_passes_rate_limiting(
    world, services, run_audit
):
    acl = _web_acl(world, "edge", [
        {"Name": "per-ip", "Priority": 0, "Action": {"Block": {}},
         "VisibilityConfig": _seen("per-ip"),
         "Statement": {"RateBasedStatement": {"Limit": 500, "AggregateKeyType": "IP"}}}])  # fmt: skip

    run = run_audit()
    unprotected = verdicts(run, "notes")["security.rate-limiting"]
    assert unprotected.status == "fail"
    assert "no AWS WAF web ACL on notes-internal" in str(unprotected.evidence)
    no_balancer = verdicts(run, "files")["security.rate-limiting"]
    assert no_balancer.status not in {"pass", "fail"}  # no evidence: nothing AWS can show
    assert "no load balancer in front" in no_balancer.message

    aws("wafv2", world).associate_web_acl(WebACLArn=acl["ARN"], ResourceArn=_balancer_arn(world))
    limited = verdicts(run_audit(), "notes")["security.rate-limiting"]
    assert limited.status == "pass"
    assert "rule per-ip allows 500 requests per 300 s per IP" in str(limited.evidence)


def test_a_web_acl_without_a_rate_based_rule_fails_rate_limiting(world, services, run_audit):
    acl = _web_acl(world, "open", [])
    aws("wafv2", world).associate_web_acl(WebACLArn=acl["ARN"], ResourceArn=_balancer_arn(world))

    bare = verdicts(run_audit(), "notes")["security.rate-limiting"]

    assert bare.status == "fail" and "web ACL open on notes-internal has no rate-based rule" in str(
        bare.evidence
    )


def test_unused_resources_read_the_load_balancer_request_count(world, services, run_audit):
    elb = aws("elbv2", world)
    [lb] = elb.describe_load_balancers(Names=["notes-internal"])["LoadBalancers"]
    [tg] = elb.describe_target_groups(Names=["notes"])["TargetGroups"]

    idle = verdicts(run_audit(), "notes")["cost.unused-resources"]
    assert idle.status == "warning" and "No traffic in 7 days" in idle.message
    assert "RequestCount" in str(idle.evidence)
    no_balancer = verdicts(run_audit(), "files")["cost.unused-resources"]
    assert no_balancer.status == "no_evidence" and "ECS itself counts no requests" in (
        no_balancer.message
    )

    # The ALB publishes RequestCount per TargetGroup and LoadBalancer (ARN suffixes).
    dims = [
        {"Name": "TargetGroup", "Value": tg["TargetGroupArn"].split(":")[-1]},
        {"Name": "LoadBalancer", "Value": lb["LoadBalancerArn"].split(":loadbalancer/")[-1]},
    ]
    aws("cloudwatch", world).put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[
        {"MetricName": "RequestCount", "Dimensions": dims, "Value": value, "Unit": "Count",
         "Timestamp": datetime.now(UTC) - timedelta(days=days)}
        for value, days in ((30, 1), (12, 3), (999, 9))  # the last is outside the window
    ])  # fmt: skip
    busy = verdicts(run_audit(), "notes")["cost.unused-resources"]
    assert busy.status == "pass" and "42 requests" in busy.message


def test_an_unreadable_web_acl_is_no_evidence_with_the_reason(world, services, run_audit):
    with AwsFaultProxy(world) as proxy:
        CloudAccount.objects.filter(name="aws").update(endpoint=proxy.endpoint)
        proxy.fail_action("wafv2:GetWebACLForResource", 403, count=10)

        results = verdicts(run_audit(), "notes")

    rate = results["security.rate-limiting"]
    assert rate.status not in {"pass", "fail"}  # never a guess
    assert "AccessDeniedException" in rate.message and "wafv2:GetWebACLForResource" in rate.message
    assert results["security.network-restricted"].status == "pass"  # other reads unaffected


def test_an_unreadable_request_count_is_no_evidence_with_the_reason(world, services, run_audit):
    with AwsFaultProxy(world) as proxy:
        CloudAccount.objects.filter(name="aws").update(endpoint=proxy.endpoint)
        proxy.fail_action("cloudwatch:GetMetricData", 403, count=10)

        result = verdicts(run_audit(), "notes")["cost.unused-resources"]

    assert result.status == "no_evidence"
    assert "permission cloudwatch:GetMetricData missing (AccessDeniedException" in result.message


def _rule_group(world: str, name: str, rules: list[dict]) -> str:
    return aws("wafv2", world).create_rule_group(
        Name=name, Scope="REGIONAL", Capacity=100, VisibilityConfig=_seen(name), Rules=rules,
    )["Summary"]["ARN"]  # fmt: skip


def _rate_rule(name: str, limit: int, action: str = "Block") -> dict:
    return {"Name": name, "Priority": 0, "Action": {action: {}}, "VisibilityConfig": _seen(name),
            "Statement": {"RateBasedStatement": {"Limit": limit, "AggregateKeyType": "IP",
                                                 "EvaluationWindowSec": 60}}}  # fmt: skip


def _referencing(arn: str, override: str = "None", **reference) -> dict:
    return {"Name": "shared-limits", "Priority": 1, "OverrideAction": {override: {}},
            "VisibilityConfig": _seen("shared-limits"),
            "Statement": {"RuleGroupReferenceStatement": {"ARN": arn, **reference}}}  # fmt: skip


def test_rate_based_rules_inside_referenced_rule_groups_are_followed(world, services, run_audit):
    """One world for three cases (its setup is the slow part): a blocking rate rule in a rule
    group passes; the same group referenced with OverrideAction Count limits nothing; a refused
    GetRuleGroup names the missing permission."""
    group = _rule_group(world, "limits", [_rate_rule("burst", 200)])
    edge = _web_acl(world, "edge", [_referencing(group)])
    waf = aws("wafv2", world)
    waf.associate_web_acl(WebACLArn=edge["ARN"], ResourceArn=_balancer_arn(world))

    limited = verdicts(run_audit(), "notes")["security.rate-limiting"]
    assert limited.status == "pass"
    assert "rule group limits rule burst allows 200 requests per 60 s per IP" in str(
        limited.evidence
    )

    # OverrideAction Count turns every rule of the group into Count.
    counting = _web_acl(world, "counting", [_referencing(group, override="Count")])
    waf.disassociate_web_acl(ResourceArn=_balancer_arn(world))
    waf.associate_web_acl(WebACLArn=counting["ARN"], ResourceArn=_balancer_arn(world))
    counted = verdicts(run_audit(), "notes")["security.rate-limiting"]
    assert counted.status == "fail"
    assert "but only counts (Count)" in str(counted.evidence)

    with AwsFaultProxy(world) as proxy:
        CloudAccount.objects.filter(name="aws").update(endpoint=proxy.endpoint)
        proxy.fail_action("wafv2:GetRuleGroup", 403, count=10)
        refused = verdicts(run_audit(), "notes")["security.rate-limiting"]
    assert refused.status not in {"pass", "fail"}  # never a guess
    assert "permission wafv2:GetRuleGroup missing (AccessDeniedException" in refused.message


def _utilization(world: str, service: str, cpu: float, memory: float) -> None:
    """AWS/ECS service metrics as ECS publishes them (percent of the task's reservation), with a
    higher point 9 days ago that the 7-day window must leave out."""
    dims = [{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": service}]
    now = datetime.now(UTC)
    aws("cloudwatch", world).put_metric_data(Namespace="AWS/ECS", MetricData=[
        {"MetricName": metric, "Dimensions": dims, "Value": value, "Unit": "Percent",
         "Timestamp": now - timedelta(hours=hours)}
        for metric, peak in (("CPUUtilization", cpu), ("MemoryUtilization", memory))
        for value, hours in ((peak / 2, 2), (peak, 30), (99.0, 9 * 24))
    ])  # fmt: skip


def test_cpu_and_memory_use_against_the_task_reservation(world, services, run_audit):
    _utilization(world, "notes", cpu=12.0, memory=15.0)  # 256 CPU units, 512 MiB reserved
    _utilization(world, "files", cpu=70.0, memory=60.0)

    run = run_audit()
    notes, files = verdicts(run, "notes"), verdicts(run, "files")

    idle = notes["cost.right-sizing"]
    assert idle.status == "warning" and "under 20%" in idle.message
    assert "cpu 0.03 of 0.25 vCPU (12%); memory 77Mi of 512Mi (15%)" in str(idle.evidence)
    assert files["cost.right-sizing"].status == "pass"
    limits = files["performance.resource-limits"]
    assert limits.status == "pass" and "memory 307Mi of 512Mi (60%)" in str(limits.evidence)
    metrics = notes["observability.metrics"]
    assert metrics.status == "pass"
    assert "AWS/ECS CPUUtilization, MemoryUtilization" in str(metrics.evidence)


OIDC = {
    "Issuer": "https://login.example.com",
    "AuthorizationEndpoint": "https://login.example.com/authorize",
    "TokenEndpoint": "https://login.example.com/token",
    "UserInfoEndpoint": "https://login.example.com/userinfo",
    "ClientId": "notes",
    "ClientSecret": "not-a-secret",
}


def test_an_oidc_action_on_the_listener_is_platform_auth(world, services, run_audit):
    elb = aws("elbv2", world)
    [tg] = elb.describe_target_groups(Names=["notes"])["TargetGroups"]
    certificate = aws("acm", world).request_certificate(DomainName="notes.example.com")
    # ALBs authenticate on HTTPS listeners only; the rule's actions run by Order.
    https = elb.create_listener(
        LoadBalancerArn=_balancer_arn(world), Protocol="HTTPS", Port=443,
        Certificates=[{"CertificateArn": certificate["CertificateArn"]}],
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
    )["Listeners"][0]  # fmt: skip
    elb.create_rule(
        ListenerArn=https["ListenerArn"], Priority=10,
        Conditions=[{"Field": "path-pattern", "Values": ["/mcp*"]}],
        Actions=[{"Type": "forward", "Order": 2, "TargetGroupArn": tg["TargetGroupArn"]},
                 {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": OIDC}],
    )  # fmt: skip

    # HTTP:80 still forwards without checking: the platform admits callers there.
    mixed = verdicts(run_audit(), "notes")["security.platform-auth"]
    assert mixed.status == "warning" and "notes-internal HTTP:80 default action" in str(
        mixed.evidence
    )

    [http] = [
        li
        for li in elb.describe_listeners(LoadBalancerArn=_balancer_arn(world))["Listeners"]
        if li["Port"] == 80
    ]
    elb.modify_listener(ListenerArn=http["ListenerArn"], DefaultActions=[
        {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443",
                                                "StatusCode": "HTTP_301"}}])  # fmt: skip
    checked = verdicts(run_audit(), "notes")["security.platform-auth"]
    assert checked.status == "pass"
    assert (
        "notes-internal HTTPS:443 rule 10 → notes: authenticate-oidc (issuer "
        "https://login.example.com)" in checked.message
    )
    assert "not-a-secret" not in str(checked.evidence)


def test_efs_keys_decide_encryption_at_rest(world, services, run_audit):
    """The world's files service has a customer-managed key (test_ecs_rules_decide_from_aws_apis);
    here a revision mounts one file system with the default key and one unencrypted. moto leaves
    KmsKeyId out when none was given (AWS names the aws/elasticfilesystem key, which KMS
    DescribeKey reports as KeyManager AWS) and cannot create AWS-managed keys, so the default key
    is modelled by its absence."""
    efs, ecs = aws("efs", world), aws("ecs", world)
    default = efs.create_file_system(CreationToken="cache", Encrypted=True)["FileSystemId"]
    plain = efs.create_file_system(CreationToken="scratch")["FileSystemId"]
    described = ecs.describe_task_definition(taskDefinition="files:1")["taskDefinition"]
    keep = ("family", "taskRoleArn", "networkMode", "requiresCompatibilities", "cpu", "memory",
            "containerDefinitions")  # fmt: skip

    def mount(*ids: str) -> None:
        volumes = [{"name": f"v{n}", "efsVolumeConfiguration": {"fileSystemId": fs}}
                   for n, fs in enumerate(ids)]  # fmt: skip
        arn = ecs.register_task_definition(**{k: described[k] for k in keep}, volumes=volumes)[
            "taskDefinition"
        ]["taskDefinitionArn"]
        ecs.update_service(cluster=CLUSTER, service="files", taskDefinition=arn)

    mount(default, plain)
    unencrypted = verdicts(run_audit(), "files")["compliance.encryption-at-rest"]
    assert unencrypted.status == "fail" and f"{plain} is not encrypted at rest" in (
        unencrypted.message
    )
    assert f"EFS {default} encrypted with the AWS-managed key" in str(unencrypted.evidence)

    mount(default)
    managed = verdicts(run_audit(), "files")["compliance.encryption-at-rest"]
    assert managed.status == "pass" and "AWS-managed keys" in managed.message

    # Without kms:DescribeKey the key's owner is unknown, but an unencrypted store still fails.
    [customer] = [v["efsVolumeConfiguration"]["fileSystemId"] for v in described["volumes"]]
    mount(customer, plain)
    with AwsFaultProxy(world) as proxy:
        CloudAccount.objects.filter(name="aws").update(endpoint=proxy.endpoint)
        proxy.fail_action("kms:DescribeKey", 403, count=10)
        refused = verdicts(run_audit(), "files")["compliance.encryption-at-rest"]
    assert refused.status == "fail" and f"{plain} is not encrypted at rest" in refused.message
    assert "permission kms:DescribeKey missing" in str(refused.evidence)


def test_an_unread_key_owner_leaves_encryption_open():
    """Encrypted with a key whose owner KMS did not tell: neither pass nor fail, with why."""
    volume = {"FileSystemId": "fs-1", "Encrypted": True, "KmsKeyId": "arn:aws:kms:k"}

    answer = ecs_storage.encryption(
        [volume], lambda key: "permission kms:DescribeKey missing", Provenance("EFS")
    )

    assert answer == (
        "who manages the key arn:aws:kms:k of EFS fs-1 was not read "
        "(permission kms:DescribeKey missing)"
    )


def test_refused_reads_name_the_permission(world, services, run_audit):
    with AwsFaultProxy(world) as proxy:
        CloudAccount.objects.filter(name="aws").update(endpoint=proxy.endpoint)
        for action in ("cloudwatch:GetMetricData", "elasticloadbalancing:DescribeRules",
                       "elasticfilesystem:DescribeFileSystems"):  # fmt: skip
            proxy.fail_action(action, 403, count=10)

        run = run_audit()
    notes, files = verdicts(run, "notes"), verdicts(run, "files")

    for result, action in (
        (notes["cost.right-sizing"], "cloudwatch:GetMetricData"),
        (notes["security.platform-auth"], "elasticloadbalancing:DescribeRules"),
    ):
        assert result.status not in {"pass", "fail", "warning"}  # never a guess
        assert f"permission {action} missing" in result.message
    assert notes["observability.metrics"].status == "needs_attestation"
    encryption = files["compliance.encryption-at-rest"]
    assert encryption.status not in {"pass", "fail"}  # never a guess
    assert "permission elasticfilesystem:DescribeFileSystems missing" in encryption.message
