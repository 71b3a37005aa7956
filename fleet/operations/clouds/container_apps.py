"""Azure Container Apps adapter over `azure-mgmt-appcontainers` with `azure-identity` credentials.

Redeploy restarts the revisions that carry traffic and waits until each has really restarted: the
restart call only *accepts* the request, so success needs evidence (the revision left Running and
came back, or every replica is new). Scaling and releases send a JSON merge patch of the app
template and follow the ARM long-running operation (`Azure-AsyncOperation`), then wait until the
new revision runs and carries the traffic it should: an operation that "Succeeded" can still leave
a revision that never starts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, TypeVar

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.mgmt.appcontainers import ContainerAppsAPIClient

from fleet.operations.clouds.base import (
    CloudAdapter,
    HonoursRetryAfter,
    ProgressCallback,
    label_matches,
    require_image,
    require_splits,
)
from fleet.operations.clouds.credentials import (
    azure_connection_verify,
    azure_credential,
    utc_now_iso,
)
from fleet.operations.clouds.errors import (
    CloudError,
    InvalidRequest,
    PermissionDenied,
    Timeout,
    Unavailable,
    build_error,
    error_class_for_status,
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
    TrafficSplit,
)
from fleet.operations.clouds.waiting import Step, poll_until, say, unknown_result

READ = "Microsoft.App/containerApps/read"
WRITE = "Microsoft.App/containerApps/write"
READ_REVISION = "Microsoft.App/containerApps/revisions/read"
READ_REPLICAS = "Microsoft.App/containerApps/revisions/replicas/read"
RESTART_REVISION = "Microsoft.App/containerApps/revisions/restart/action"
ACTIVATE_REVISION = "Microsoft.App/containerApps/revisions/activate/action"
READ_OPERATION = "Microsoft.App/locations/containerappOperationStatuses/read"
HTTP_RULE = "http-scaling"
WHERE = "the Azure portal (Container App > Revisions and replicas)"
_RUNNING = {"Running", "RunningAtMaxScale"}
_BROKEN = {"Degraded", "Failed", "Stopped"}


@dataclass
class _Restart:
    """What one revision's restart has shown so far."""

    revision: str
    replicas_before: set[str] | None  # None = could not read them
    left_running: bool = False
    done: bool = False
    failed: bool = False
    line: str = ""
    diagnostics: list[str] = field(default_factory=list)


T = TypeVar("T")


class ContainerAppsAdapter(HonoursRetryAfter, CloudAdapter):
    """Container apps in one subscription and resource group."""

    provider = "azure"

    def __init__(
        self, account: AccountRef, *, pacing: Pacing = DEFAULT_PACING, client: Any = None
    ) -> None:
        super().__init__(account, pacing=pacing)
        self.client = client or _make_client(account, pacing)

    # -- reading -----------------------------------------------------------------------------
    def describe(self, service: ServiceRef) -> ServiceSnapshot:
        """The app, plus the replica count of its serving revision."""
        group, name = self._group(service.account), service.resource
        app = self._get(group, name)
        snapshot = _snapshot(app, service.url)
        revision = _serving_revision(app)
        if revision:
            try:
                found = self._revision(group, name, revision)
                snapshot.ready_instances = found.properties.replicas
            except PermissionDenied:
                pass  # the replica count is a nicety; the rest of the snapshot stands
        return snapshot

    def list_services(self, account: AccountRef, label: str = "") -> list[ServiceSnapshot]:
        """Apps in the resource group whose tags match `label`."""
        group = self._group(account)
        apps = self.call(
            READ,
            f"resource group {group}",
            lambda: list(self.client.container_apps.list_by_resource_group(group)),
        )
        return [_snapshot(a, "") for a in apps if label_matches(dict(a.tags or {}), label)]

    # Read by the release framework when supports_traffic_split() says no.
    no_traffic_split_reason = (
        "the app runs in single-revision mode, where the newest revision always takes all "
        "traffic (switch it to multiple-revision mode for canaries)"
    )

    def supports_traffic_split(self, service: ServiceRef) -> bool:
        """Only apps in multiple-revision mode can split traffic between revisions."""
        app = self._get(self._group(service.account), service.resource)
        return _mode(app) == "Multiple"

    def list_revisions(self, service: ServiceRef) -> list[Revision]:
        """Every revision, newest first, with the traffic weight it carries now."""
        group, name = self._group(service.account), service.resource
        return [_revision_record(r) for r in self._revisions(group, name)]

    # -- changes -----------------------------------------------------------------------------
    def redeploy(
        self,
        service: ServiceRef,
        *,
        reason: str = "",
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Restart every revision that carries traffic and wait until each has restarted."""
        group, name = self._group(service.account), service.resource
        app = self._get(group, name)
        targets = self._traffic_revisions(group, name, app)
        if not targets:
            raise InvalidRequest(
                f"{name} has no revision carrying traffic to restart.", resource=app.id
            )
        top = max(targets.items(), key=lambda kv: kv[1])[0]
        restarts = [_Restart(r, self._replica_names(group, name, r)) for r in targets]
        for restart in restarts:
            say(progress, f"Restarting revision {restart.revision} of {name}")
            self.call(
                RESTART_REVISION,
                f"{app.id}/revisions/{restart.revision}",
                self.client.container_apps_revisions.restart_revision,
                group,
                name,
                restart.revision,
            )
        operation_id = f"{app.id}/revisions/{top}/restart@{utc_now_iso()}"

        def check() -> Step:
            for restart in restarts:
                if not restart.done:
                    self._check_restart(group, name, restart)
            lines = "; ".join(r.line for r in restarts)
            failed = any(r.failed for r in restarts)
            return Step(failed or all(r.done for r in restarts), lines, failed=failed)

        outcome = poll_until(check, timeout_s=timeout_s, pacing=self.pacing, progress=progress)
        image = _image(app.properties.template)
        if not isinstance(outcome, Step):
            result = unknown_result(
                operation_id=operation_id,
                revision_before=top,
                where=WHERE,
                timeout_s=timeout_s,
                error=outcome,
            )
            waiting = [r.revision for r in restarts if not r.done]
            result.message += (
                f" Azure accepted the restart, but {', '.join(waiting)} never showed it "
                "restarting (it still reads as before)."
            )
            result.image_before = image
            return result
        result = OperationResult(
            status="failed" if outcome.failed else "succeeded",
            operation_id=operation_id,
            revision_before=top,
            revision_after=top,
            image_before=image,
            image_after=image,
            diagnostics=[line for r in restarts for line in r.diagnostics],
        )
        names = ", ".join(f"{r} ({w} %)" for r, w in targets.items())
        if outcome.failed:
            result.message = f"Restart failed: {outcome.message}"
        else:
            result.message = f"Restarted {names}: running again on new replicas."
        return result

    def apply_scaling(
        self,
        service: ServiceRef,
        settings: ScalingSettings,
        *,
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Merge-patch the template's scale and resources, follow the ARM operation, and wait
        until the new revision runs with its share of traffic."""
        group, name = self._group(service.account), service.resource
        app = self._get(group, name)
        patch = _template_patch(app, settings)
        before = _serving_revision(app)
        if not patch:
            return OperationResult(
                status="succeeded", revision_before=before, message="Nothing to change."
            )
        new = ""
        if app.properties.template.revision_suffix:
            # A fixed suffix names the next revision too, and a second one with that name fails
            # to provision: give the new revision a fresh suffix.
            patch["revisionSuffix"] = _unique_suffix()
            new = f"{name}--{patch['revisionSuffix']}"
        say(progress, f"Updating {', '.join(sorted(patch))} of {name}")
        return self._update_and_wait(
            group, name, app, {"properties": {"template": patch}}, new, "scaling change",
            timeout_s, progress,
        )  # fmt: skip

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
        """A new, uniquely named revision running `image`; a canary share in multiple mode."""
        image = require_image(image, "Azure Container Apps", service.resource)
        group, name = self._group(service.account), service.resource
        app = self._get(group, name)
        multiple = _mode(app) == "Multiple"
        if traffic_percent is not None:
            if not multiple:
                raise InvalidRequest(
                    f"traffic_percent: {name} is in single-revision mode, where the newest "
                    "revision always takes all traffic; switch it to multiple-revision mode "
                    "for a canary, or release without a share (a rolling replacement).",
                    provider="Azure Container Apps",
                    resource=app.id,
                )
            if not 1 <= traffic_percent <= 99:
                raise InvalidRequest(
                    f"traffic_percent must be between 1 and 99 for a canary, not "
                    f"{traffic_percent}.",
                    resource=app.id,
                )
        template = app.properties.template.as_dict()
        if not template.get("containers"):
            raise InvalidRequest(f"{name} has no container to put the image in.", resource=app.id)
        template["containers"][0]["image"] = image
        template["revisionSuffix"] = _unique_suffix()
        new = f"{name}--{template['revisionSuffix']}"
        body: dict[str, Any] = {"properties": {"template": template}}
        if multiple:
            if traffic_percent is not None:
                rest = _rest_of_traffic(
                    self._traffic_revisions(group, name, app), 100 - traffic_percent
                )
                traffic = [{"revisionName": new, "weight": traffic_percent}, *rest]
            else:
                traffic = [{"latestRevision": True, "weight": 100}]
            traffic += _label_only(app)
            body["properties"]["configuration"] = {"ingress": {"traffic": traffic}}
        share = f"{traffic_percent} %" if traffic_percent is not None else "100 %"
        say(progress, f"Releasing {image} to {name} as revision {new} ({share} of traffic)")
        return self._update_and_wait(
            group, name, app, body, new, "release", timeout_s, progress, want_share=traffic_percent
        )

    def set_traffic(
        self,
        service: ServiceRef,
        splits: list[TrafficSplit],
        *,
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Set traffic weights (multiple-revision mode only) and wait until revisions carry them."""
        group, name = self._group(service.account), service.resource
        require_splits(splits, name)
        app = self._get(group, name)
        if _mode(app) != "Multiple":
            raise InvalidRequest(
                f"{name} is in single-revision mode: all traffic always goes to the newest "
                "revision, so it cannot be split. Switch it to multiple-revision mode first.",
                provider="Azure Container Apps",
                resource=app.id,
            )
        return self._route(group, name, app, splits, "traffic change", timeout_s, progress)

    def rollback(
        self,
        service: ServiceRef,
        revision: str,
        *,
        reason: str = "",
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Back to `revision`: all traffic to it (multiple mode), or a new revision from its
        template (single mode, where an old revision cannot take traffic)."""
        group, name = self._group(service.account), service.resource
        short = revision.rsplit("/", 1)[-1]
        if not short:
            raise InvalidRequest("revision: give the revision to roll back to.", resource=name)
        target = self._revision(group, name, short)
        app = self._get(group, name)
        if _mode(app) == "Multiple":
            say(progress, f"Rolling {name} back: 100 % of traffic to revision {short}")
            return self._route(
                group, name, app, [TrafficSplit(short, 100)], "rollback", timeout_s, progress
            )
        template = target.properties.template.as_dict()
        template["revisionSuffix"] = _unique_suffix()
        new = f"{name}--{template['revisionSuffix']}"
        say(
            progress,
            f"Rolling {name} back to revision {short} ({_image(target.properties.template)}) "
            f"as new revision {new}: single-revision mode serves only the newest revision",
        )
        result = self._update_and_wait(
            group, name, app, {"properties": {"template": template}}, new, "rollback",
            timeout_s, progress,
        )  # fmt: skip
        if result.status == "succeeded":
            result.message = f"Rolled back to {short}'s template as new revision {new}. " + (
                result.message
            )
        return result

    # -- internals ---------------------------------------------------------------------------
    def _group(self, account: AccountRef) -> str:
        return account.resource_group

    def _get(self, group: str, name: str) -> Any:
        scope = (
            f"/subscriptions/{self.account.subscription}/resourceGroups/{group}"
            f"/providers/Microsoft.App/containerApps/{name}"
        )
        return self.call(READ, scope, self.client.container_apps.get, group, name)

    def _revision(self, group: str, name: str, revision: str) -> Any:
        return self.call(
            READ_REVISION,
            f"revision {revision} of {name}",
            self.client.container_apps_revisions.get_revision,
            group,
            name,
            revision,
        )

    def _revisions(self, group: str, name: str) -> list[Any]:
        """Every revision (the pager follows nextLink), newest first."""
        found = self.call(
            READ_REVISION,
            f"revisions of {name}",
            lambda: list(self.client.container_apps_revisions.list_revisions(group, name)),
        )
        return sorted(found, key=lambda r: str(r.properties.created_time or ""), reverse=True)

    def _traffic_revisions(self, group: str, name: str, app: Any) -> dict[str, int]:
        """Revision -> traffic weight, for the revisions that carry traffic now."""
        if _mode(app) == "Single":
            serving = _serving_revision(app)
            return {serving: 100} if serving else {}
        weights = {
            r.name: r.properties.traffic_weight or 0
            for r in self._revisions(group, name)
            if r.properties.active and (r.properties.traffic_weight or 0) > 0
        }
        return weights or _configured_traffic(app)

    def _replica_names(self, group: str, name: str, revision: str) -> set[str] | None:
        try:
            replicas = self.call(
                READ_REPLICAS,
                f"replicas of revision {revision} of {name}",
                lambda: list(
                    self.client.container_apps_revision_replicas.list_replicas(
                        group, name, revision
                    ).value
                    or []
                ),
            )
        except CloudError:
            return None  # without replicas, only a visible state change counts as evidence
        return {r.name for r in replicas}

    def _replica_lines(self, group: str, name: str, revision: str) -> list[str]:
        try:
            replicas = self.client.container_apps_revision_replicas.list_replicas(
                group, name, revision
            ).value
        except Exception:  # noqa: BLE001 - diagnostics are best effort, never the verdict
            return []
        lines = []
        for replica in replicas or []:
            for container in replica.properties.containers or []:
                if container.ready:
                    continue
                state = _text(container.running_state) or "unknown"
                detail = container.running_state_details or ""
                lines.append(
                    f"Replica {replica.name} container {container.name}: {state}"
                    f"{', restarted ' + str(container.restart_count) + ' times' if container.restart_count else ''}"
                    f"{': ' + detail if detail else ''}"
                )
        return lines

    def _check_restart(self, group: str, name: str, restart: _Restart) -> None:
        """One poll of a restarting revision: never done before there is evidence of a restart."""
        state = self._revision(group, name, restart.revision).properties
        running, health = _text(state.running_state), _text(state.health_state)
        restart.line = (
            f"Revision {restart.revision}: {running or 'unknown'}, health {health or 'unknown'}"
        )
        if running in _BROKEN or _text(state.provisioning_state) == "Failed":
            restart.failed = restart.done = True
            replicas = self._replica_lines(group, name, restart.revision)
            why = state.provisioning_error or (replicas[0] if replicas else "")
            restart.line += f" ({why})" if why else ""
            restart.diagnostics = [restart.line, *replicas]
            return
        if running not in _RUNNING:
            restart.left_running = True
            return
        if health == "Unhealthy":
            return
        scale = state.template.scale if state.template is not None else None
        wanted = (scale.min_replicas or 0) if scale is not None else 0
        if (state.replicas or 0) < wanted:
            restart.line += f", {state.replicas or 0} of {wanted} replicas"
            return  # running again, but not yet with the replicas it should have
        if restart.left_running:
            restart.done = True
            return
        if restart.replicas_before is not None:
            now = self._replica_names(group, name, restart.revision)
            if restart.replicas_before == set():
                restart.done = True  # nothing was running; new replicas start on demand
            elif now and not (now & restart.replicas_before):
                restart.done = True  # every replica is new: it restarted between our polls

    def _update_and_wait(
        self,
        group: str,
        name: str,
        app: Any,
        body: dict,
        new: str,
        action: str,
        timeout_s: float,
        progress: ProgressCallback | None,
        *,
        want_share: int | None = None,
    ) -> OperationResult:
        """PATCH, follow the ARM operation, then wait for the new revision to run and serve."""
        before_weights = self._traffic_revisions(group, name, app)
        before = _top(before_weights) or _serving_revision(app)
        image_before = self._images(group, name, before_weights) or _image(app.properties.template)
        operation_id, poller = self._begin_update(group, name, app, body)
        say(progress, f"Operation {operation_id} started")

        def check() -> Step:
            return Step(poller.done(), f"Azure reports the {action} {poller.status()}")

        outcome = poll_until(check, timeout_s=timeout_s, pacing=self.pacing, progress=progress)
        if not isinstance(outcome, Step):
            result = unknown_result(
                operation_id=operation_id,
                revision_before=before,
                where="the Azure portal (Container App > Activity log)",
                timeout_s=timeout_s,
                error=outcome,
            )
            result.image_before = image_before
            return result
        base = OperationResult(
            status="failed",
            operation_id=operation_id,
            revision_before=before,
            image_before=image_before,
        )
        try:
            result_app = poller.result()
        except HttpResponseError as exc:
            base.message = f"Azure reported the {action} failed: {exc.message}"
            return base
        if "template" not in body["properties"]:
            return base  # traffic-only changes are judged by _route
        new = new or result_app.properties.latest_revision_name or ""
        if not new or new == app.properties.latest_revision_name:
            base.message = f"The operation finished but Azure created no new revision of {name}."
            return base
        return self._revision_verdict(
            group, name, new, base, action, timeout_s, progress, want_share=want_share
        )

    def _begin_update(self, group: str, name: str, app: Any, body: dict) -> tuple[str, Any]:
        seen: dict[str, str] = {}

        def remember_operation(pipeline_response: Any) -> None:
            headers = pipeline_response.http_response.headers
            url = headers.get("Azure-AsyncOperation") or headers.get("Location")
            if url and "operation" not in seen:
                seen["operation"] = url.split("?")[0]

        poller = self.call(
            WRITE,
            app.id,
            self.client.container_apps.begin_update,
            group,
            name,
            body,
            polling_interval=self.pacing.poll_interval_s,
            raw_response_hook=remember_operation,
        )
        return seen.get("operation", app.id), poller

    def _revision_verdict(
        self,
        group: str,
        name: str,
        new: str,
        base: OperationResult,
        action: str,
        timeout_s: float,
        progress: ProgressCallback | None,
        *,
        want_share: int | None,
    ) -> OperationResult:
        """Succeeded only when the new revision runs, healthy, with the traffic it should carry."""
        base.revision_after = new
        seen: dict[str, Any] = {}

        def check() -> Step:
            state = self._revision(group, name, new).properties
            seen["state"] = state
            running, health = _text(state.running_state), _text(state.health_state)
            line = f"Revision {new}: {running or 'unknown'}, health {health or 'unknown'}"
            if running in _BROKEN or _text(state.provisioning_state) == "Failed":
                return Step(True, line, failed=True)
            scale = state.template.scale if state.template is not None else None
            wanted = (scale.min_replicas or 0) if scale is not None else 0
            if running in _RUNNING and (state.replicas or 0) < wanted:
                # Running with fewer replicas than minReplicas is not yet the rollout it should be.
                return Step(False, f"{line}, {state.replicas or 0} of {wanted} replicas")
            return Step(running in _RUNNING and health != "Unhealthy", line)

        outcome = poll_until(check, timeout_s=timeout_s, pacing=self.pacing, progress=progress)
        state = seen.get("state")
        base.image_after = _image(state.template) if state is not None else ""
        if not isinstance(outcome, Step):
            result = unknown_result(
                operation_id=base.operation_id,
                revision_before=base.revision_before,
                where=WHERE,
                timeout_s=timeout_s,
                error=outcome,
            )
            result.message = f"Revision {new} was created but has not started yet. " + (
                result.message
            )
            result.revision_after, result.image_before = new, base.image_before
            result.image_after = base.image_after
            return result
        if outcome.failed:
            replicas = self._replica_lines(group, name, new)
            why = state.provisioning_error or (replicas[0] if replicas else "")
            base.message = f"New revision {new} did not start ({outcome.message}): {why}"
            base.diagnostics = [outcome.message + (f" ({why})" if why else ""), *replicas]
            return base
        app = self._get(group, name)
        weights = self._traffic_revisions(group, name, app)
        served = weights.get(new, 0)
        if want_share is None:
            want = 100 if _mode(app) == "Single" else _configured_share(app, new)
        else:
            want = want_share
        shares = _describe_shares(weights)
        if want == 0:
            base.message = (
                f"New revision {new} runs but serves 0 %: traffic is pinned to {shares}. "
                "Nothing that serves changed; send traffic to it with a release or a traffic "
                "change."
            )
            return base
        if served != want:
            base.message = (
                f"New revision {new} runs but serves {served} % instead of {want} % "
                f"(serving now: {shares})."
            )
            return base
        base.status = "succeeded"
        base.message = f"Revision {new} runs and serves {served} % ({action}); serving: {shares}."
        say(progress, f"Revision {new} is running and serving {served} %")
        return base

    def _route(
        self,
        group: str,
        name: str,
        app: Any,
        splits: list[TrafficSplit],
        action: str,
        timeout_s: float,
        progress: ProgressCallback | None,
    ) -> OperationResult:
        """Activate the named revisions, set the traffic block, and check what each carries."""
        by_name = {r.name: r for r in self._revisions(group, name)}
        for split in splits:
            revision = split.revision.rsplit("/", 1)[-1]
            if revision and revision not in by_name:
                raise InvalidRequest(f"splits: {name} has no revision {revision}.", resource=app.id)
            if revision and not by_name[revision].properties.active and split.percent:
                say(progress, f"Activating revision {revision}")
                self.call(
                    ACTIVATE_REVISION,
                    f"{app.id}/revisions/{revision}",
                    self.client.container_apps_revisions.activate_revision,
                    group,
                    name,
                    revision,
                )
        latest = app.properties.latest_ready_revision_name or ""
        if [(s.revision.rsplit("/", 1)[-1], s.percent, s.tag) for s in splits] == [
            (latest, 100, "")
        ]:
            # Promoting the latest ready revision: route it as `latestRevision`, so later
            # template changes serve instead of staying pinned to a name.
            splits = [TrafficSplit("", 100)]
        traffic = [
            {"latestRevision": True, "weight": s.percent}
            if not s.revision
            else {"revisionName": s.revision.rsplit("/", 1)[-1], "weight": s.percent}
            for s in splits
        ]
        for entry, split in zip(traffic, splits, strict=True):
            if split.tag:
                entry["label"] = split.tag
        labels = {s.tag for s in splits if s.tag}
        traffic += [t for t in _label_only(app) if t.get("label") not in labels]
        plan = ", ".join(f"{s.revision or 'latest'} {s.percent} %" for s in splits)
        say(progress, f"Routing traffic of {name}: {plan}")
        body = {"properties": {"configuration": {"ingress": {"traffic": traffic}}}}
        result = self._update_and_wait(group, name, app, body, "", action, timeout_s, progress)
        if result.status == "unknown" or result.message:
            return result  # the operation itself failed or could not be followed
        latest = self._get(group, name).properties.latest_ready_revision_name or ""
        want: dict[str, int] = {}
        for split in splits:
            key = split.revision.rsplit("/", 1)[-1] or latest
            want[key] = want.get(key, 0) + split.percent
        want = {k: v for k, v in want.items() if v}
        weights = {
            r.name: r.properties.traffic_weight or 0
            for r in self._revisions(group, name)
            if r.properties.traffic_weight
        }
        result.revision_after = _top(weights)
        result.image_after = self._images(group, name, weights)
        if weights != want:
            result.message = (
                f"Azure finished the {action} but serves {_describe_shares(weights)} instead of "
                f"{_describe_shares(want)}."
            )
            return result
        result.status = "succeeded"
        result.message = f"Serving {_describe_shares(weights)}."
        say(progress, result.message)
        return result

    def _images(self, group: str, name: str, weights: dict[str, int]) -> str:
        images: list[str] = []
        for revision, _ in sorted(weights.items(), key=lambda kv: -kv[1]):
            try:
                image = _image(self._revision(group, name, revision).properties.template)
            except CloudError:
                continue
            if image and image not in images:
                images.append(image)
        return ", ".join(images)

    def translate_error(self, exc: Exception, permission: str, resource: str) -> CloudError | None:
        status: int | None = None
        if isinstance(exc, ServiceRequestTimeoutError | ServiceResponseTimeoutError):
            cls: type[CloudError] = Timeout
        elif isinstance(exc, ServiceRequestError | ServiceResponseError):
            cls = Unavailable
        elif isinstance(exc, ClientAuthenticationError):
            status, cls = exc.status_code, PermissionDenied
        elif isinstance(exc, HttpResponseError):
            status = exc.status_code
            cls = error_class_for_status(status)
        else:
            return None
        detail = getattr(exc, "message", "") or str(exc)
        return build_error(
            cls,
            provider="Azure Container Apps",
            account=self.account.name,
            permission=permission,
            resource=resource,
            detail=detail.splitlines()[-1] if detail else "",
            status=status,
            hint="Assign a role that includes it (for example 'Container Apps Contributor') at the "
            "app or resource group scope.",
        )


def _make_client(account: AccountRef, pacing: Pacing) -> ContainerAppsAPIClient:
    options: dict[str, Any] = {
        "retry_total": 0,  # the adapter retries throttling and 5xx itself, with backoff
        "connection_timeout": pacing.request_timeout_s,
        "read_timeout": pacing.request_timeout_s,
        "connection_verify": azure_connection_verify(account),
    }
    if account.endpoint:
        options["base_url"] = account.endpoint
    return ContainerAppsAPIClient(azure_credential(account), account.subscription, **options)


def _text(value: Any) -> str:
    """An SDK enum (or plain string) as the word Azure sent."""
    return str(getattr(value, "value", value) or "")


def _mode(app: Any) -> str:
    configuration = app.properties.configuration
    return _text(configuration.active_revisions_mode if configuration else "") or "Single"


def _serving_revision(app: Any) -> str:
    properties = app.properties
    return properties.latest_ready_revision_name or properties.latest_revision_name or ""


def _configured_traffic(app: Any) -> dict[str, int]:
    """Revision -> weight as the app's ingress traffic block says (latest = latest ready)."""
    ingress = app.properties.configuration.ingress if app.properties.configuration else None
    weights: dict[str, int] = {}
    for target in (ingress.traffic or []) if ingress else []:
        revision = _serving_revision(app) if target.latest_revision else target.revision_name
        if revision and target.weight:
            weights[revision] = weights.get(revision, 0) + target.weight
    return weights


def _configured_share(app: Any, revision: str) -> int:
    ingress = app.properties.configuration.ingress if app.properties.configuration else None
    if ingress is None or not ingress.traffic:
        return 100
    latest = app.properties.latest_ready_revision_name
    return sum(
        t.weight or 0
        for t in ingress.traffic
        if t.revision_name == revision or (t.latest_revision and latest == revision)
    )


def _label_only(app: Any) -> list[dict]:
    """Labelled 0 % targets (revision URLs people test against) survive a traffic change."""
    ingress = app.properties.configuration.ingress if app.properties.configuration else None
    return [
        {"revisionName": t.revision_name, "weight": 0, "label": t.label}
        for t in (ingress.traffic or []) if ingress
        if t.label and not t.weight and t.revision_name
    ]  # fmt: skip


def _rest_of_traffic(weights: dict[str, int], rest: int) -> list[dict]:
    """`rest` percent over the revisions serving now, in their current proportions."""
    total = sum(weights.values()) or 1
    exact = {r: rest * w / total for r, w in weights.items()}
    given = {r: int(v) for r, v in exact.items()}
    for revision in sorted(exact, key=lambda r: given[r] - exact[r])[: rest - sum(given.values())]:
        given[revision] += 1  # largest remainder, so the weights add up exactly
    return [{"revisionName": r, "weight": w} for r, w in given.items() if w]


def _top(weights: dict[str, int]) -> str:
    return max(weights.items(), key=lambda kv: kv[1])[0] if weights else ""


def _describe_shares(weights: dict[str, int]) -> str:
    if not weights:
        return "no revision"
    return ", ".join(f"{r} ({w} %)" for r, w in sorted(weights.items(), key=lambda kv: -kv[1]))


def _image(template: Any) -> str:
    containers = template.containers if template is not None else None
    return (containers[0].image or "") if containers else ""


def _unique_suffix() -> str:
    """A revision suffix: starts with a letter, lower-case, short enough for any app name."""
    return f"fc{secrets.token_hex(4)}"


def _revision_record(revision: Any) -> Revision:
    properties = revision.properties
    running = _text(properties.running_state)
    if running in _BROKEN or _text(properties.provisioning_state) == "Failed":
        ready: bool | None = False
    elif running in _RUNNING:
        ready = _text(properties.health_state) != "Unhealthy"
    else:
        ready = None
    created = properties.created_time
    return Revision(
        name=revision.name,
        image=_image(properties.template),
        created=created.isoformat() if created else "",
        traffic_percent=properties.traffic_weight or 0,
        active=bool(properties.active),
        ready=ready,
    )


def _template_patch(app: Any, settings: ScalingSettings) -> dict:
    """The `properties.template` merge patch for the non-None settings (lists sent whole)."""
    template = app.properties.template.as_dict()
    patch: dict[str, Any] = {}
    scale: dict[str, Any] = {}
    if settings.min_instances is not None:
        scale["minReplicas"] = settings.min_instances
    if settings.max_instances is not None:
        scale["maxReplicas"] = settings.max_instances
    if settings.concurrency is not None:
        rules = [r for r in (template.get("scale") or {}).get("rules") or [] if "http" not in r]
        http = {"metadata": {"concurrentRequests": str(settings.concurrency)}}
        scale["rules"] = [{"name": HTTP_RULE, "http": http}, *rules]
    if scale:
        patch["scale"] = scale
    if settings.cpu is not None or settings.memory is not None:
        containers = template.get("containers") or []
        resources = containers[0].setdefault("resources", {})
        if settings.cpu is not None:
            resources["cpu"] = float(settings.cpu)
        if settings.memory is not None:
            resources["memory"] = settings.memory
        patch["containers"] = containers  # a merge patch replaces arrays, so send them all
    return patch


def _snapshot(app: Any, url: str) -> ServiceSnapshot:
    properties = app.properties
    template = properties.template
    container = template.containers[0]
    scale = template.scale
    concurrency = None
    for rule in (scale.rules or []) if scale else []:
        if rule.http is not None and (rule.http.metadata or {}).get("concurrentRequests"):
            concurrency = int(rule.http.metadata["concurrentRequests"])
    ingress = properties.configuration.ingress if properties.configuration else None
    env = [
        EnvVar(name=e.name, is_secret_ref=True)
        if e.secret_ref
        else EnvVar(name=e.name, is_secret_ref=False, value=e.value or "")
        for e in container.env or []
    ]
    return ServiceSnapshot(
        provider="azure",
        resource=app.name,
        url=url or (f"https://{ingress.fqdn}" if ingress and ingress.fqdn else ""),
        image=container.image or "",
        revision=_top(_configured_traffic(app))
        if _mode(app) == "Multiple"
        else _serving_revision(app),
        region=app.location,
        scaling=ScalingSettings(
            min_instances=scale.min_replicas if scale and scale.min_replicas is not None else 0,
            max_instances=scale.max_replicas if scale and scale.max_replicas is not None else 10,
            concurrency=concurrency,
            cpu=f"{container.resources.cpu:g}" if container.resources else None,
            memory=container.resources.memory if container.resources else None,
        ),
        ingress="none" if ingress is None else ("all" if ingress.external else "internal"),
        allows_unauthenticated=None,
        service_identity=_identity(app),
        env=env,
        labels=dict(app.tags or {}),
        raw=app.as_dict(),
        created=app.system_data.created_at.isoformat()
        if getattr(app, "system_data", None) and app.system_data.created_at
        else "",
    )


def _identity(app: Any) -> str:
    identity = app.identity
    if identity is None or identity.type == "None":
        return ""
    names = list((identity.user_assigned_identities or {}).keys())
    if identity.principal_id:
        names.insert(0, f"system-assigned ({identity.principal_id})")
    return ", ".join(names)
