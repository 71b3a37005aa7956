"""Audit evidence for ECS services, from the description and the AWS APIs around the service.

- The description already read for the run (DescribeServices + DescribeTaskDefinition): the
  essential container's `stopTimeout`, load balancers, EFS volumes and datastore settings.
- IAM (ListAttachedRolePolicies, GetPolicy/GetPolicyVersion, ListRolePolicies/GetRolePolicy): the
  task role's policies, flagged when broad (AdministratorAccess/PowerUserAccess, `*` actions).
- EC2 DescribeSecurityGroups and ELBv2 DescribeTargetGroups/DescribeLoadBalancers: who can
  connect (0.0.0.0/0 rules, public IPs, internet-facing load balancers).
- CloudWatch Logs FilterLogEvents on the container's awslogs group: its recent log lines.
- CloudTrail DescribeTrails/GetTrailStatus (once per account): whether a trail is logging.

Every client comes from the account's boto3 chain and `endpoint` override (moto in tests).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from botocore.config import Config

from checks.audits.evidence import (
    AUDIT_LOGS,
    ENCRYPTION,
    IDENTITY_GRANTS,
    NETWORK,
    REACHABILITY,
    SHUTDOWN,
    STATEFUL,
    STRUCTURED_LOGS,
    Observation,
    Provenance,
)
from checks.audits.gather import ReadContext
from checks.audits.readers import OncePerRun
from checks.audits.readers.kubernetes import DATASTORE_ENV, JSON_SHARE
from fleet.operations.clouds.credentials import aws_session

# ContainerDefinition.stopTimeout: "If this parameter is not specified, the default value of 30
# seconds is used" (Fargate). https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html
DEFAULT_STOP_TIMEOUT_S = 30
BROAD_MANAGED = {"AdministratorAccess", "PowerUserAccess", "IAMFullAccess"}
OPEN_CIDRS = {"0.0.0.0/0", "::/0"}
LOG_EVENTS = 50
# Failures that concern the whole account, not one API or one service.
_ACCOUNT_WIDE = {
    "NoCredentialsError",
    "PartialCredentialsError",
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "EndpointRefused",
}
ENCRYPTION_REASON = (
    "the data stores behind an ECS task (EFS, RDS, S3) are not read for their encryption keys yet"
)


class _Account:
    """boto3 clients of one account, made once per run."""

    def __init__(self, account: Any) -> None:
        self.clients: dict[str, Any] = {}
        self.trails: Observation | str | None = None
        # Why the account cannot be read at all (no credentials, endpoint unreachable): said
        # once, then reused for its other services instead of trying again per service.
        self.broken = ""
        try:
            session = aws_session(account.to_ref())
        except Exception as exc:  # a refused endpoint override, a broken profile
            self.broken = f"the account {account.name} cannot be read ({exc})"
            return
        config = Config(retries={"total_max_attempts": 2}, connect_timeout=10, read_timeout=15)
        endpoint = account.endpoint or None
        self.make = lambda name: session.client(name, endpoint_url=endpoint, config=config)

    def __getattr__(self, name: str) -> Any:
        if name not in self.clients:
            self.clients[name] = self.make(name)
        return self.clients[name]


def _why(exc: Exception, what: str) -> str:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
    return f"reading {what} failed ({code}: {exc})"


def _container(task_definition: dict) -> dict:
    containers = task_definition.get("containerDefinitions") or [{}]
    return next((c for c in containers if c.get("essential", True)), containers[0])


def shutdown(raw: dict, origin: Provenance) -> Observation:
    container = _container(raw.get("taskDefinition") or {})
    timeout = container.get("stopTimeout")
    grace = DEFAULT_STOP_TIMEOUT_S if timeout is None else int(timeout)
    balanced = bool((raw.get("service") or {}).get("loadBalancers"))
    drain = "load balancer target deregistration before SIGTERM" if balanced else ""
    default = " (the default)" if timeout is None else ""
    summary = f"stopTimeout {grace} s{default}; " + (drain or "no load balancer to drain first")
    value = {"grace_s": grace, "drain": drain, "drain_s": 0, "drains_first": balanced}
    return Observation(value, origin, summary)


def stateful(raw: dict, env_names: list[str], origin: Provenance) -> Observation:
    volumes = (raw.get("taskDefinition") or {}).get("volumes") or []
    why = [f"EFS volume {v.get('name')}" for v in volumes if v.get("efsVolumeConfiguration")]
    why += [f"datastore setting {name}" for name in env_names if DATASTORE_ENV.match(name)]
    summary = "; ".join(why) or "no EFS volume and no datastore setting"
    return Observation({"stateful": bool(why), "why": why}, origin, summary)


def _broad_statements(document: Any) -> list[str]:
    if isinstance(document, str):
        document = json.loads(unquote(document))
    statements = document.get("Statement") or []
    found = []
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action") or []
        resources = statement.get("Resource") or []
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        wild = [a for a in actions if a == "*" or a.endswith(":*")]
        if wild and "*" in resources:
            found.append(f"{', '.join(wild)} on every resource")
    return found


def identity_grants(aws: _Account, role_arn: str, origin: Provenance) -> Observation:
    if not role_arn:
        value = {"identity": "", "grants": [], "broad": []}
        return Observation(value, origin, "no task role: the task holds no AWS permissions")
    role = role_arn.rsplit("/", 1)[-1]
    grants, broad = [], []
    attached = aws.iam.list_attached_role_policies(RoleName=role).get("AttachedPolicies") or []
    for policy in attached:
        name, arn = policy["PolicyName"], policy["PolicyArn"]
        grants.append(f"managed policy {name}")
        if arn.startswith("arn:aws:iam::aws:policy/") and name in BROAD_MANAGED:
            broad.append(f"managed policy {name}")
            continue
        version = aws.iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        document = aws.iam.get_policy_version(PolicyArn=arn, VersionId=version)
        for reason in _broad_statements(document["PolicyVersion"]["Document"]):
            broad.append(f"managed policy {name}: {reason}")
    for name in aws.iam.list_role_policies(RoleName=role).get("PolicyNames") or []:
        grants.append(f"inline policy {name}")
        document = aws.iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        for reason in _broad_statements(document):
            broad.append(f"inline policy {name}: {reason}")
    value = {"identity": role_arn, "grants": grants, "broad": broad}
    return Observation(value, origin, f"{role}: {', '.join(grants) or 'no policy'}")


def network(aws: _Account, raw: dict, origin: Provenance) -> Observation:
    service = raw.get("service") or {}
    vpc = (service.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
    entries, restricted, open_ = [], [], []
    groups = vpc.get("securityGroups") or []
    if groups:
        for group in aws.ec2.describe_security_groups(GroupIds=groups)["SecurityGroups"]:
            label = f"{group['GroupId']} ({group.get('GroupName', '')})"
            wide = [
                rule
                for rule in group.get("IpPermissions") or []
                if {r.get("CidrIp") for r in rule.get("IpRanges") or []} & OPEN_CIDRS
                or {r.get("CidrIpv6") for r in rule.get("Ipv6Ranges") or []} & OPEN_CIDRS
            ]
            (open_ if wide else restricted).append(label)
    internet = vpc.get("assignPublicIp") == "ENABLED"
    if internet:
        entries.append("tasks get public IP addresses")
    targets = [
        lb["targetGroupArn"]
        for lb in service.get("loadBalancers") or []
        if lb.get("targetGroupArn")
    ]
    if targets:
        found = aws.elbv2.describe_target_groups(TargetGroupArns=targets)["TargetGroups"]
        arns = sorted({arn for tg in found for arn in tg.get("LoadBalancerArns") or []})
        if arns:
            for lb in aws.elbv2.describe_load_balancers(LoadBalancerArns=arns)["LoadBalancers"]:
                entries.append(f"load balancer {lb['LoadBalancerName']} ({lb['Scheme']})")
                internet = internet or lb.get("Scheme") == "internet-facing"
    value = {
        "kind": "security group",
        "exposure": "internet" if internet else "cluster",
        "entries": entries,
        "policies": restricted + open_,
        "open_policies": open_,
    }
    summary = "; ".join(
        [*entries, f"security groups: {', '.join(restricted + open_) or 'none'}"]
        + ([f"admitting 0.0.0.0/0: {', '.join(open_)}"] if open_ else [])
    )
    return Observation(value, origin, summary)


def _forwards_to(aws: _Account, listener: dict, target_group: str) -> bool:
    def hits(actions: list[dict]) -> bool:
        for action in actions or []:
            if action.get("TargetGroupArn") == target_group:
                return True
            groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
            if any(g.get("TargetGroupArn") == target_group for g in groups):
                return True
        return False

    if hits(listener.get("DefaultActions")):
        return True
    rules = aws.elbv2.describe_rules(ListenerArn=listener["ListenerArn"]).get("Rules") or []
    return any(hits(rule.get("Actions")) for rule in rules)


def reachability(aws: _Account, raw: dict, origin: Provenance) -> Observation | None:
    """Load balancer → listener → target group → healthy tasks; None without a load balancer
    (the description then decides)."""
    attached = [
        lb["targetGroupArn"]
        for lb in (raw.get("service") or {}).get("loadBalancers") or []
        if lb.get("targetGroupArn")
    ]
    if not attached:
        return None
    entries, problems, internet, healthy_total = [], [], False, 0
    for group in aws.elbv2.describe_target_groups(TargetGroupArns=attached)["TargetGroups"]:
        name, arn = group["TargetGroupName"], group["TargetGroupArn"]
        balancers = group.get("LoadBalancerArns") or []
        if not balancers:
            problems.append(f"target group {name} is attached to no load balancer")
        else:
            found = aws.elbv2.describe_load_balancers(LoadBalancerArns=balancers)
            for lb in found["LoadBalancers"]:
                internet = internet or lb.get("Scheme") == "internet-facing"
                listeners = aws.elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])
                routes = [
                    f"{lb['LoadBalancerName']} ({lb.get('Scheme')}) {li.get('Protocol')}:"
                    f"{li.get('Port')} → {name}"
                    for li in listeners.get("Listeners") or []
                    if _forwards_to(aws, li, arn)
                ]
                entries += routes
                if not routes:
                    problems.append(f"no listener of {lb['LoadBalancerName']} forwards to {name}")
        health = aws.elbv2.describe_target_health(TargetGroupArn=arn)
        healthy = sum(
            1
            for t in health.get("TargetHealthDescriptions") or []
            if (t.get("TargetHealth") or {}).get("State") == "healthy"
        )
        healthy_total += healthy
        if not healthy:
            problems.append(f"target group {name} has no healthy target")
    value = {
        "entries": entries,
        "problems": problems,
        "exposure": "internet" if internet else "cluster",
        "ready_pods": healthy_total,
    }
    summary = "; ".join(problems + entries + [f"{healthy_total} healthy target(s)"])
    return Observation(value, origin, summary)


def structured_logs(aws: _Account, raw: dict, read_at: Any) -> Observation | str:
    container = _container(raw.get("taskDefinition") or {})
    config = container.get("logConfiguration") or {}
    options = config.get("options") or {}
    if config.get("logDriver") != "awslogs" or not options.get("awslogs-group"):
        return f"container {container.get('name')} does not log to CloudWatch Logs (awslogs)"
    group = options["awslogs-group"]
    kwargs: dict[str, Any] = {
        "logGroupName": group,
        "startTime": int((read_at - timedelta(days=1)).timestamp() * 1000),
        "limit": LOG_EVENTS,
    }
    if options.get("awslogs-stream-prefix"):
        kwargs["logStreamNamePrefix"] = f"{options['awslogs-stream-prefix']}/{container['name']}"
    events = aws.logs.filter_log_events(**kwargs).get("events") or []
    origin = Provenance(f"CloudWatch Logs FilterLogEvents ({group}, last day)", read_at)
    if not events:
        return Observation(None, origin, f"no log events in {group} in the last day")
    as_json = sum(1 for e in events if _is_json_object(e.get("message", "")))
    summary = f"{as_json} of {len(events)} recent events were JSON objects"
    return Observation(as_json >= JSON_SHARE * len(events), origin, summary)


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def audit_trails(aws: _Account, region: str, read_at: Any) -> Observation:
    trails = aws.cloudtrail.describe_trails(includeShadowTrails=True).get("trailList") or []
    logging_ = []
    for trail in trails:
        covers = trail.get("IsMultiRegionTrail") or trail.get("HomeRegion") == region
        if covers and aws.cloudtrail.get_trail_status(Name=trail["TrailARN"]).get("IsLogging"):
            logging_.append(trail["Name"])
    origin = Provenance(f"CloudTrail DescribeTrails, GetTrailStatus ({region})", read_at)
    if logging_:
        return Observation(True, origin, f"logging trail(s): {', '.join(logging_)}")
    summary = f"{len(trails)} trail(s), none logging in {region}"
    return Observation(False, origin, summary)


# --- the reader --------------------------------------------------------------------------------


def read_all(context: ReadContext) -> dict[int, dict[str, Observation | str]]:
    answers: dict[int, dict[str, Observation | str]] = {}
    accounts: dict[int, _Account] = {}
    for service in context.services:
        cloud = context.clouds.get(service.pk)
        if service.provider != "aws" or cloud is None or cloud.snapshot is None:
            continue
        if service.account_id not in accounts:
            accounts[service.account_id] = _Account(service.account)
        answers[service.pk] = _facts(context, accounts[service.account_id], service, cloud)
    return answers


def _facts(context: ReadContext, aws: _Account, service: Any, cloud: Any) -> dict[str, Any]:
    snapshot, at = cloud.snapshot, context.read_at
    raw = snapshot.raw or {}
    described = cloud.origin or Provenance("Amazon ECS DescribeServices", at)
    facts: dict[str, Observation | str] = {
        SHUTDOWN: shutdown(raw, described),
        STATEFUL: stateful(raw, [v.name for v in snapshot.env], described),
        ENCRYPTION: ENCRYPTION_REASON,
    }
    reads = {
        IDENTITY_GRANTS: (
            "the task role's IAM policies",
            lambda: identity_grants(
                aws,
                snapshot.service_identity,
                Provenance("IAM ListAttachedRolePolicies, GetPolicyVersion, GetRolePolicy", at),
            ),
        ),
        NETWORK: (
            "security groups and load balancers",
            lambda: network(
                aws,
                raw,
                Provenance("EC2 DescribeSecurityGroups, ELBv2 DescribeLoadBalancers", at),
            ),
        ),
        STRUCTURED_LOGS: ("the container's log events", lambda: structured_logs(aws, raw, at)),
        REACHABILITY: (
            "the load balancer's listeners and target health",
            lambda: reachability(
                aws,
                raw,
                Provenance(
                    "ELBv2 DescribeTargetGroups, DescribeListeners, DescribeTargetHealth", at
                ),
            ),
        ),
    }
    for key, (what, read) in reads.items():
        if aws.broken:
            facts[key] = aws.broken
            continue
        try:
            found = read()
            if found is not None:
                facts[key] = found
        except Exception as exc:  # one refused API leaves only its own facts unread
            facts[key] = _why(exc, what)
            if type(exc).__name__ in _ACCOUNT_WIDE:
                aws.broken = f"the account {service.account.name} cannot be read ({exc})"
    if aws.trails is None:
        try:
            aws.trails = aws.broken or audit_trails(aws, snapshot.region, at)
        except Exception as exc:
            aws.trails = _why(exc, "CloudTrail trails")
    facts[AUDIT_LOGS] = aws.trails
    return facts


OncePerRun(read_all).register(
    (
        SHUTDOWN,
        STATEFUL,
        ENCRYPTION,
        IDENTITY_GRANTS,
        NETWORK,
        REACHABILITY,
        STRUCTURED_LOGS,
        AUDIT_LOGS,
    )
)
