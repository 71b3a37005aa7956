"""ECS deployment behaviour that moto does not model, layered over moto's real answers.

moto (server mode) keeps clusters, services, task definitions, tags and deployment controllers
faithfully, but its deployments never move: UpdateService with a new task definition keeps the old
deployment, a scale-out is complete the moment it is asked for, no task ever stops, and a CODE_DEPLOY
service accepts a new task definition. Real ECS does none of that, and an adapter that trusts those
shortcuts reports "succeeded" while production has not changed. `EcsProxy` forwards every call to
moto and rewrites only what the real API does differently, one step per DescribeServices call:

- UpdateService starts a new PRIMARY deployment (IN_PROGRESS, 0 running) when the task definition
  changes or a new deployment is forced; the old one becomes ACTIVE and drains as new tasks start.
  A desired-count change alone starts no deployment: the PRIMARY keeps its rolloutState (COMPLETED)
  while the new tasks start. (API_UpdateService, API_Deployment.)
- A deployment is COMPLETED only once it runs its desired count and the old ones are gone.
- With `plan(..., fail_new_tasks=True)`, the new deployment's tasks stop as they start (stopped
  tasks with stopCode / stoppedReason / container exit codes, visible through ListTasks and
  DescribeTasks); after the circuit breaker's threshold the deployment turns FAILED with its
  reason and, with rollback on, ECS starts a new PRIMARY deployment on the last good revision.
  (deployment-circuit-breaker.html, API_Task, API_Container.)
- CODE_DEPLOY and EXTERNAL services refuse a new task definition or a forced deployment through
  UpdateService, as ECS does (API_UpdateService).
- Application Auto Scaling pages as documented: DescribeScalingPolicies 10 per page (moto: 100),
  DescribeScalableTargets 50; a ScalableDimension filter needs a resource id.

Known moto gaps left alone (tests do not depend on them): no `registeredAt` on task definitions,
ListTaskDefinitions ignores `sort` and paging, and DescribeScalableTargets repeats its NextToken
after the second page (botocore's paginator stops with "same next token received twice").
"""

from __future__ import annotations

import copy
import dataclasses
import http.client
import json
import math
import threading
import time
import uuid
from dataclasses import dataclass

from fleet.demo.emulators.aws_faults import AwsFaultProxy, iam_action
from fleet.demo.emulators.server import RecordedRequest, Reply

_ECS_TARGET = "AmazonEC2ContainerServiceV20141113"
# Fields whose change starts a new deployment rather than editing the current one
# (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html).
_NEW_DEPLOYMENT_FIELDS = (
    "taskDefinition",
    "networkConfiguration",
    "platformVersion",
    "loadBalancers",
    "capacityProviderStrategy",
    "serviceConnectConfiguration",
    "volumeConfigurations",
)


@dataclass
class Plan:
    """How one service's tasks behave from now on (a test's script of the cluster)."""

    tasks_per_poll: int = 1  # tasks that start (or stop) between two DescribeServices calls
    start_tasks: bool = True  # False: tasks stay PENDING (no capacity), the rollout never ends
    fail_new_tasks: bool = False  # tasks of deployments started from now on stop at once
    rollback: bool = True  # the circuit breaker's rollback option
    stop_code: str = "EssentialContainerExited"
    stopped_reason: str = "Essential container in task exited"
    exit_code: int | None = 1
    container_reason: str = ""


class EcsProxy(AwsFaultProxy):
    """moto behind AWS faults, with ECS deployments that move the way the real API's do."""

    def __init__(self, upstream: str, *, port: int = 0) -> None:
        super().__init__(upstream, port=port)
        self.state_lock = threading.RLock()
        self.deployments: dict[str, list[dict]] = {}  # "cluster/service" -> API_Deployment list
        self.events: dict[str, list[dict]] = {}
        self.plans: dict[str, Plan] = {}
        self.stopped: dict[str, list[dict]] = {}  # "cluster/service" -> API_Task (STOPPED)
        self.service_connect: dict[str, dict] = {}  # "cluster/service" -> its configuration

    def plan(self, service: str, cluster: str = "mcp", **behaviour: object) -> Plan:
        """Script how `service`'s tasks behave from now on."""
        with self.state_lock:
            self.plans[f"{cluster}/{service}"] = Plan(**behaviour)  # type: ignore[arg-type]
            return self.plans[f"{cluster}/{service}"]

    # -- dispatch ----------------------------------------------------------------------------
    def answer(self, request: RecordedRequest) -> Reply:
        hooks = {
            "ecs:CreateService": self._create_service,
            "ecs:UpdateService": self._update_service,
            "ecs:DescribeServices": self._describe_services,
            "ecs:ListTasks": self._list_tasks,
            "ecs:DescribeTasks": self._describe_tasks,
            "application-autoscaling:DescribeScalingPolicies": self._describe_policies,
            "application-autoscaling:DescribeScalableTargets": self._describe_targets,
        }
        hook = hooks.get(iam_action(request))
        if hook is None:
            return self._forward(request)
        with self.state_lock:
            return hook(request)

    # -- CreateService -----------------------------------------------------------------------
    def _create_service(self, request: RecordedRequest) -> Reply:
        """moto drops serviceConnectConfiguration; ECS shows it on each deployment it applies to
        (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Deployment.html)."""
        reply = self._forward(request)
        body = request.body or {}
        if reply.status == 200 and body.get("serviceConnectConfiguration"):
            key = f"{_short(body.get('cluster', 'default'))}/{body['serviceName']}"
            self.service_connect[key] = body["serviceConnectConfiguration"]
        return reply

    # -- UpdateService -----------------------------------------------------------------------
    def _update_service(self, request: RecordedRequest) -> Reply:
        body = request.body or {}
        cluster = _short(body.get("cluster", "default"))
        name = _short(body.get("service", ""))
        key = f"{cluster}/{name}"
        current = self._moto(request, "DescribeServices", {"cluster": cluster, "services": [name]})
        found = [s for s in current.get("services", []) if s.get("status") == "ACTIVE"]
        if found:
            refusal = _controller_refusal(found[0], body)
            if refusal:
                return self._client_error("InvalidParameterException", refusal)
            if _controller(found[0]) == "ECS":
                self._seed(key, found[0])
        reply = self._forward(request)
        if reply.status != 200 or not found or _controller(found[0]) != "ECS":
            return reply
        answer = json.loads(reply.body)
        service = answer["service"]
        task_definition = self._arn_of(request, service["taskDefinition"])
        deployments = self.deployments[key]
        primary = _primary(deployments)
        starts_deployment = body.get("forceNewDeployment") or any(
            field in body for field in _NEW_DEPLOYMENT_FIELDS if field != "taskDefinition"
        )
        if task_definition != primary["taskDefinition"]:
            starts_deployment = True
        if starts_deployment:
            primary["status"] = "ACTIVE"
            plan = self.plans.get(key, Plan())
            deployments.insert(
                0, self._new_deployment(primary, task_definition, service, plan.fail_new_tasks)
            )
        else:
            # Only the count changed: same deployment, same rolloutState (API_Deployment).
            primary["desiredCount"] = service["desiredCount"]
            primary["pendingCount"] = max(0, service["desiredCount"] - primary["runningCount"])
        self._render(key, service)
        return _json_reply(reply, answer)

    def _new_deployment(
        self, previous: dict, task_definition: str, service: dict, failing: bool
    ) -> dict:
        deployment_id = f"ecs-svc/{uuid.uuid4().int % 10**19:019d}"
        now = time.time()
        fresh = copy.deepcopy(previous)
        fresh.update(
            id=deployment_id,
            status="PRIMARY",
            taskDefinition=task_definition,
            desiredCount=service["desiredCount"],
            pendingCount=service["desiredCount"],
            runningCount=0,
            failedTasks=0,
            rolloutState="IN_PROGRESS",
            rolloutStateReason=f"ECS deployment {deployment_id} in progress.",
            createdAt=now,
            updatedAt=now,
        )
        fresh["_failing"] = failing
        return fresh

    # -- DescribeServices --------------------------------------------------------------------
    def _describe_services(self, request: RecordedRequest) -> Reply:
        reply = self._forward(request)
        if reply.status != 200:
            return reply
        answer = json.loads(reply.body)
        cluster = _short((request.body or {}).get("cluster", "default"))
        for service in answer.get("services", []):
            if service.get("status") != "ACTIVE" or _controller(service) != "ECS":
                continue
            key = f"{cluster}/{service['serviceName']}"
            self._seed(key, service)
            self._step(request, key, service)
            self._render(key, service)
        return _json_reply(reply, answer)

    def _seed(self, key: str, service: dict) -> None:
        """Adopt moto's single deployment the first time the proxy sees a service."""
        if key in self.deployments:
            return
        deployments = copy.deepcopy(service.get("deployments") or [])
        for deployment in deployments:
            deployment["_failing"] = False
        self.deployments[key] = deployments
        self.events[key] = []
        self.stopped[key] = []

    def _step(self, request: RecordedRequest, key: str, service: dict) -> None:
        """One interval of the ECS scheduler between two reads of the service."""
        plan = self.plans.get(key, Plan())
        deployments = self.deployments[key]
        primary = _primary(deployments)
        desired = primary["desiredCount"]
        if primary["rolloutState"] == "FAILED":
            pass  # "A deployment in FAILED state doesn't launch any new tasks." (API_Deployment)
        elif primary.get("_failing"):
            self._fail_tasks(request, key, service, primary, plan)
        elif plan.start_tasks:
            primary["runningCount"] = min(desired, primary["runningCount"] + plan.tasks_per_poll)
            if primary["runningCount"] > desired:
                primary["runningCount"] = desired
        primary = _primary(deployments)
        primary["pendingCount"] = max(0, primary["desiredCount"] - primary["runningCount"])
        # Rolling update (minimumHealthyPercent 100): old tasks stop only as new ones run.
        old = [d for d in deployments if d is not primary]
        surplus = sum(d["runningCount"] for d in old) + primary["runningCount"] - desired
        for deployment in old:
            drained = min(deployment["runningCount"], max(0, surplus))
            deployment["runningCount"] -= drained
            surplus -= drained
        # A drained deployment leaves the list; a FAILED one stays (as ACTIVE) until the rollback
        # it caused has completed, so DescribeServices still shows why.
        self.deployments[key] = deployments = [
            d
            for d in deployments
            if d is primary
            or d["runningCount"] > 0
            or (d["rolloutState"] == "FAILED" and primary["rolloutState"] != "COMPLETED")
        ]
        old_running = sum(d["runningCount"] for d in deployments if d is not primary)
        settled = primary["runningCount"] == primary["desiredCount"] and old_running == 0
        if primary["rolloutState"] == "IN_PROGRESS" and settled:
            primary["rolloutState"] = "COMPLETED"
            primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
            self._event(key, f"(service {service['serviceName']}) has reached a steady state.")
        primary["updatedAt"] = time.time()

    def _fail_tasks(
        self, request: RecordedRequest, key: str, service: dict, deployment: dict, plan: Plan
    ) -> None:
        """New tasks stop as they start; the circuit breaker trips at its threshold.

        Threshold: 0.5 x desired count, at least 3 and at most 200; on FAILED with rollback on,
        ECS rolls back to the last deployment that completed
        (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html).
        """
        name = service["serviceName"]
        for _ in range(plan.tasks_per_poll):
            deployment["failedTasks"] += 1
            self.stopped[key].append(self._stopped_task(request, service, deployment, plan))
        threshold = min(200, max(3, math.ceil(0.5 * deployment["desiredCount"])))
        if deployment["failedTasks"] < threshold:
            return
        deployment["rolloutState"] = "FAILED"
        deployment["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
        self._event(
            key,
            f"(service {name}) (deployment {deployment['id']}) deployment failed: "
            "tasks failed to start.",
        )
        good = next(
            (d for d in self.deployments[key] if d is not deployment and not d.get("_failing")),
            None,
        )
        if not plan.rollback or good is None:
            return
        deployment["status"] = "ACTIVE"
        self._event(key, f"(service {name}) rolling back to deployment {good['id']}.")
        rollback = self._new_deployment(deployment, good["taskDefinition"], service, False)
        rollback["desiredCount"] = deployment["desiredCount"]
        self.deployments[key].insert(0, rollback)

    def _stopped_task(
        self, request: RecordedRequest, service: dict, deployment: dict, plan: Plan
    ) -> dict:
        """A task as DescribeTasks shows it after it stopped (API_Task, API_Container)."""
        region, account = service["serviceArn"].split(":")[3:5]
        cluster = _short(service["clusterArn"])
        task_arn = f"arn:aws:ecs:{region}:{account}:task/{cluster}/{uuid.uuid4().hex}"
        definition = self._moto(
            request, "DescribeTaskDefinition", {"taskDefinition": deployment["taskDefinition"]}
        )["taskDefinition"]
        now = time.time()
        containers = []
        for container in definition["containerDefinitions"]:
            shown = {
                "containerArn": f"arn:aws:ecs:{region}:{account}:container/{uuid.uuid4()}",
                "taskArn": task_arn,
                "name": container["name"],
                "image": container.get("image", ""),
                "lastStatus": "STOPPED",
            }
            if plan.exit_code is not None:
                shown["exitCode"] = plan.exit_code
            if plan.container_reason:
                shown["reason"] = plan.container_reason
            containers.append(shown)
        return {
            "taskArn": task_arn,
            "clusterArn": service["clusterArn"],
            "taskDefinitionArn": deployment["taskDefinition"],
            "startedBy": deployment["id"],  # service tasks carry their deployment id
            "group": f"service:{service['serviceName']}",
            "lastStatus": "STOPPED",
            "desiredStatus": "STOPPED",
            "stopCode": plan.stop_code,
            "stoppedReason": plan.stopped_reason,
            "createdAt": now,
            "stoppingAt": now,
            "stoppedAt": now,
            "launchType": deployment.get("launchType") or "FARGATE",
            "containers": containers,
        }

    def _render(self, key: str, service: dict) -> None:
        """Write the modelled deployments into moto's service answer."""
        deployments = self.deployments[key]
        primary = _primary(deployments)
        service["deployments"] = [
            {k: v for k, v in d.items() if not k.startswith("_")} for d in deployments
        ]
        if key in self.service_connect:
            for deployment in service["deployments"]:
                deployment["serviceConnectConfiguration"] = self.service_connect[key]
        service["taskDefinition"] = primary["taskDefinition"]
        service["desiredCount"] = primary["desiredCount"]
        service["runningCount"] = sum(d["runningCount"] for d in deployments)
        service["pendingCount"] = sum(d.get("pendingCount", 0) for d in deployments)
        service["events"] = list(reversed(self.events[key])) + service.get("events", [])

    def _event(self, key: str, message: str) -> None:
        self.events[key].append(
            {"id": str(uuid.uuid4()), "createdAt": time.time(), "message": message}
        )

    # -- ListTasks / DescribeTasks -----------------------------------------------------------
    def _list_tasks(self, request: RecordedRequest) -> Reply:
        """moto starts no service tasks; add the modelled stopped ones (API_ListTasks)."""
        reply = self._forward(request)
        body = request.body or {}
        if reply.status != 200 or body.get("desiredStatus") != "STOPPED":
            return reply
        answer = json.loads(reply.body)
        key = f"{_short(body.get('cluster', 'default'))}/{body.get('serviceName', '')}"
        answer["taskArns"] = answer.get("taskArns", []) + [
            t["taskArn"] for t in self.stopped.get(key, [])
        ]
        return _json_reply(reply, answer)

    def _describe_tasks(self, request: RecordedRequest) -> Reply:
        wanted = (request.body or {}).get("tasks", [])
        if not wanted or len(wanted) > 100:
            return self._client_error(
                "InvalidParameterException", "Tasks cannot be empty or contain more than 100."
            )
        ours = {t["taskArn"]: t for tasks in self.stopped.values() for t in tasks}
        found = [ours[arn] for arn in wanted if arn in ours]
        others = [arn for arn in wanted if arn not in ours]
        failures: list[dict] = []
        if others:
            upstream = self._moto(request, "DescribeTasks", {**request.body, "tasks": others})
            found += upstream.get("tasks", [])
            failures = upstream.get("failures", [])
        return Reply(
            200,
            {"tasks": found, "failures": failures},
            {"Content-Type": "application/x-amz-json-1.1"},
        )

    # -- Application Auto Scaling ------------------------------------------------------------
    def _describe_policies(self, request: RecordedRequest) -> Reply:
        """MaxResults 1-10, default 10; ScalableDimension only with ResourceId
        (https://docs.aws.amazon.com/autoscaling/application/APIReference/API_DescribeScalingPolicies.html).
        """
        body = dict(request.body or {})
        if body.get("ScalableDimension") and not body.get("ResourceId"):
            return self._validation(
                "If you specify a scalable dimension, you must also specify a resource ID."
            )
        if not 1 <= body.setdefault("MaxResults", 10) <= 10:
            return self._validation("MaxResults must be between 1 and 10.")
        return self._forward(_with_body(request, body))

    def _describe_targets(self, request: RecordedRequest) -> Reply:
        """MaxResults 1-50, default 50; ScalableDimension only with ResourceIds
        (https://docs.aws.amazon.com/autoscaling/application/APIReference/API_DescribeScalableTargets.html).
        """
        body = dict(request.body or {})
        if body.get("ScalableDimension") and not body.get("ResourceIds"):
            return self._validation(
                "If you specify a scalable dimension, you must also specify a resource ID."
            )
        if not 1 <= body.setdefault("MaxResults", 50) <= 50:
            return self._validation("MaxResults must be between 1 and 50.")
        return self._forward(_with_body(request, body))

    def _validation(self, message: str) -> Reply:
        return self._client_error("ValidationException", message)

    # -- helpers -----------------------------------------------------------------------------
    def _moto(self, request: RecordedRequest, operation: str, body: dict) -> dict:
        """Ask moto directly (same credentials and region as the adapter's request)."""
        connection = http.client.HTTPConnection(
            self.upstream.hostname, self.upstream.port, timeout=30
        )
        headers = {
            k: v
            for k, v in request.headers.items()
            if k not in ("host", "content-length", "x-amz-target")
        }
        headers["x-amz-target"] = f"{_ECS_TARGET}.{operation}"
        try:
            connection.request("POST", "/", body=json.dumps(body), headers=headers)
            return json.loads(connection.getresponse().read() or b"{}")
        finally:
            connection.close()

    def _arn_of(self, request: RecordedRequest, task_definition: str) -> str:
        """moto echoes "family:N" as given; ECS always answers with the full ARN."""
        if task_definition.startswith("arn:"):
            return task_definition
        described = self._moto(
            request, "DescribeTaskDefinition", {"taskDefinition": task_definition}
        )
        return described["taskDefinition"]["taskDefinitionArn"]

    def _client_error(self, code: str, message: str) -> Reply:
        return Reply(
            400,
            {"__type": code, "message": message},
            {"x-amzn-ErrorType": code, "x-amzn-RequestId": "fake-request-id"},
        )


def _controller(service: dict) -> str:
    return (service.get("deploymentController") or {}).get("type") or "ECS"


def _controller_refusal(service: dict, body: dict) -> str:
    """What ECS answers when UpdateService asks a CodeDeploy/external service to roll out.

    "For services using the blue/green (CODE_DEPLOY) deployment controller, only the desired count,
    deployment configuration, health check grace period, task placement constraints and strategies,
    enable ECS managed tags option, and propagate tags can be updated using this API. If the network
    configuration, platform version, task definition, or load balancer need to be updated, create a
    new CodeDeploy deployment." The EXTERNAL controller likewise needs a new task set
    (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html).
    """
    kind = _controller(service)
    if kind == "ECS":
        return ""
    instead = (
        "Use AWS CodeDeploy to trigger a new deployment."
        if kind == "CODE_DEPLOY"
        else "Use CreateTaskSet to create a new task set."
    )
    if body.get("forceNewDeployment"):
        return f"Cannot force a new deployment on services with a {kind} deployment controller. {instead}"
    changed = [f for f in _NEW_DEPLOYMENT_FIELDS if f in body]
    if changed:
        return (
            f"Unable to update {changed[0]} on services with a {kind} deployment controller. "
            f"{instead}"
        )
    return ""


def _primary(deployments: list[dict]) -> dict:
    return next(d for d in deployments if d["status"] == "PRIMARY")


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _with_body(request: RecordedRequest, body: dict) -> RecordedRequest:
    raw = json.dumps(body).encode()
    return dataclasses.replace(request, body=body, raw_body=raw)


def _json_reply(upstream: Reply, answer: dict) -> Reply:
    return Reply(upstream.status, json.dumps(answer).encode(), dict(upstream.headers))
