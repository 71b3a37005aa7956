"""ECS rollout verdicts that match what is serving, against moto behind the strict ECS proxy.

Each test here failed against the adapter before issue 10: it declared a scale-out done at "3 of 5
running", lost the circuit breaker's reason, showed no stopped-task reasons, read only the first page
of auto scaling targets and took a scalable target without a policy for auto scaling.
"""

from __future__ import annotations

from fleet.operations.clouds.types import ScalingSettings, ServiceRef
from tests.clouds.ecs.conftest import CLUSTER, actions, client, registered, weather

NEW_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mcp-weather:1.5.0"
PULL_ERROR = (
    "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve "
    "ref 123456789012.dkr.ecr.eu-west-1.amazonaws.com/mcp-weather:1.5.0: not found"
)


def test_scale_out_waits_until_every_new_task_runs(adapter, account, proxy):
    lines: list[str] = []

    result = adapter.apply_scaling(
        weather(account), ScalingSettings(min_instances=5, max_instances=8), progress=lines.append
    )

    assert result.status == "succeeded"
    # ECS keeps the deployment COMPLETED while the extra tasks start; that is not done yet.
    assert "3 of 5 tasks running, rollout COMPLETED" in lines
    assert "5 of 5 tasks running" in result.message
    assert registered(proxy, "ecs:UpdateService")[0]["desiredCount"] == 5


def test_circuit_breaker_rollback_keeps_its_reason_and_the_stopped_tasks(adapter, account, proxy):
    proxy.plan(
        "mcp-weather",
        fail_new_tasks=True,
        stop_code="TaskFailedToStart",
        stopped_reason=PULL_ERROR,
        exit_code=None,
    )
    lines: list[str] = []

    result = adapter.redeploy(weather(account), progress=lines.append)

    assert result.status == "failed"
    assert "ECS deployment circuit breaker: tasks failed to start." in result.message
    assert "ECS is rolling back to mcp-weather:1" in result.message
    assert len(result.diagnostics) == 3  # the breaker's threshold for 2 desired tasks
    for line in result.diagnostics:
        assert line.startswith("Task ") and "of mcp-weather:1 stopped (TaskFailedToStart): " in line
        assert PULL_ERROR in line
    assert result.diagnostics[0] in lines  # also in the job log


def test_failed_release_says_why_and_the_service_rolls_back(adapter, account, proxy):
    proxy.plan(
        "mcp-weather",
        fail_new_tasks=True,
        stop_code="TaskFailedToStart",
        stopped_reason=PULL_ERROR,
        exit_code=None,
    )

    result = adapter.release(weather(account), NEW_IMAGE)

    assert result.status == "failed"
    assert result.message.startswith(
        "Rollout failed: ECS deployment circuit breaker: tasks failed to start."
    )
    assert all("of mcp-weather:2 stopped" in line for line in result.diagnostics)
    assert adapter.describe(weather(account)).revision == "mcp-weather:1"


def test_failed_rollout_without_rollback_reports_exit_codes(adapter, account, proxy):
    proxy.plan(
        "mcp-weather",
        fail_new_tasks=True,
        rollback=False,
        container_reason="OutOfMemoryError: Container killed due to memory usage",
        exit_code=137,
    )

    result = adapter.redeploy(weather(account))

    assert result.status == "failed"
    assert (
        result.message == "Rollout failed: ECS deployment circuit breaker: tasks failed to start."
    )
    assert result.diagnostics and all(
        "(EssentialContainerExited): Essential container in task exited; container server: "
        "exit code 137, OutOfMemoryError: Container killed due to memory usage" in line
        for line in result.diagnostics
    )


def test_scalable_target_without_a_policy_is_not_auto_scaling(adapter, account, moto_endpoint):
    client("application-autoscaling", moto_endpoint).register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=f"service/{CLUSTER}/agent-backend",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=1,
        MaxCapacity=6,
    )

    backend = adapter.describe(ServiceRef(account, "agent-backend"))

    assert (backend.scaling.min_instances, backend.scaling.max_instances) == (2, 2)
    assert adapter.describe(weather(account)).scaling.max_instances == 4  # has a policy


def test_every_page_of_auto_scaling_is_read(adapter, account, proxy, moto_endpoint):
    ecs = client("ecs", moto_endpoint)
    autoscaling = client("application-autoscaling", moto_endpoint)
    for number in range(55):
        name = f"mcp-tool-{number:02d}"
        ecs.create_service(
            cluster=CLUSTER,
            serviceName=name,
            taskDefinition="mcp-weather",
            desiredCount=1,
            launchType="EC2",
        )
        resource = f"service/{CLUSTER}/{name}"
        autoscaling.register_scalable_target(
            ServiceNamespace="ecs",
            ResourceId=resource,
            ScalableDimension="ecs:service:DesiredCount",
            MinCapacity=1,
            MaxCapacity=3,
        )
        autoscaling.put_scaling_policy(
            PolicyName="cpu",
            ServiceNamespace="ecs",
            ResourceId=resource,
            ScalableDimension="ecs:service:DesiredCount",
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 60.0,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
                },
            },
        )

    found = {s.resource: s.scaling for s in adapter.list_services(account)}

    tools = {name: scaling for name, scaling in found.items() if name.startswith("mcp-tool-")}
    assert len(tools) == 55
    assert {(s.min_instances, s.max_instances) for s in tools.values()} == {(1, 3)}
    assert (found["mcp-weather"].min_instances, found["mcp-weather"].max_instances) == (1, 4)
    assert len(registered(proxy, "application-autoscaling:DescribeScalingPolicies")) == 6


def test_limits_without_a_scaling_policy_say_nothing_will_scale(adapter, account, proxy):
    result = adapter.apply_scaling(
        ServiceRef(account, "agent-backend"), ScalingSettings(min_instances=1, max_instances=4)
    )

    assert result.status == "succeeded"
    assert "No scaling policy acts on agent-backend's scalable target" in result.message
    assert "application-autoscaling:RegisterScalableTarget" in actions(proxy)
