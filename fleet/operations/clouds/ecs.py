"""AWS ECS (Fargate or EC2) adapter over boto3's `ecs` and `application-autoscaling` clients.

Redeploy is `update_service(forceNewDeployment=True)` followed by the stability check the boto3
`services_stable` waiter makes (one PRIMARY deployment, rollout COMPLETED). Scaling writes the
Application Auto Scaling target, the desired count and, for cpu/memory, a new task definition
revision.
"""

from __future__ import annotations

import json
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
    ScalingSettings,
    ServiceRef,
    ServiceSnapshot,
)
from fleet.operations.clouds.waiting import Step, poll_until, say, unknown_result

DESCRIBE_SERVICES = "ecs:DescribeServices"
LIST_SERVICES = "ecs:ListServices"
DESCRIBE_TASK_DEFINITION = "ecs:DescribeTaskDefinition"
REGISTER_TASK_DEFINITION = "ecs:RegisterTaskDefinition"
UPDATE_SERVICE = "ecs:UpdateService"
DESCRIBE_TARGETS = "application-autoscaling:DescribeScalableTargets"
REGISTER_TARGET = "application-autoscaling:RegisterScalableTarget"
DIMENSION = "ecs:service:DesiredCount"

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
}
_THROTTLE_CODES = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
}
_SERVER_CODES = {"ServerException", "InternalFailure", "InternalServiceException"}
# Fields of a task definition that register_task_definition accepts back.
_REGISTER_FIELDS = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
)


class EcsAdapter(CloudAdapter):
    """Services in one ECS cluster (account.cluster) and region."""

    provider = "aws"

    def __init__(
        self,
        account: AccountRef,
        *,
        pacing: Pacing = DEFAULT_PACING,
        ecs: Any = None,
        autoscaling: Any = None,
    ) -> None:
        super().__init__(account, pacing=pacing)
        if ecs is None or autoscaling is None:
            session = aws_session(account)
            config = Config(
                retries={"total_max_attempts": 1},  # the adapter retries, with backoff
                connect_timeout=pacing.request_timeout_s,
                read_timeout=pacing.request_timeout_s,
            )
            endpoint = account.endpoint or None
            ecs = ecs or session.client("ecs", endpoint_url=endpoint, config=config)
            autoscaling = autoscaling or session.client(
                "application-autoscaling", endpoint_url=endpoint, config=config
            )
        self.ecs = ecs
        self.autoscaling = autoscaling

    # -- reading -----------------------------------------------------------------------------
    def describe(self, service: ServiceRef) -> ServiceSnapshot:
        """Service, its task definition and its auto scaling target, as one snapshot."""
        cluster = self._cluster(service.account)
        svc = self._service(cluster, service.resource)
        task_definition = self._task_definition(svc["taskDefinition"])
        target = self._targets(cluster, [service.resource]).get(service.resource)
        return _snapshot(svc, task_definition, target, service.url, self.account.region)

    def list_services(self, account: AccountRef, label: str = "") -> list[ServiceSnapshot]:
        """Services in the cluster whose tags match `label`."""
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
        targets = self._targets(cluster, [s["serviceName"] for s in matching])
        definitions: dict[str, dict] = {}
        snapshots = []
        for svc in matching:
            arn = svc["taskDefinition"]
            if arn not in definitions:
                definitions[arn] = self._task_definition(arn)
            target = targets.get(svc["serviceName"])
            snapshots.append(_snapshot(svc, definitions[arn], target, "", account.region))
        return snapshots

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
        say(progress, f"Forcing a new deployment of {name} in cluster {cluster}")
        updated = self._update(cluster, name, forceNewDeployment=True)
        return self._wait_stable(cluster, name, before, updated, timeout_s, progress)

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
        update: dict[str, Any] = {}
        if settings.min_instances is not None or settings.max_instances is not None:
            low, high = self._register_target(cluster, name, settings, progress)
            desired = before["desiredCount"]
            if not low <= desired <= high:
                update["desiredCount"] = max(low, min(high, desired))
                say(progress, f"Moving desired count from {desired} to {update['desiredCount']}")
        if settings.cpu is not None or settings.memory is not None:
            update["taskDefinition"] = self._new_revision(
                before["taskDefinition"], settings, progress
            )
        if not update:
            revision = _short_task_definition(before["taskDefinition"])
            return OperationResult(
                status="succeeded",
                revision_before=revision,
                revision_after=revision,
                message="Auto scaling limits updated.",
            )
        updated = self._update(cluster, name, **update)
        return self._wait_stable(cluster, name, before, updated, timeout_s, progress)

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
        return self.call(
            DESCRIBE_TASK_DEFINITION,
            f"task definition {arn}",
            self.ecs.describe_task_definition,
            taskDefinition=arn,
        )["taskDefinition"]

    def _targets(self, cluster: str, names: list[str]) -> dict[str, dict]:
        if not names:
            return {}
        ids = [f"service/{cluster}/{n}" for n in names]
        found = self.call(
            DESCRIBE_TARGETS,
            f"cluster {cluster}",
            self.autoscaling.describe_scalable_targets,
            ServiceNamespace="ecs",
            ResourceIds=ids,
            ScalableDimension=DIMENSION,
        )["ScalableTargets"]
        return {t["ResourceId"].rsplit("/", 1)[-1]: t for t in found}

    def _register_target(
        self, cluster: str, name: str, settings: ScalingSettings, progress: ProgressCallback | None
    ) -> tuple[int, int]:
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
        return low, high

    def _new_revision(
        self, arn: str, settings: ScalingSettings, progress: ProgressCallback | None
    ) -> str:
        current = self._task_definition(arn)
        request = {k: current[k] for k in _REGISTER_FIELDS if current.get(k) is not None}
        if settings.cpu is not None:
            request["cpu"] = settings.cpu
        if settings.memory is not None:
            request["memory"] = settings.memory
        say(
            progress,
            f"Registering a new revision of {current['family']} with cpu {request.get('cpu')} "
            f"and memory {request.get('memory')}",
        )
        registered = self.call(
            REGISTER_TASK_DEFINITION,
            f"task definition family {current['family']} (and iam:PassRole on its roles)",
            self.ecs.register_task_definition,
            **request,
        )["taskDefinition"]
        return registered["taskDefinitionArn"]

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
            return unknown_result(
                operation_id=operation_id,
                revision_before=revision_before,
                where=f"the AWS console (ECS > {cluster} > {name} > Deployments)",
                timeout_s=timeout_s,
                error=outcome,
            )
        return OperationResult(
            status="failed" if outcome.failed else "succeeded",
            operation_id=operation_id,
            revision_before=revision_before,
            revision_after=outcome.revision,
            message=outcome.message,
        )

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


def _primary(service: dict) -> dict | None:
    return next((d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), None)


def _stability(service: dict, operation_id: str) -> Step:
    """The `services_stable` rule, plus ECS's own rollout state, as one progress line."""
    revision = _short_task_definition(service["taskDefinition"])
    primary = _primary(service)
    if primary is None or primary["id"] != operation_id:
        newer = primary["id"] if primary else "none"
        return Step(
            True,
            f"Deployment {operation_id} was replaced by {newer} before it finished.",
            failed=True,
            revision=revision,
        )
    state = primary.get("rolloutState", "")
    running, desired = service.get("runningCount", 0), service.get("desiredCount", 0)
    line = f"{running} of {desired} tasks running" + (f", rollout {state}" if state else "")
    if state == "FAILED":
        reason = primary.get("rolloutStateReason", "")
        return Step(True, f"Rollout failed: {reason}", failed=True, revision=revision)
    single = len(service.get("deployments", [])) == 1
    settled = state == "COMPLETED" if state else running == desired
    if single and settled:
        return Step(True, f"Deployment {operation_id} is stable ({line}).", revision=revision)
    return Step(False, line, revision=revision)


def _short_task_definition(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


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
            json.dumps({"service": service, "taskDefinition": task_definition}, default=str)
        ),
    )
