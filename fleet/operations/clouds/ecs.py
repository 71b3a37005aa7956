"""AWS ECS (Fargate or EC2) adapter over boto3's `ecs`, `application-autoscaling` and `elbv2`.

Redeploy is `update_service(forceNewDeployment=True)`; a release registers a copy of the current
task definition (every field and tag) with one container's image replaced and points the service at
it; rollback points the service at a recorded revision. Each waits for a verdict from ECS itself:
"succeeded" only when the PRIMARY deployment is ours, runs its desired count and says COMPLETED;
"failed" with the circuit breaker's own reason and the stopped tasks' reasons as diagnostics.
Services deployed by CodeDeploy (blue/green) or an external controller are refused with the reason:
UpdateService cannot roll them out. ECS rolling updates have no traffic split, so no canary here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    NoCredentialsError,
    ReadTimeoutError,
)

from fleet.operations.clouds.base import (
    DESCRIBE_CONCURRENCY,
    CloudAdapter,
    ProgressCallback,
    label_matches,
    reject_unsupported,
)
from fleet.operations.clouds.credentials import aws_session
from fleet.operations.clouds.errors import (
    CloudError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    Throttled,
    Timeout,
    Unavailable,
    build_error,
)
from fleet.operations.clouds.pacing import DEFAULT_PACING, Pacing
from fleet.operations.clouds.types import (
    AccountRef,
    EnvVar,
    OperationResult,
    Revision,
    ScalingSettings,
    ServiceRef,
    ServiceSnapshot,
)
from fleet.operations.clouds.waiting import Step, poll_until, say, unknown_result

DESCRIBE_SERVICES = "ecs:DescribeServices"
LIST_SERVICES = "ecs:ListServices"
DESCRIBE_TASK_DEFINITION = "ecs:DescribeTaskDefinition"
LIST_TASK_DEFINITIONS = "ecs:ListTaskDefinitions"
REGISTER_TASK_DEFINITION = "ecs:RegisterTaskDefinition"
UPDATE_SERVICE = "ecs:UpdateService"
LIST_TASKS = "ecs:ListTasks"
DESCRIBE_TASKS = "ecs:DescribeTasks"
DESCRIBE_TARGETS = "application-autoscaling:DescribeScalableTargets"
DESCRIBE_POLICIES = "application-autoscaling:DescribeScalingPolicies"
REGISTER_TARGET = "application-autoscaling:RegisterScalableTarget"
DESCRIBE_TARGET_GROUPS = "elasticloadbalancing:DescribeTargetGroups"
DESCRIBE_LOAD_BALANCERS = "elasticloadbalancing:DescribeLoadBalancers"
DESCRIBE_LISTENERS = "elasticloadbalancing:DescribeListeners"
DIMENSION = "ecs:service:DesiredCount"
MAX_REVISIONS = 10  # list_revisions describes at most this many task definitions (newest first)
MAX_STOPPED_TASKS = 5  # stopped tasks quoted in a failed rollout's diagnostics
# What to do instead, per deployment controller UpdateService cannot roll out
# (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html).
_OTHER_CONTROLLERS = {
    "CODE_DEPLOY": (
        "its blue/green deployments run through AWS CodeDeploy; start a CodeDeploy deployment "
        "whose AppSpec names the new task definition (aws deploy create-deployment)"
    ),
    "EXTERNAL": (
        "its task sets belong to an external deployment controller; create a new task set "
        "(ecs:CreateTaskSet) with that controller and shift traffic to it there"
    ),
}

_PERMISSION_CODES = {
    "AccessDeniedException",
    "AccessDenied",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
}
_NOT_FOUND_CODES = {
    "ServiceNotFoundException",
    "ClusterNotFoundException",
    "ServiceNotActiveException",
    "ObjectNotFoundException",
    "ResourceNotFoundException",
    "TargetGroupNotFound",
    "LoadBalancerNotFound",
}
_THROTTLE_CODES = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
}
_SERVER_CODES = {"ServerException", "InternalFailure", "InternalServiceException"}


class EcsAdapter(CloudAdapter):
    """Services in one ECS cluster (account.cluster) and region."""

    provider = "aws"
    no_traffic_split_reason = (
        "an ECS rolling update replaces tasks and cannot weight traffic between two task "
        "definition revisions (weighted traffic needs the CodeDeploy blue/green controller)"
    )

    def __init__(
        self,
        account: AccountRef,
        *,
        pacing: Pacing = DEFAULT_PACING,
        ecs: Any = None,
        autoscaling: Any = None,
        elbv2: Any = None,
    ) -> None:
        super().__init__(account, pacing=pacing)
        if ecs is None or autoscaling is None or elbv2 is None:
            session = aws_session(account)
            config = Config(
                retries={"total_max_attempts": 1},  # the adapter retries, with backoff
                connect_timeout=pacing.request_timeout_s,
                read_timeout=pacing.request_timeout_s,
            )
            endpoint = account.endpoint or None

            def client(name: str) -> Any:
                return session.client(name, endpoint_url=endpoint, config=config)

            ecs = ecs or client("ecs")
            autoscaling = autoscaling or client("application-autoscaling")
            elbv2 = elbv2 or client("elbv2")
        self.ecs = ecs
        self.autoscaling = autoscaling
        self.elbv2 = elbv2

    # -- reading -----------------------------------------------------------------------------
    def describe(self, service: ServiceRef) -> ServiceSnapshot:
        """Service, its task definition and its auto scaling, as one snapshot."""
        cluster = self._cluster(service.account)
        svc = self._service(cluster, service.resource)
        task_definition = self._task_definition(svc["taskDefinition"])
        scaling = self._autoscaling(cluster, [service.resource]).get(service.resource)
        return _snapshot(svc, task_definition, scaling, service.url, self.account.region)

    def describe_many(self, services: list[ServiceRef]) -> dict[str, ServiceSnapshot | Exception]:
        """DescribeServices ten at a time, each task definition once and the auto scaling of
        all of them in one read, instead of four calls per service."""
        if len(services) < 2:
            return super().describe_many(services)
        cluster = self._cluster(self.account)
        live: dict[str, dict] = {}
        failed: dict[str, Exception] = {}
        names = [ref.resource for ref in services]
        for start in range(0, len(names), 10):  # DescribeServices takes at most 10
            chunk = names[start : start + 10]
            try:
                answer = self.call(
                    DESCRIBE_SERVICES,
                    f"services {', '.join(chunk)} in cluster {cluster}",
                    self.ecs.describe_services,
                    cluster=cluster,
                    services=chunk,
                    include=["TAGS"],
                )
            except Exception as exc:
                failed.update(dict.fromkeys(chunk, exc))
                continue
            for svc in answer["services"]:
                if svc.get("status") != "INACTIVE":
                    live[svc["serviceName"]] = live[svc["serviceArn"]] = svc
        try:
            scaling = self._autoscaling(cluster, sorted({s["serviceName"] for s in live.values()}))
        except Exception as exc:
            return {name: failed.get(name, exc) for name in names}
        definitions = self._task_definitions({s["taskDefinition"] for s in live.values()})
        found: dict[str, ServiceSnapshot | Exception] = {}
        for ref in services:
            svc = live.get(ref.resource)
            if svc is None:
                found[ref.resource] = failed.get(ref.resource) or build_error(
                    NotFound,
                    provider="ECS",
                    account=self.account.name,
                    permission=DESCRIBE_SERVICES,
                    resource=f"service {ref.resource} in cluster {cluster}",
                    detail="MISSING or INACTIVE",
                )
                continue
            definition = definitions[svc["taskDefinition"]]
            if isinstance(definition, Exception):
                found[ref.resource] = definition
                continue
            found[ref.resource] = _snapshot(
                svc, definition, scaling.get(svc["serviceName"]), ref.url, self.account.region
            )
        return found

    def _task_definitions(self, arns: set[str]) -> dict[str, dict | Exception]:
        """Each task definition once (DescribeTaskDefinition takes one), DESCRIBE_CONCURRENCY
        at a time: the SDK client is thread-safe and the time goes into waiting on ECS."""

        def one(arn: str) -> dict | Exception:
            try:
                return self._task_definition(arn)
            except Exception as exc:  # the services running it report it
                return exc

        ordered = sorted(arns)
        if len(ordered) < 2:
            return {arn: one(arn) for arn in ordered}
        with ThreadPoolExecutor(max_workers=DESCRIBE_CONCURRENCY) as pool:
            return dict(zip(ordered, pool.map(one, ordered), strict=True))

    def list_services(self, account: AccountRef, label: str = "") -> list[ServiceSnapshot]:
        """Services in the cluster whose tags match `label`, with a URL from their load balancer."""
        cluster = self._cluster(account)

        def list_arns() -> list[str]:
            paginator = self.ecs.get_paginator("list_services")
            return [
                arn for page in paginator.paginate(cluster=cluster) for arn in page["serviceArns"]
            ]

        arns = self.call(LIST_SERVICES, f"cluster {cluster}", list_arns)
        services: list[dict] = []
        for start in range(0, len(arns), 10):  # DescribeServices takes at most 10
            chunk = arns[start : start + 10]
            services += self.call(
                DESCRIBE_SERVICES,
                f"cluster {cluster}",
                self.ecs.describe_services,
                cluster=cluster,
                services=chunk,
                include=["TAGS"],
            )["services"]
        matching = [s for s in services if label_matches(_tags(s), label)]
        scaling = self._autoscaling(cluster, [s["serviceName"] for s in matching])
        urls = self._load_balancer_urls(matching)
        definitions: dict[str, dict] = {}
        snapshots = []
        for svc in matching:
            arn = svc["taskDefinition"]
            if arn not in definitions:
                definitions[arn] = self._task_definition(arn)
            name = svc["serviceName"]
            url = urls.get(name) or _service_connect_url(svc)
            snapshots.append(
                _snapshot(svc, definitions[arn], scaling.get(name), url, account.region)
            )
        return snapshots

    def supports_traffic_split(self, service: ServiceRef) -> bool:
        """ECS rolling updates replace tasks; there is no weighted split between revisions."""
        return False

    def list_revisions(self, service: ServiceRef) -> list[Revision]:
        """The task definition family's newest revisions, marking those the deployments run."""
        cluster, name = self._cluster(service.account), service.resource
        svc = self._service(cluster, name)
        family = self._task_definition(svc["taskDefinition"])["family"]

        def newest_arns() -> list[str]:
            paginator = self.ecs.get_paginator("list_task_definitions")
            pages = paginator.paginate(familyPrefix=family, status="ACTIVE", sort="DESC")
            found = [arn for page in pages for arn in page["taskDefinitionArns"]]
            # familyPrefix matches other families that start with the same letters
            same = [arn for arn in found if _family_of(arn) == family]
            return sorted(same, key=_revision_number, reverse=True)

        arns = self.call(LIST_TASK_DEFINITIONS, f"task definition family {family}", newest_arns)
        deployments = svc.get("deployments", [])
        deployed = [d["taskDefinition"] for d in deployments]
        chosen = list(dict.fromkeys(deployed + arns[:MAX_REVISIONS]))
        chosen.sort(key=_revision_number, reverse=True)
        running = sum(d.get("runningCount", 0) for d in deployments)
        revisions = []
        for arn in chosen:
            definition = self._task_definition(arn)
            serving = [d for d in deployments if d["taskDefinition"] == arn]
            revisions.append(
                Revision(
                    name=_short_task_definition(arn),
                    image=_container_images(definition),
                    created=_iso(definition.get("registeredAt")),
                    traffic_percent=(
                        round(100 * sum(d.get("runningCount", 0) for d in serving) / running)
                        if running
                        else None
                    ),
                    active=bool(serving),
                    ready=_deployment_ready(serving),
                )
            )
        return revisions

    # -- changes -----------------------------------------------------------------------------
    def redeploy(
        self,
        service: ServiceRef,
        *,
        reason: str = "",
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Force a new deployment of the same task definition and wait until it is stable."""
        cluster, name = self._cluster(service.account), service.resource
        before = self._service(cluster, name)
        _require_rolling_update(before, cluster, "redeploy")
        say(progress, f"Forcing a new deployment of {name} in cluster {cluster}")
        updated = self._update(cluster, name, forceNewDeployment=True)
        return self._wait_stable(cluster, name, before, updated, timeout_s, progress)

    def release(
        self,
        service: ServiceRef,
        image: str,
        *,
        reason: str = "",
        traffic_percent: int | None = None,
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """A new task definition revision with the service's container on `image`, rolled out."""
        cluster, name = self._cluster(service.account), service.resource
        resource = f"service {name} in cluster {cluster}"
        if traffic_percent is not None:
            raise InvalidRequest(
                f"ECS cannot send {traffic_percent}% of traffic to a new revision of {resource}: "
                "a rolling update replaces tasks and has no traffic split. Release without a "
                "canary percentage to roll it out to every task.",
                provider="ECS",
                resource=resource,
            )
        named, _, image = image.rpartition("=")  # "container=image" names the container
        _check_image(image, resource)
        before = self._service(cluster, name)
        _require_rolling_update(before, cluster, "release a new image to")
        current, tags = self._task_definition_with_tags(before["taskDefinition"])
        container = _release_container(before, current, resource, named.strip())
        image_before = container.get("image", "")

        def swap(request: dict) -> None:
            for definition in request["containerDefinitions"]:
                if definition["name"] == container["name"]:
                    definition["image"] = image

        say(
            progress,
            f"Registering a new revision of {current['family']} with container "
            f"{container['name']} on {image} (was {image_before})",
        )
        new_arn = self._register_copy(current, tags, swap)
        say(progress, f"Registered {_short_task_definition(new_arn)}; updating {name}")
        updated = self._update(cluster, name, taskDefinition=new_arn)
        result = self._wait_stable(cluster, name, before, updated, timeout_s, progress)
        result.image_before, result.image_after = image_before, image
        return result

    def rollback(
        self,
        service: ServiceRef,
        revision: str,
        *,
        reason: str = "",
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Point the service at a recorded task definition revision ("family:N") and roll out."""
        cluster, name = self._cluster(service.account), service.resource
        resource = f"service {name} in cluster {cluster}"
        before = self._service(cluster, name)
        _require_rolling_update(before, cluster, "roll back")
        current = self._task_definition(before["taskDefinition"])
        wanted = (revision or "").strip()
        if not wanted:
            raise InvalidRequest(
                f"Name the task definition revision to roll {resource} back to, e.g. "
                f"{current['family']}:{max(1, current['revision'] - 1)}.",
                provider="ECS",
                resource=resource,
            )
        if ":" not in wanted.rsplit("/", 1)[-1]:
            wanted = f"{current['family']}:{wanted}"
        target = self._task_definition(wanted)
        if target["family"] != current["family"]:
            raise InvalidRequest(
                f"{_short_task_definition(target['taskDefinitionArn'])} is not a revision of "
                f"{current['family']}, the task definition family {resource} runs.",
                provider="ECS",
                resource=resource,
            )
        if target.get("status") != "ACTIVE":
            raise InvalidRequest(
                f"{_short_task_definition(target['taskDefinitionArn'])} is "
                f"{target.get('status', 'not active')}: ECS cannot update a service to a "
                "deregistered task definition. Release its image as a new revision instead.",
                provider="ECS",
                resource=resource,
            )
        if target["taskDefinitionArn"] == before["taskDefinition"]:
            raise InvalidRequest(
                f"{resource} already runs {_short_task_definition(before['taskDefinition'])}: "
                "nothing to roll back.",
                provider="ECS",
                resource=resource,
            )
        image_before = _container_images(current)
        say(
            progress,
            f"Rolling {name} back to {_short_task_definition(target['taskDefinitionArn'])}",
        )
        updated = self._update(cluster, name, taskDefinition=target["taskDefinitionArn"])
        result = self._wait_stable(cluster, name, before, updated, timeout_s, progress)
        result.image_before, result.image_after = image_before, _container_images(target)
        return result

    def apply_scaling(
        self,
        service: ServiceRef,
        settings: ScalingSettings,
        *,
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Scalable target min/max, desired count within it, and a task definition for cpu/memory."""
        cluster, name = self._cluster(service.account), service.resource
        resource = f"service {name} in cluster {cluster}"
        reject_unsupported(
            "ECS",
            resource,
            settings,
            concurrency="ECS tasks have no request concurrency setting",
        )
        before = self._service(cluster, name)
        if settings.cpu is not None or settings.memory is not None:
            _require_rolling_update(before, cluster, "change the task size of")
        update: dict[str, Any] = {}
        note = ""
        if settings.min_instances is not None or settings.max_instances is not None:
            low, high = self._target_limits(cluster, name, settings)
            desired = before["desiredCount"]
            if not low <= desired <= high:
                _require_rolling_update(before, cluster, "change the desired count of")
            self._register_target(cluster, name, low, high, progress)
            if name not in self._autoscaling(cluster, [name]):
                note = (
                    f" No scaling policy acts on {name}'s scalable target, so ECS keeps the "
                    "desired count and does not scale between these limits: add a target "
                    "tracking or step scaling policy."
                )
                say(progress, note.strip())
            if not low <= desired <= high:
                update["desiredCount"] = max(low, min(high, desired))
                say(progress, f"Moving desired count from {desired} to {update['desiredCount']}")
        if settings.cpu is not None or settings.memory is not None:
            current, tags = self._task_definition_with_tags(before["taskDefinition"])

            def resize(request: dict) -> None:
                if settings.cpu is not None:
                    request["cpu"] = settings.cpu
                if settings.memory is not None:
                    request["memory"] = settings.memory

            say(
                progress,
                f"Registering a new revision of {current['family']} with cpu "
                f"{settings.cpu or current.get('cpu')} and memory "
                f"{settings.memory or current.get('memory')}",
            )
            update["taskDefinition"] = self._register_copy(current, tags, resize)
        if not update:
            revision = _short_task_definition(before["taskDefinition"])
            return OperationResult(
                status="succeeded",
                revision_before=revision,
                revision_after=revision,
                message="Auto scaling limits updated." + note,
            )
        updated = self._update(cluster, name, **update)
        result = self._wait_stable(cluster, name, before, updated, timeout_s, progress)
        result.message += note
        return result

    # -- internals ---------------------------------------------------------------------------
    def _cluster(self, account: AccountRef) -> str:
        return account.cluster or "default"

    def _service(self, cluster: str, name: str) -> dict:
        resource = f"service {name} in cluster {cluster}"
        answer = self.call(
            DESCRIBE_SERVICES,
            resource,
            self.ecs.describe_services,
            cluster=cluster,
            services=[name],
            include=["TAGS"],
        )
        live = [s for s in answer["services"] if s.get("status") != "INACTIVE"]
        if not live:
            reasons = ", ".join(f["reason"] for f in answer.get("failures", [])) or "INACTIVE"
            raise build_error(
                NotFound,
                provider="ECS",
                account=self.account.name,
                permission=DESCRIBE_SERVICES,
                resource=resource,
                detail=reasons,
            )
        return live[0]

    def _task_definition(self, arn: str) -> dict:
        return self._task_definition_with_tags(arn)[0]

    def _task_definition_with_tags(self, arn: str) -> tuple[dict, list[dict]]:
        answer = self.call(
            DESCRIBE_TASK_DEFINITION,
            f"task definition {arn}",
            self.ecs.describe_task_definition,
            taskDefinition=arn,
            include=["TAGS"],
        )
        return answer["taskDefinition"], answer.get("tags") or []

    def _register_copy(
        self, current: dict, tags: list[dict], change: Callable[[dict], None]
    ) -> str:
        """Register a new revision with every field and tag of `current`, then `change` applied."""
        request = {
            k: json.loads(json.dumps(current[k], default=str))
            for k in _register_fields(self.ecs)
            if current.get(k) not in (None, [], {})
        }
        # Keys starting with "aws:" are AWS's own (e.g. CloudFormation's); ECS refuses them
        # on a request (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Tag.html).
        own = [dict(t) for t in tags if not t.get("key", "").lower().startswith("aws:")]
        if own:
            request["tags"] = own
        change(request)
        registered = self.call(
            REGISTER_TASK_DEFINITION,
            f"task definition family {current['family']} (and iam:PassRole on its roles)",
            self.ecs.register_task_definition,
            **request,
        )["taskDefinition"]
        return registered["taskDefinitionArn"]

    def _autoscaling(self, cluster: str, names: list[str]) -> dict[str, dict]:
        """Scalable targets of these services that have a scaling policy to act on them.

        A target without a policy only bounds manual changes: nothing scales the service, so it
        is not shown as auto scaling. Both calls page (50 per page), so every page is read.
        """
        targets = self._targets(cluster, names)
        if not targets:
            return {}
        # A ScalableDimension filter needs a ResourceId, so several services are read unfiltered.
        single = len(names) == 1
        only = {"ResourceId": f"service/{cluster}/{names[0]}", "ScalableDimension": DIMENSION}

        def policies() -> set[str]:
            paginator = self.autoscaling.get_paginator("describe_scaling_policies")
            pages = paginator.paginate(ServiceNamespace="ecs", **(only if single else {}))
            return {
                p["ResourceId"]
                for page in pages
                for p in page["ScalingPolicies"]
                if p.get("ScalableDimension") == DIMENSION
            }

        with_policy = self.call(DESCRIBE_POLICIES, f"cluster {cluster}", policies)
        return {
            name: target for name, target in targets.items() if target["ResourceId"] in with_policy
        }

    def _targets(self, cluster: str, names: list[str]) -> dict[str, dict]:
        if not names:
            return {}
        ids = [f"service/{cluster}/{n}" for n in names]

        def read() -> list[dict]:
            paginator = self.autoscaling.get_paginator("describe_scalable_targets")
            pages = paginator.paginate(
                ServiceNamespace="ecs", ResourceIds=ids, ScalableDimension=DIMENSION
            )
            return [t for page in pages for t in page["ScalableTargets"]]

        found = self.call(DESCRIBE_TARGETS, f"cluster {cluster}", read)
        wanted = set(ids)
        return {t["ResourceId"].rsplit("/", 1)[-1]: t for t in found if t["ResourceId"] in wanted}

    def _target_limits(self, cluster: str, name: str, settings: ScalingSettings) -> tuple[int, int]:
        """The min/max the target will have: the settings given, the rest from the target."""
        existing = self._targets(cluster, [name]).get(name)
        low = settings.min_instances if settings.min_instances is not None else None
        high = settings.max_instances if settings.max_instances is not None else None
        if existing is not None:
            low = existing["MinCapacity"] if low is None else low
            high = existing["MaxCapacity"] if high is None else high
        if low is None or high is None:
            raise InvalidRequest(
                f"Service {name} has no auto scaling target yet: give both min and max instances "
                "to create one.",
                provider="ECS",
                resource=f"service {name} in cluster {cluster}",
            )
        return low, high

    def _register_target(
        self, cluster: str, name: str, low: int, high: int, progress: ProgressCallback | None
    ) -> None:
        say(progress, f"Setting auto scaling target for {name} to {low}..{high} tasks")
        self.call(
            REGISTER_TARGET,
            f"service/{cluster}/{name}",
            self.autoscaling.register_scalable_target,
            ServiceNamespace="ecs",
            ResourceId=f"service/{cluster}/{name}",
            ScalableDimension=DIMENSION,
            MinCapacity=low,
            MaxCapacity=high,
        )

    def _load_balancer_urls(self, services: list[dict]) -> dict[str, str]:
        """service name -> URL of the ELBv2 listener that forwards to its target group."""
        wanted = {
            svc["serviceName"]: lb["targetGroupArn"]
            for svc in services
            for lb in svc.get("loadBalancers", [])[:1]
            if lb.get("targetGroupArn")
        }
        if not wanted:
            return {}
        groups = self.call(
            DESCRIBE_TARGET_GROUPS,
            "the services' target groups",
            self._all_pages,
            self.elbv2,
            "describe_target_groups",
            "TargetGroups",
            TargetGroupArns=sorted(set(wanted.values())),
        )
        balancers = sorted({arn for g in groups for arn in g.get("LoadBalancerArns", [])})
        urls_by_group: dict[str, str] = {}
        for balancer in balancers:
            described = self.call(
                DESCRIBE_LOAD_BALANCERS,
                f"load balancer {balancer}",
                self.elbv2.describe_load_balancers,
                LoadBalancerArns=[balancer],
            )["LoadBalancers"][0]
            listeners = self.call(
                DESCRIBE_LISTENERS,
                f"load balancer {balancer}",
                self._all_pages,
                self.elbv2,
                "describe_listeners",
                "Listeners",
                LoadBalancerArn=balancer,
            )
            for group, url in _listener_urls(described, listeners).items():
                urls_by_group.setdefault(group, url)
        return {name: urls_by_group[g] for name, g in wanted.items() if g in urls_by_group}

    @staticmethod
    def _all_pages(client: Any, operation: str, key: str, **params: Any) -> list[dict]:
        pages = client.get_paginator(operation).paginate(**params)
        return [item for page in pages for item in page[key]]

    def _update(self, cluster: str, name: str, **changes: Any) -> dict:
        return self.call(
            UPDATE_SERVICE,
            f"service {name} in cluster {cluster}",
            self.ecs.update_service,
            cluster=cluster,
            service=name,
            **changes,
        )["service"]

    def _wait_stable(
        self,
        cluster: str,
        name: str,
        before: dict,
        updated: dict,
        timeout_s: float,
        progress: ProgressCallback | None,
    ) -> OperationResult:
        primary = _primary(updated)
        operation_id = primary["id"] if primary else ""
        revision_before = _short_task_definition(before["taskDefinition"])
        say(progress, f"Deployment {operation_id} started")

        def check() -> Step:
            return _stability(self._service(cluster, name), operation_id)

        outcome = poll_until(check, timeout_s=timeout_s, pacing=self.pacing, progress=progress)
        if not isinstance(outcome, Step):
            result = unknown_result(
                operation_id=operation_id,
                revision_before=revision_before,
                where=f"the AWS console (ECS > {cluster} > {name} > Deployments)",
                timeout_s=timeout_s,
                error=outcome,
            )
        else:
            result = OperationResult(
                status="failed" if outcome.failed else "succeeded",
                operation_id=operation_id,
                revision_before=revision_before,
                revision_after=outcome.revision,
                message=outcome.message,
            )
        if result.status != "succeeded":
            result.diagnostics = self._stopped_tasks(cluster, name, operation_id)
            for line in result.diagnostics:
                say(progress, line)
        return result

    def _stopped_tasks(self, cluster: str, name: str, deployment_id: str) -> list[str]:
        """Why the deployment's tasks stopped, one line each (DescribeTasks stoppedReason etc.)."""
        resource = f"service {name} in cluster {cluster}"
        try:
            arns = self.call(
                LIST_TASKS,
                resource,
                self.ecs.list_tasks,
                cluster=cluster,
                serviceName=name,
                desiredStatus="STOPPED",
            )["taskArns"]
            if not arns:
                return []
            tasks = self.call(
                DESCRIBE_TASKS, resource, self.ecs.describe_tasks, cluster=cluster, tasks=arns[:100]
            )["tasks"]
        except CloudError as exc:
            return [f"The stopped tasks could not be read: {exc}"]
        ours = [t for t in tasks if not deployment_id or t.get("startedBy") == deployment_id]
        ours.sort(key=lambda t: str(t.get("stoppedAt") or t.get("createdAt") or ""), reverse=True)
        return [_stopped_line(t) for t in ours[:MAX_STOPPED_TASKS]]

    def translate_error(self, exc: Exception, permission: str, resource: str) -> CloudError | None:
        status: int | None = None
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            detail = exc.response.get("Error", {}).get("Message", "") or code
            cls = _class_for_code(code, status)
        elif isinstance(exc, ReadTimeoutError | ConnectTimeoutError):
            cls, detail = Timeout, str(exc)
        elif isinstance(exc, NoCredentialsError):
            cls, detail = PermissionDenied, "no AWS credentials found in the standard chain"
        elif isinstance(exc, BotoCoreError):
            cls, detail = Unavailable, str(exc)
        else:
            return None
        return build_error(
            cls,
            provider="ECS",
            account=self.account.name,
            permission=permission,
            resource=resource,
            detail=detail,
            status=status,
            hint=f"Allow '{permission}' in the IAM policy of the console's role.",
        )


def _class_for_code(code: str, status: int | None) -> type[CloudError]:
    if code in _PERMISSION_CODES:
        return PermissionDenied
    if code in _NOT_FOUND_CODES:
        return NotFound
    if code in _THROTTLE_CODES:
        return Throttled
    if code in _SERVER_CODES or (status or 0) >= 500:
        return Unavailable
    return InvalidRequest


def _register_fields(ecs: Any) -> list[str]:
    """Fields RegisterTaskDefinition accepts that DescribeTaskDefinition returns (SDK's model)."""
    model = ecs.meta.service_model
    accepted = model.operation_model("RegisterTaskDefinition").input_shape.members
    described = model.operation_model("DescribeTaskDefinition").output_shape.members
    returned = described["taskDefinition"].members
    return [name for name in accepted if name in returned]


def _require_rolling_update(service: dict, cluster: str, action: str) -> None:
    """Refuse services whose deployments UpdateService cannot roll out (CodeDeploy, external)."""
    kind = (service.get("deploymentController") or {}).get("type") or "ECS"
    if kind == "ECS":
        return
    name = service["serviceName"]
    how = _OTHER_CONTROLLERS.get(kind, "its deployments are not run by ECS rolling updates")
    raise InvalidRequest(
        f"The console cannot {action} ECS service {name} in cluster {cluster}: it uses the "
        f"{kind} deployment controller, and {how}. The console rolls out only services with "
        "the ECS (rolling update) deployment controller.",
        provider="ECS",
        resource=f"service {name} in cluster {cluster}",
    )


_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:@+-]*$", re.IGNORECASE)


def _check_image(image: str, resource: str) -> None:
    if not image or len(image) > 255 or not _IMAGE.match(image) or image.endswith((":", "@")):
        raise InvalidRequest(
            f"'{image}' is not a container image reference for {resource}: use "
            "repository:tag or repository@sha256:digest (at most 255 characters).",
            provider="ECS",
            resource=resource,
        )


def _release_container(service: dict, definition: dict, resource: str, named: str = "") -> dict:
    """The container a release replaces: the one named, else the load balancer's, else the only
    or only essential one."""
    containers = definition.get("containerDefinitions", [])
    by_name = {c["name"]: c for c in containers}
    if named:
        if named in by_name:
            return by_name[named]
        raise InvalidRequest(
            f"{_short_task_definition(definition['taskDefinitionArn'])} has no container "
            f"'{named}' (containers: {', '.join(by_name)}).",
            provider="ECS",
            resource=resource,
        )
    targeted = list(dict.fromkeys(lb["containerName"] for lb in service.get("loadBalancers", [])))
    if len(targeted) == 1 and targeted[0] in by_name:
        return by_name[targeted[0]]
    if len(targeted) > 1:
        reason = f"its load balancers target {len(targeted)} containers ({', '.join(targeted)})"
    else:
        essential = [c for c in containers if c.get("essential", True)]
        if len(containers) == 1 or len(essential) == 1:
            return containers[0] if len(containers) == 1 else essential[0]
        names = ", ".join(c["name"] for c in essential or containers)
        reason = f"{definition['family']} has {len(essential or containers)} essential containers ({names}) and no load balancer names one"
    raise InvalidRequest(
        f"The console cannot tell which container of {resource} the new image is for: {reason}. "
        "Name it as container=image (e.g. server=repo/image:tag).",
        provider="ECS",
        resource=resource,
    )


def _primary(service: dict) -> dict | None:
    return next((d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), None)


def _stability(service: dict, operation_id: str) -> Step:
    """Our deployment is PRIMARY, runs its desired count, is COMPLETED and alone; or it FAILED.

    ECS keeps `rolloutState` COMPLETED when only the desired count changes, so a scale-out is
    judged on the PRIMARY deployment's running vs desired count too
    (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Deployment.html).
    """
    revision = _short_task_definition(service["taskDefinition"])
    deployments = service.get("deployments", [])
    ours = next((d for d in deployments if d.get("id") == operation_id), None)
    primary = _primary(service)
    if ours is not None and ours.get("rolloutState") == "FAILED":
        reason = ours.get("rolloutStateReason") or "ECS marked the deployment FAILED."
        back = ""
        if primary is not None and primary is not ours:
            back = (
                f" ECS is rolling back to {_short_task_definition(primary['taskDefinition'])} "
                f"(deployment {primary['id']})."
            )
        return Step(True, f"Rollout failed: {reason}{back}", failed=True, revision=revision)
    if primary is None or primary is not ours:
        said = _events_about(service, operation_id)
        newer = primary["id"] if primary else "none"
        if "deployment failed" in said:
            message = f"Rollout failed: ECS said: {said}"
        else:
            message = f"Deployment {operation_id} was replaced by {newer} before it finished."
            message += f" ECS said: {said}" if said else ""
        return Step(True, message, failed=True, revision=revision)
    state = primary.get("rolloutState", "")
    running, desired = primary.get("runningCount", 0), primary.get("desiredCount", 0)
    old = sum(d.get("runningCount", 0) for d in deployments if d is not primary)
    line = f"{running} of {desired} tasks running"
    if primary.get("failedTasks"):
        line += f", {primary['failedTasks']} failed to start"
    if old:
        line += f", {old} old still running"
    if state:
        line += f", rollout {state}"
    settled = running == desired and len(deployments) == 1 and state in ("", "COMPLETED")
    if settled:
        return Step(True, f"Deployment {operation_id} is stable ({line}).", revision=revision)
    return Step(False, line, revision=revision)


def _events_about(service: dict, deployment_id: str) -> str:
    """The newest service event naming the deployment (e.g. "deployment failed: ...")."""
    for event in service.get("events", []):
        if deployment_id and deployment_id in event.get("message", ""):
            return event["message"]
    return ""


def _stopped_line(task: dict) -> str:
    """One task's stop, as DescribeTasks reports it: stopCode, stoppedReason, each container."""
    task_id = task.get("taskArn", "").rsplit("/", 1)[-1]
    definition = _short_task_definition(task.get("taskDefinitionArn", ""))
    code = f" ({task['stopCode']})" if task.get("stopCode") else ""
    line = f"Task {task_id} of {definition} stopped{code}: {task.get('stoppedReason') or 'no reason given'}"
    for container in task.get("containers", []):
        parts = []
        if container.get("exitCode") is not None:
            parts.append(f"exit code {container['exitCode']}")
        if container.get("reason"):
            parts.append(container["reason"])
        if parts:
            line += f"; container {container.get('name', '?')}: {', '.join(parts)}"
    return line


def _deployment_ready(deployments: list[dict]) -> bool | None:
    states = {d.get("rolloutState") for d in deployments}
    if "FAILED" in states:
        return False
    if "COMPLETED" in states:
        return True
    return None


def _listener_urls(balancer: dict, listeners: list[dict]) -> dict[str, str]:
    """target group ARN -> URL, from HTTP(S) listeners whose default action forwards to it."""
    urls: dict[str, str] = {}
    ordered = sorted(
        listeners, key=lambda one: (one.get("Protocol") != "HTTPS", one.get("Port", 0))
    )
    for listener in ordered:
        scheme = {"HTTPS": "https", "HTTP": "http"}.get(listener.get("Protocol", ""))
        if scheme is None:
            continue  # TCP/UDP/TLS listeners do not say which protocol the service speaks
        port = listener.get("Port")
        default = {"https": 443, "http": 80}[scheme]
        url = f"{scheme}://{balancer['DNSName']}" + (f":{port}" if port != default else "")
        for action in listener.get("DefaultActions", []):
            if action.get("Type") != "forward":
                continue
            groups = [action.get("TargetGroupArn")] + [
                g.get("TargetGroupArn")
                for g in (action.get("ForwardConfig") or {}).get("TargetGroups", [])
            ]
            for group in filter(None, groups):
                urls.setdefault(group, url)
    return urls


def _service_connect_url(service: dict) -> str:
    """The Service Connect client alias (dnsName:port) the PRIMARY deployment publishes."""
    primary = _primary(service) or {}
    config = primary.get("serviceConnectConfiguration") or {}
    if not config.get("enabled"):
        return ""
    for published in config.get("services", []):
        for alias in published.get("clientAliases", []):
            if alias.get("dnsName") and alias.get("port"):
                return f"http://{alias['dnsName']}:{alias['port']}"
    return ""


def _short_task_definition(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _family_of(arn: str) -> str:
    return _short_task_definition(arn).rsplit(":", 1)[0]


def _revision_number(arn: str) -> int:
    tail = _short_task_definition(arn).rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _container_images(definition: dict) -> str:
    """The image of the only or essential container (comma-joined when several are essential)."""
    containers = definition.get("containerDefinitions", [])
    essential = [c for c in containers if c.get("essential", True)] or containers
    return ", ".join(c.get("image", "") for c in essential)


def _iso(value: Any) -> str:
    if value is None:
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _tags(service: dict) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in service.get("tags", [])}


def _ingress(service: dict) -> str:
    network = (service.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
    if network.get("assignPublicIp") == "ENABLED":
        return "all"
    if service.get("loadBalancers"):
        return "internal-and-cloud-load-balancing"
    return "internal"


def _snapshot(
    service: dict, task_definition: dict, target: dict | None, url: str, region: str
) -> ServiceSnapshot:
    containers = task_definition.get("containerDefinitions") or [{}]
    container = next((c for c in containers if c.get("essential", True)), containers[0])
    env = [
        EnvVar(name=e["name"], is_secret_ref=False, value=e.get("value", ""))
        for e in container.get("environment", [])
    ]
    env += [EnvVar(name=s["name"], is_secret_ref=True) for s in container.get("secrets", [])]
    desired = service.get("desiredCount", 0)
    cpu = task_definition.get("cpu") or (str(container["cpu"]) if container.get("cpu") else None)
    memory = task_definition.get("memory") or (
        str(container["memory"]) if container.get("memory") else None
    )
    return ServiceSnapshot(
        provider="aws",
        resource=service["serviceName"],
        url=url,
        image=container.get("image", ""),
        revision=_short_task_definition(service["taskDefinition"]),
        region=region or service.get("serviceArn", "::::").split(":")[3],
        scaling=ScalingSettings(
            min_instances=target["MinCapacity"] if target else desired,
            max_instances=target["MaxCapacity"] if target else desired,
            concurrency=None,
            cpu=cpu,
            memory=memory,
        ),
        ready_instances=service.get("runningCount"),
        ingress=_ingress(service),
        allows_unauthenticated=None,
        service_identity=task_definition.get("taskRoleArn", ""),
        env=env,
        labels=_tags(service),
        raw=json.loads(
            json.dumps(
                {"service": service, "taskDefinition": task_definition, "autoScaling": target},
                default=str,
            )
        ),
        created=_iso(service.get("createdAt")),
    )


def _iso(value: Any) -> str:
    """boto3 answers datetimes; moto and JSON round trips may answer strings."""
    if value is None:
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
