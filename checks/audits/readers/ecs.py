"""Audit evidence for ECS services, from the description and the AWS APIs around the service.

- The description already read for the run (DescribeServices + DescribeTaskDefinition): the
  essential container's `stopTimeout`, load balancers, EFS volumes and datastore settings.
- IAM (ListAttachedRolePolicies, GetPolicy/GetPolicyVersion, ListRolePolicies/GetRolePolicy): the
  task role's policies, flagged when broad (AdministratorAccess/PowerUserAccess, `*` actions).
- EC2 DescribeSecurityGroups and ELBv2 DescribeTargetGroups/DescribeLoadBalancers: who can
  connect (0.0.0.0/0 rules, public IPs, internet-facing load balancers).
- CloudWatch Logs FilterLogEvents on the container's awslogs group: its recent log lines.
- CloudTrail DescribeTrails/GetTrailStatus (once per account): whether a trail is logging.
- AWS WAF (wafv2) GetWebACLForResource on the service's application load balancers: whether the
  web ACL in front holds a rate-based rule.
- CloudWatch GetMetricData, AWS/ApplicationELB RequestCount of the service's target groups: the
  requests the load balancer sent to the service over the last TRAFFIC_DAYS days.
- CloudWatch GetMetricData, AWS/ECS CPUUtilization and MemoryUtilization of every service of the
  account (ecs_usage): peak use against the task definition's reservation, and whether ECS's
  metrics are collected for the service.
- ELBv2 DescribeListeners/DescribeRules (the reads reachability makes): an `authenticate-oidc` or
  `authenticate-cognito` action before the `forward` to the service's target group.
- EFS DescribeFileSystems (once per file system) and KMS DescribeKey (once per key): the keys
  encrypting the EFS volumes the task mounts (ecs_storage).

Every client comes from the account's boto3 chain and `endpoint` override (moto in tests).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from botocore.config import Config

from checks.audits.evidence import (
    AUDIT_LOGS,
    ENCRYPTION,
    IDENTITY_GRANTS,
    METRICS,
    NETWORK,
    PLATFORM_AUTH,
    RATE_LIMITS,
    REACHABILITY,
    SHUTDOWN,
    STATEFUL,
    STRUCTURED_LOGS,
    TRAFFIC,
    USAGE,
    Observation,
    Provenance,
)
from checks.audits.gather import ReadContext
from checks.audits.readers import OncePerRun, ecs_storage, ecs_usage, log_lines
from checks.audits.readers.kubernetes import DATASTORE_ENV
from fleet.operations.clouds.credentials import aws_session

# ContainerDefinition.stopTimeout: "If this parameter is not specified, the default value of 30
# seconds is used" (Fargate). https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html
DEFAULT_STOP_TIMEOUT_S = 30
BROAD_MANAGED = {"AdministratorAccess", "PowerUserAccess", "IAMFullAccess"}
OPEN_CIDRS = {"0.0.0.0/0", "::/0"}
LOG_EVENTS = 50
TRAFFIC_DAYS = 7
# RateBasedStatement.EvaluationWindowSec: "Default: 300 (5 minutes)".
# https://docs.aws.amazon.com/waf/latest/APIReference/API_RateBasedStatement.html
DEFAULT_RATE_WINDOW_S = 300
NO_BALANCER_RATE_REASON = (
    "no load balancer in front: AWS WAF attaches to load balancers, API Gateway and CloudFront, "
    "not to ECS tasks, and limits set in the application are not visible through the AWS APIs"
)
NO_BALANCER_TRAFFIC_REASON = (
    "no load balancer target group: ECS itself counts no requests (its CloudWatch metrics are "
    "CPU and memory only), so only a load balancer's RequestCount can show traffic"
)
# Failures that concern the whole account, not one API or one service.
_ACCOUNT_WIDE = {
    "NoCredentialsError",
    "PartialCredentialsError",
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "EndpointRefused",
}
NO_BALANCER_AUTH_REASON = (
    "no load balancer in front: ECS itself has no authentication of its own, so whether "
    "callers are checked is up to the application"
)
# ELBv2 Action.Type values that authenticate users before the following actions run.
# https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_Action.html
AUTHENTICATE = {"authenticate-oidc": "AuthenticateOidcConfig",
                "authenticate-cognito": "AuthenticateCognitoConfig"}  # fmt: skip


# Services whose facts are read side by side: the time goes into waiting on the AWS APIs, and
# boto3 clients are thread-safe (one client per API and account serves every thread).
READS_AT_ONCE = 8
# Batch sizes, each the API's own limit or below it:
# - DescribeLoadBalancers: "You can specify up to 20 load balancers in a single call."
#   https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeLoadBalancers.html
# - DescribeTargetGroups: TargetGroupArns documents no maximum (PageSize is 1-400); 20 a call,
#   like its sibling above. https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeTargetGroups.html
# - DescribeSecurityGroups: GroupId.N documents no maximum; 100 a call keeps the request small.
#   https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSecurityGroups.html
# - GetMetricData: "you can include as many as 500 MetricDataQuery structures".
#   https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html
LOAD_BALANCERS_PER_CALL = 20
TARGET_GROUPS_PER_CALL = 20
SECURITY_GROUPS_PER_CALL = 100
METRIC_QUERIES_PER_CALL = 500
# A batch naming one missing resource fails whole with these codes; its resources are then read
# one at a time, so only the services naming the missing one lose the fact.
_MISSING = {
    "InvalidGroup.NotFound",
    "InvalidGroupId.Malformed",
    "TargetGroupNotFound",
    "LoadBalancerNotFound",
    "ValidationError",
}


class _Account:
    """boto3 clients of one account, made once per run, and what was read in batches for all
    of the account's services (security groups, target groups, load balancers, request counts)."""

    def __init__(self, account: Any) -> None:
        self.name = account.name
        self.clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.trails: Observation | str | None = None
        self.rule_groups: dict[str, dict] = {}  # WAF rule groups by ARN, read once per run
        self.groups: dict[str, dict | Exception] = {}  # security groups by id
        self.target_groups: dict[str, dict | Exception] = {}  # by ARN
        self.balancers: dict[str, dict | Exception] = {}  # load balancers by ARN
        self.requests: dict[tuple[str, str], float | Exception] = {}  # (TG, LB) -> RequestCount
        # (ClusterName, ServiceName) -> {"cpu": peak %, "memory": peak %} of AWS/ECS metrics
        self.usage: dict[tuple[str, str], dict[str, float] | Exception] = {}
        self.file_systems: dict[str, dict | Exception] = {}  # EFS file systems by id
        # Why the account cannot be read at all (no credentials, endpoint unreachable): said
        # once, then reused for its other services instead of trying again per service.
        self.broken = ""
        try:
            session = aws_session(account.to_ref())
        except Exception as exc:  # a refused endpoint override, a broken profile
            self.broken = f"the account {account.name} cannot be read ({exc})"
            return
        config = Config(
            retries={"total_max_attempts": 2},
            connect_timeout=10,
            read_timeout=15,
            max_pool_connections=READS_AT_ONCE,
        )
        endpoint = account.endpoint or None
        self.make = lambda name: session.client(name, endpoint_url=endpoint, config=config)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "make":
            raise AttributeError(name)
        with self._lock:  # one client per API, whichever thread asks first
            if name not in self.clients:
                self.clients[name] = _ReadOnce(self.make(name))
            return self.clients[name]

    def fail(self, exc: Exception) -> bool:
        """Remember an account-wide failure (no credentials, endpoint unreachable); True if so."""
        if type(exc).__name__ in _ACCOUNT_WIDE:
            self.broken = self.broken or f"the account {self.name} cannot be read ({exc})"
            return True
        return False

    def read_batches(self, raws: list[dict], read_at: Any) -> None:
        """Security groups, target groups, load balancers and request counts of all the
        account's services, in a few calls instead of a few per service."""
        steps = (
            lambda: self._batched(
                self.groups,
                _ids(_security_groups(raw) for raw in raws),
                SECURITY_GROUPS_PER_CALL,
                lambda ids: self.ec2.describe_security_groups(GroupIds=ids)["SecurityGroups"],
                "GroupId",
            ),
            lambda: self._batched(
                self.target_groups,
                _ids(_attached(raw) for raw in raws),
                TARGET_GROUPS_PER_CALL,
                lambda arns: self.elbv2.describe_target_groups(TargetGroupArns=arns)[
                    "TargetGroups"
                ],
                "TargetGroupArn",
            ),
            lambda: self._batched(
                self.balancers,
                _ids(
                    group.get("LoadBalancerArns") or []
                    for group in self.target_groups.values()
                    if isinstance(group, dict)
                ),
                LOAD_BALANCERS_PER_CALL,
                lambda arns: self.elbv2.describe_load_balancers(LoadBalancerArns=arns)[
                    "LoadBalancers"
                ],
                "LoadBalancerArn",
            ),
            lambda: self._request_counts(read_at),
            lambda: self._utilizations(raws, read_at),
            lambda: self._batched(
                self.file_systems,
                _ids(ecs_storage.file_system_ids(raw) for raw in raws),
                1,  # DescribeFileSystems names one FileSystemId (or lists every one)
                lambda ids: _call(
                    "elasticfilesystem:DescribeFileSystems",
                    self.efs.describe_file_systems,
                    FileSystemId=ids[0],
                )["FileSystems"],
                "FileSystemId",
            ),
        )
        for step in steps:
            if self.broken:
                return
            step()

    def _batched(
        self,
        into: dict[str, Any],
        keys: list[str],
        size: int,
        read: Callable[[list[str]], list[dict]],
        key: str,
    ) -> None:
        """Read `keys` `size` at a time into `into` (the error in place of what failed); a batch
        refused for one missing resource is read again one key at a time."""
        for start in range(0, len(keys), size):
            chunk = keys[start : start + size]
            try:
                for item in read(chunk):
                    into[item[key]] = item
            except Exception as exc:
                if self.fail(exc):
                    return
                if len(chunk) > 1 and _code(exc) in _MISSING:
                    self._batched(into, chunk, 1, read, key)
                    continue
                into.update(dict.fromkeys(chunk, exc))
                continue
            for missing in set(chunk) - into.keys():  # answered without it: not found
                into[missing] = LookupError(f"{missing} was not in the answer")

    def _request_counts(self, read_at: Any) -> None:
        """RequestCount of every (target group, application load balancer) pair, up to 500
        queries a GetMetricData call, all pages of each."""
        pairs = sorted(
            (tg_arn, lb_arn)
            for tg_arn, group in self.target_groups.items()
            if isinstance(group, dict)
            for lb_arn in group.get("LoadBalancerArns") or []
            if isinstance(self.balancers.get(lb_arn), dict)
            and self.balancers[lb_arn].get("Type", "application") == "application"
        )
        for start in range(0, len(pairs), METRIC_QUERIES_PER_CALL):
            chunk = pairs[start : start + METRIC_QUERIES_PER_CALL]
            try:
                found = _metric_values(
                    self.cloudwatch, [_request_query(*p) for p in chunk], read_at, TRAFFIC_DAYS
                )
            except Exception as exc:
                if self.fail(exc):
                    return
                self.requests.update(dict.fromkeys(chunk, exc))
                continue
            for n, pair in enumerate(chunk):
                self.requests[pair] = sum(found[n])

    def _utilizations(self, raws: list[dict], read_at: Any) -> None:
        """AWS/ECS CPUUtilization and MemoryUtilization of every service of the account, two
        queries a service, up to 500 queries a GetMetricData call, all pages of each."""
        keys = sorted({ecs_usage.service_key(raw) for raw in raws})
        per_call = METRIC_QUERIES_PER_CALL // len(ecs_usage.METRICS)
        for start in range(0, len(keys), per_call):
            chunk = keys[start : start + per_call]
            queries = [q for key in chunk for q in ecs_usage.queries(key)]
            try:
                found = _metric_values(self.cloudwatch, queries, read_at, ecs_usage.USAGE_DAYS)
            except Exception as exc:
                if self.fail(exc):
                    return
                self.usage.update(dict.fromkeys(chunk, exc))
                continue
            width = len(ecs_usage.METRICS)
            for n, key in enumerate(chunk):
                self.usage[key] = ecs_usage.peaks(found[n * width : (n + 1) * width])

    def found(self, into: dict[str, Any], keys: Iterable[str]) -> list[dict]:
        """What a batch read for `keys`, in their order; the first failure is raised."""
        items = [into.get(k) or LookupError(f"{k} was not read") for k in dict.fromkeys(keys)]
        for item in items:
            if isinstance(item, Exception):
                raise item
        return items


def _ids(lists: Iterable[Iterable[str]]) -> list[str]:
    return sorted({item for items in lists for item in items})


def _code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def _security_groups(raw: dict) -> list[str]:
    service = raw.get("service") or {}
    vpc = (service.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
    return vpc.get("securityGroups") or []


def _attached(raw: dict) -> list[str]:
    """The target groups the service registers its tasks with, each once."""
    balancers = (raw.get("service") or {}).get("loadBalancers") or []
    return list(dict.fromkeys(lb["targetGroupArn"] for lb in balancers if lb.get("targetGroupArn")))


class _ReadOnce:
    """A boto3 client whose read calls (Describe*, List*, Get*, FilterLogEvents) are made once
    per run for the same arguments: the services of a fleet share task roles, log groups and
    load balancers, so one read answers all of them (IAM's API is throttled account-wide, too).
    Threads asking for the same read while it is under way wait for it rather than calling
    again. A refusal is remembered like an answer. Answers are shared: callers only read them."""

    READS = ("describe_", "list_", "get_", "filter_log_events")
    NOT_READS = frozenset({"get_paginator", "get_waiter", "get_metric_data"})

    def __init__(self, client: Any) -> None:
        self.client = client
        self.answers: dict[tuple[str, str], Future] = {}
        self.lock = threading.Lock()

    def __getattr__(self, operation: str) -> Any:
        call = getattr(self.client, operation)
        if not operation.startswith(self.READS) or operation in self.NOT_READS:
            return call

        def once(**kwargs: Any) -> Any:
            key = (operation, json.dumps(kwargs, sort_keys=True, default=str))
            with self.lock:
                answer = self.answers.get(key)
                mine = answer is None
                if mine:
                    answer = self.answers[key] = Future()
            if mine:
                try:
                    answer.set_result(call(**kwargs))
                except Exception as exc:
                    answer.set_exception(exc)
            return answer.result()

        return once


# Error codes AWS answers when the caller lacks the IAM permission for the call.
ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}


class PermissionMissing(Exception):
    """AWS refused a call for want of one IAM permission: said as that, not as a failure."""


def _why(exc: Exception, what: str) -> str:
    if isinstance(exc, PermissionMissing):
        return str(exc)
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
    return f"reading {what} failed ({code}: {exc})"


def _call(action: str, call: Any, **kwargs: Any) -> dict:
    """One AWS call; a refusal for want of `action` (e.g. wafv2:GetRuleGroup) is named as such."""
    try:
        return call(**kwargs)
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if code in ACCESS_DENIED:
            raise PermissionMissing(f"permission {action} missing ({code}: {exc})") from exc
        raise


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
    groups = _security_groups(raw)
    if groups:
        for group in aws.found(aws.groups, groups):
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
    targets = _attached(raw)
    if targets:
        found = aws.found(aws.target_groups, targets)
        arns = sorted({arn for tg in found for arn in tg.get("LoadBalancerArns") or []})
        if arns:
            for lb in aws.found(aws.balancers, arns):
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
    attached = _attached(raw)
    if not attached:
        return None
    entries, problems, internet, healthy_total = [], [], False, 0
    for group in aws.found(aws.target_groups, attached):
        name, arn = group["TargetGroupName"], group["TargetGroupArn"]
        balancers = group.get("LoadBalancerArns") or []
        if not balancers:
            problems.append(f"target group {name} is attached to no load balancer")
        else:
            for lb in aws.found(aws.balancers, balancers):
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
    return log_lines.judged([e.get("message", "") for e in events], origin, "recent events")


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


def _balancers(aws: _Account, raw: dict) -> list[tuple[dict, list[dict]]]:
    """Each target group attached to the service, with the load balancers in front of it."""
    return [
        (group, aws.found(aws.balancers, group.get("LoadBalancerArns") or []))
        for group in aws.found(aws.target_groups, _attached(raw))
    ]


# The rule actions that stop a client over its limit; Count only records it.
# https://docs.aws.amazon.com/waf/latest/APIReference/API_RuleAction.html
LIMITING_ACTIONS = ("Block", "Challenge", "Captcha")


def _action(action: dict | None) -> str:
    return next(iter(action or {}), "") or "Block"


def _rate_text(rule: dict, rate: dict, action: str) -> str:
    window = rate.get("EvaluationWindowSec") or DEFAULT_RATE_WINDOW_S
    key = rate.get("AggregateKeyType") or "IP"
    return (
        f"rule {rule.get('Name')} allows {rate.get('Limit')} requests per {window} s per {key}"
        + ("" if action in LIMITING_ACTIONS else f" but only counts ({action})")
    )


def _rate_rules(aws: _Account, acl: dict) -> tuple[list[str], list[str]]:
    """The web ACL's rate-based rules that stop clients, as a person reads them, and notes on
    rules that only count or rule groups whose rules are not visible."""
    found, notes = [], []
    for rule in acl.get("Rules") or []:
        # Rule.Statement.RateBasedStatement: Limit requests per EvaluationWindowSec per key.
        # https://docs.aws.amazon.com/waf/latest/APIReference/API_Rule.html
        statement = rule.get("Statement") or {}
        where = f"WAF web ACL {acl.get('Name')}"
        rate = statement.get("RateBasedStatement")
        if rate:
            text = f"{where}: {_rate_text(rule, rate, _action(rule.get('Action')))}"
            (found if _action(rule.get("Action")) in LIMITING_ACTIONS else notes).append(text)
        elif statement.get("RuleGroupReferenceStatement"):
            group_found, group_notes = _group_rate_rules(aws, rule, where)
            found += group_found
            notes += group_notes
        elif statement.get("ManagedRuleGroupStatement"):
            managed = statement["ManagedRuleGroupStatement"]
            notes.append(
                f"{where}: managed rule group {managed.get('VendorName')}/{managed.get('Name')} "
                "(its rules belong to the vendor and are not read)"
            )
    return found, notes


def _group_rate_rules(aws: _Account, rule: dict, where: str) -> tuple[list[str], list[str]]:
    """Rate-based rules inside a rule group the web ACL references (GetRuleGroup by ARN).

    RuleGroupReferenceStatement: the web ACL rule's OverrideAction Count turns every rule of the
    group into Count; RuleActionOverrides replace single rules' actions.
    https://docs.aws.amazon.com/waf/latest/APIReference/API_RuleGroupReferenceStatement.html
    https://docs.aws.amazon.com/waf/latest/APIReference/API_GetRuleGroup.html
    """
    reference = rule["Statement"]["RuleGroupReferenceStatement"]
    arn = reference["ARN"]
    if arn not in aws.rule_groups:
        found = _call("wafv2:GetRuleGroup", aws.wafv2.get_rule_group, ARN=arn)
        aws.rule_groups[arn] = found["RuleGroup"]
    group = aws.rule_groups[arn]
    counted = "Count" in (rule.get("OverrideAction") or {})
    overrides = {
        o.get("Name"): _action(o.get("ActionToUse"))
        for o in reference.get("RuleActionOverrides") or []
    }
    found, notes = [], []
    for inner in group.get("Rules") or []:
        rate = (inner.get("Statement") or {}).get("RateBasedStatement")
        if not rate:
            continue
        action = (
            "Count" if counted else overrides.get(inner.get("Name"), _action(inner.get("Action")))
        )
        text = f"{where}: rule group {group.get('Name')} {_rate_text(inner, rate, action)}"
        (found if action in LIMITING_ACTIONS else notes).append(text)
    if not found and not notes:
        notes.append(f"{where}: rule group {group.get('Name')} has no rate-based rule")
    return found, notes


def rate_limits(aws: _Account, raw: dict, origin: Provenance) -> Observation | str:
    """Rate-based rules of the AWS WAF web ACL on each application load balancer in front."""
    pairs = _balancers(aws, raw)
    balancers = {lb["LoadBalancerArn"]: lb for _, found in pairs for lb in found}
    if not balancers:
        return NO_BALANCER_RATE_REASON
    front, limits, notes = [], [], []
    for arn, lb in sorted(balancers.items()):
        name = lb["LoadBalancerName"]
        front.append(f"load balancer {name}")
        if lb.get("Type", "application") != "application":
            notes.append(f"{name} is a {lb.get('Type')} load balancer: AWS WAF cannot attach to it")
            continue
        # GetWebACLForResource answers WebACL null when no web ACL is associated; it also checks
        # wafv2:GetWebACL on the web ACL it finds, so the console needs both permissions.
        # https://docs.aws.amazon.com/waf/latest/APIReference/API_GetWebACLForResource.html
        acl = _call(
            "wafv2:GetWebACLForResource", aws.wafv2.get_web_acl_for_resource, ResourceArn=arn
        ).get("WebACL")
        if not acl:
            notes.append(f"no AWS WAF web ACL on {name}")
            continue
        rules, remarks = _rate_rules(aws, acl)
        limits += [f"{name}: {r}" for r in rules]
        notes += [f"{name}: {r}" for r in remarks]
        if not rules and not remarks:
            notes.append(f"WAF web ACL {acl.get('Name')} on {name} has no rate-based rule")
    summary = "; ".join(limits + notes)
    return Observation({"front": front, "limits": limits}, origin, summary)


def _dimension(arn: str, marker: str) -> str:
    """The CloudWatch dimension value of an ELBv2 ARN: the part from `marker` on, e.g.
    "targetgroup/notes/73e2d6bc24d8a067" (the ARN suffix; see the ELB CloudWatch metrics page,
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html)."""
    return arn[arn.index(marker) :] if marker in arn else arn.rsplit(":", 1)[-1]


def _request_query(target_group: str, balancer: str) -> dict:
    """RequestCount by TargetGroup, LoadBalancer: "the number of requests processed over IPv4 and
    IPv6"; Sum is the meaningful statistic (same page as _dimension)."""
    dims = [
        {"Name": "TargetGroup", "Value": _dimension(target_group, "targetgroup/")},
        {"Name": "LoadBalancer", "Value": _dimension(balancer, "app/")},
    ]
    metric = {"Namespace": "AWS/ApplicationELB", "MetricName": "RequestCount"}
    return {
        "MetricStat": {"Metric": {**metric, "Dimensions": dims}, "Period": 86400, "Stat": "Sum"},
        "ReturnData": True,
    }


def _metric_values(
    cloudwatch: Any, queries: list[dict], read_at: Any, days: int
) -> list[list[float]]:
    """Each query's values over the last `days`, in the queries' order, all pages: GetMetricData
    answers a NextToken when the points do not fit one answer (ids "q0", "q1", ...)."""
    values: list[list[float]] = [[] for _ in queries]
    extra: dict[str, str] = {}
    while True:
        answer = _call(
            "cloudwatch:GetMetricData",
            cloudwatch.get_metric_data,
            MetricDataQueries=[{"Id": f"q{n}", **q} for n, q in enumerate(queries)],
            StartTime=read_at - timedelta(days=days),
            EndTime=read_at,
            **extra,
        )
        for result in answer.get("MetricDataResults") or []:
            values[int(result["Id"][1:])].extend(result.get("Values") or [])
        if not answer.get("NextToken"):
            return values
        extra = {"NextToken": answer["NextToken"]}


def traffic(aws: _Account, raw: dict, read_at: Any) -> Observation | str:
    """Requests the application load balancers sent to the service's target groups (read for
    the whole account at once, see _Account._request_counts)."""
    total, labels, read = 0.0, [], False
    for group, found in _balancers(aws, raw):
        for lb in found:
            if lb.get("Type", "application") != "application":
                continue
            count = aws.requests.get((group["TargetGroupArn"], lb["LoadBalancerArn"]))
            if count is None:
                count = LookupError("the request count was not read")
            if isinstance(count, Exception):
                raise count
            total, read = total + count, True
            labels.append(_dimension(group["TargetGroupArn"], "targetgroup/"))
    if not read:
        return NO_BALANCER_TRAFFIC_REASON
    origin = Provenance(
        "CloudWatch GetMetricData AWS/ApplicationELB RequestCount "
        f"({', '.join(labels)}, last {TRAFFIC_DAYS} days)",
        read_at,
    )
    count = int(total)
    summary = (
        f"{count} requests in {TRAFFIC_DAYS} days"
        if count
        else (f"no requests in {TRAFFIC_DAYS} days")
    )
    return Observation(count, origin, summary)


def _peaks(aws: _Account, raw: dict) -> dict[str, float]:
    """The service's AWS/ECS metric peaks, read for the whole account (_Account._utilizations)."""
    found = aws.usage.get(ecs_usage.service_key(raw))
    if found is None:
        found = LookupError("the service's CPU and memory utilization were not read")
    if isinstance(found, Exception):
        raise found
    return found


def _usage_origin(read_at: Any) -> Provenance:
    return Provenance(
        "CloudWatch GetMetricData AWS/ECS CPUUtilization, MemoryUtilization (ClusterName, "
        f"ServiceName; daily Maximum, last {ecs_usage.USAGE_DAYS} days)",
        read_at,
    )


def usage(aws: _Account, raw: dict, read_at: Any) -> Observation | str:
    return ecs_usage.usage(_peaks(aws, raw), raw, _usage_origin(read_at))


def metrics(aws: _Account, raw: dict, read_at: Any) -> Observation | str:
    return ecs_usage.metrics(_peaks(aws, raw), raw, _usage_origin(read_at))


def encryption(aws: _Account, raw: dict, origin: Provenance) -> Observation | str:
    """The keys of the EFS file systems the task mounts (read once per file system and key)."""
    ids = ecs_storage.file_system_ids(raw)
    if not ids:
        return ecs_storage.NO_VOLUME_REASON

    def key_manager(key: str) -> str:
        try:
            answer = _call("kms:DescribeKey", aws.kms.describe_key, KeyId=key)
        except Exception as exc:
            if aws.fail(exc):
                raise
            return _why(exc, f"the KMS key {key}")
        return (answer.get("KeyMetadata") or {}).get("KeyManager") or "not named by KMS"

    return ecs_storage.encryption(aws.found(aws.file_systems, ids), key_manager, origin)


def _ordered(actions: list[dict] | None) -> list[dict]:
    """A listener's or rule's actions in the order the load balancer runs them (Order, lowest
    first; https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_Action.html)."""
    listed = list(enumerate(actions or []))
    return [a for _, a in sorted(listed, key=lambda p: (p[1].get("Order") or 50001, p[0]))]


def _forwards(action: dict, target_group: str) -> bool:
    if action.get("TargetGroupArn") == target_group:
        return True
    groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
    return any(g.get("TargetGroupArn") == target_group for g in groups)


def _authenticates(actions: list[dict], target_group: str) -> str | None:
    """How an action list that forwards to `target_group` authenticates first: the IdP named,
    "" when it forwards without (or lets anonymous callers through), None when it does not
    forward there."""
    how = ""
    for action in _ordered(actions):
        kind = action.get("Type") or ""
        if kind in AUTHENTICATE:
            config = action.get(AUTHENTICATE[kind]) or {}
            # OnUnauthenticatedRequest "allow" forwards anonymous callers (no claims).
            if (config.get("OnUnauthenticatedRequest") or "authenticate") != "allow":
                idp = config.get("Issuer") or config.get("UserPoolArn") or "?"
                how = f"{kind} ({'issuer' if kind.endswith('oidc') else 'user pool'} {idp})"
        elif _forwards(action, target_group):
            return how
    return None


def platform_auth(aws: _Account, raw: dict, origin: Provenance) -> Observation | str:
    """Whether every listener route to the service's target groups authenticates callers first
    (the DescribeListeners/DescribeRules answers reachability reads too)."""
    pairs = _balancers(aws, raw)
    if not any(found for _, found in pairs):
        return NO_BALANCER_AUTH_REASON
    checked, open_routes, internet = [], [], False
    for group, found in pairs:
        for lb in found:
            listeners = (
                _call(
                    "elasticloadbalancing:DescribeListeners",
                    aws.elbv2.describe_listeners,
                    LoadBalancerArn=lb["LoadBalancerArn"],
                ).get("Listeners")
                or []
            )
            for listener in listeners:
                where = (
                    f"{lb['LoadBalancerName']} {listener.get('Protocol')}:{listener.get('Port')}"
                )
                rules = (
                    _call(
                        "elasticloadbalancing:DescribeRules",
                        aws.elbv2.describe_rules,
                        ListenerArn=listener["ListenerArn"],
                    ).get("Rules")
                    or []
                )
                routes = [("default action", listener.get("DefaultActions"))] + [
                    (f"rule {rule.get('Priority')}", rule.get("Actions"))
                    for rule in rules
                    if not rule.get("IsDefault")
                ]
                for label, actions in routes:
                    how = _authenticates(actions or [], group["TargetGroupArn"])
                    if how is None:
                        continue
                    internet = internet or lb.get("Scheme") == "internet-facing"
                    route = f"{where} {label} → {group['TargetGroupName']}"
                    if how:
                        checked.append(f"{route}: {how}")
                    else:
                        open_routes.append(route)
    if not checked and not open_routes:
        return "no listener of the load balancer in front forwards to the service's target group"
    exposure = "internet" if internet else "cluster"
    if open_routes:
        how = (
            "no authentication action on the load balancer in front "
            f"({', '.join(open_routes)}): it forwards callers without checking them"
        )
        value = {"open": True, "exposure": exposure, "how": [how]}
        return Observation(value, origin, "; ".join([how, *checked]))
    value = {"open": False, "exposure": exposure, "how": checked}
    return Observation(value, origin, "; ".join(checked))


# --- the reader --------------------------------------------------------------------------------


def read_all(context: ReadContext) -> dict[int, dict[str, Observation | str]]:
    """Every ECS service's facts: per account, the batched reads first (security groups, target
    groups, load balancers, request counts) and the trails, then each service's own reads (task
    role, log group, target health, web ACL), READS_AT_ONCE services at a time. Reads the
    services share are made once (_ReadOnce)."""
    accounts: dict[int, _Account] = {}
    mine: list[tuple[Any, Any]] = []
    for service in context.services:
        cloud = context.clouds.get(service.pk)
        if service.provider != "aws" or cloud is None or cloud.snapshot is None:
            continue
        if service.account_id not in accounts:
            accounts[service.account_id] = _Account(service.account)
        mine.append((service, cloud))
    for account_id, aws in accounts.items():
        ours = [(s, c) for s, c in mine if s.account_id == account_id]
        if not aws.broken:
            aws.read_batches([c.snapshot.raw or {} for _, c in ours], context.read_at)
        aws.trails = _trails(aws, ours[0][1].snapshot.region, context.read_at)

    def facts(pair: tuple[Any, Any]) -> dict[str, Any]:
        service, cloud = pair
        return _facts(context, accounts[service.account_id], service, cloud)

    with ThreadPoolExecutor(max_workers=max(1, min(READS_AT_ONCE, len(mine)))) as pool:
        found = list(pool.map(facts, mine))
    return {service.pk: one for (service, _), one in zip(mine, found, strict=True)}


def _trails(aws: _Account, region: str, read_at: Any) -> Observation | str:
    """CloudTrail's answer for the account (once per run), or why it could not be read."""
    if aws.broken:
        return aws.broken
    try:
        return audit_trails(aws, region, read_at)
    except Exception as exc:
        if aws.fail(exc):
            return aws.broken
        return _why(exc, "CloudTrail trails")


def _facts(context: ReadContext, aws: _Account, service: Any, cloud: Any) -> dict[str, Any]:
    snapshot, at = cloud.snapshot, context.read_at
    raw = snapshot.raw or {}
    described = cloud.origin or Provenance("Amazon ECS DescribeServices", at)
    facts: dict[str, Observation | str] = {
        SHUTDOWN: shutdown(raw, described),
        STATEFUL: stateful(raw, [v.name for v in snapshot.env], described),
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
        RATE_LIMITS: (
            "the AWS WAF web ACL of the load balancer",
            lambda: rate_limits(
                aws, raw, Provenance("AWS WAF GetWebACLForResource (load balancers)", at)
            ),
        ),
        TRAFFIC: (
            "the load balancer's request count",
            lambda: traffic(aws, raw, at),
        ),
        USAGE: ("the service's CPU and memory utilization", lambda: usage(aws, raw, at)),
        METRICS: ("the service's CPU and memory utilization", lambda: metrics(aws, raw, at)),
        ENCRYPTION: (
            "the EFS file systems the task mounts",
            lambda: encryption(
                aws, raw, Provenance("EFS DescribeFileSystems, KMS DescribeKey", at)
            ),
        ),
        PLATFORM_AUTH: (
            "the load balancer's listener rules",
            lambda: platform_auth(
                aws, raw, Provenance("ELBv2 DescribeListeners, DescribeRules", at)
            ),
        ),
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
            aws.fail(exc)
    facts[AUDIT_LOGS] = aws.trails or aws.broken
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
        RATE_LIMITS,
        TRAFFIC,
        USAGE,
        METRICS,
        PLATFORM_AUTH,
    )
)
