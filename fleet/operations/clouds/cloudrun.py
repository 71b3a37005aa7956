"""Google Cloud Run adapter over the official `google-cloud-run` Admin API v2 client.

Redeploy stamps a `fleet-console/redeployed-at` annotation on the revision template, which makes
Cloud Run roll out a new revision from the same image; scaling changes go through an update mask so
nothing else in the service is touched; a release sends a new image (and, for a canary, a traffic
split). Every verdict is read from what the service really serves (`trafficStatuses`), not from
`latestReadyRevision`: a revision can be ready and serve nothing when traffic is pinned.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
from google.api_core import exceptions as gexc
from google.cloud import run_v2
from google.protobuf import field_mask_pb2

from fleet.operations.clouds.base import (
    CloudAdapter,
    HonoursRetryAfter,
    ProgressCallback,
    label_matches,
    require_image,
    require_splits,
)
from fleet.operations.clouds.credentials import google_credentials, utc_now_iso
from fleet.operations.clouds.errors import (
    CloudError,
    InvalidRequest,
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

REDEPLOY_ANNOTATION = "fleet-console/redeployed-at"
REASON_ANNOTATION = "fleet-console/redeploy-reason"
DEFAULT_ENDPOINT = "https://run.googleapis.com"
WHERE = "the Google Cloud console (Cloud Run > service > Revisions)"

_TRAFFIC = run_v2.IngressTraffic
_INGRESS = {
    _TRAFFIC.INGRESS_TRAFFIC_ALL: "all",
    _TRAFFIC.INGRESS_TRAFFIC_INTERNAL_ONLY: "internal",
    _TRAFFIC.INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER: "internal-and-cloud-load-balancing",
    _TRAFFIC.INGRESS_TRAFFIC_NONE: "none",
}
_LATEST = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
_BY_REVISION = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
_SUCCEEDED = run_v2.Condition.State.CONDITION_SUCCEEDED
_FAILED = run_v2.Condition.State.CONDITION_FAILED
_ROLE_HINTS = {
    "run.services.update": (
        "Grant roles/run.developer on the service, plus roles/iam.serviceAccountUser on its "
        "runtime service account."
    ),
    "run.services.get": "Grant roles/run.viewer on the project or service.",
    "run.services.list": "Grant roles/run.viewer on the project.",
    "run.services.getIamPolicy": "Grant roles/run.viewer on the project or service.",
    "run.operations.get": "Grant roles/run.viewer on the project.",
    "run.revisions.get": "Grant roles/run.viewer on the project or service.",
    "run.revisions.list": "Grant roles/run.viewer on the project or service.",
    "run.locations.list": "Grant roles/run.viewer on the project, or give the account a region.",
}


@dataclass
class _Change:
    """One service update: what to send, and what must be serving afterwards for success."""

    action: str  # "redeploy", "scaling change", "release", "traffic change", "rollback"
    paths: list[str]
    template: run_v2.RevisionTemplate | None = None
    traffic: list[run_v2.TrafficTarget] | None = None
    new_revision: str = ""  # the name we gave the new revision ("" = Cloud Run names it)
    # Traffic-only changes: the shares that must be served afterwards ("" = latest ready).
    want: dict[str, int] = field(default_factory=dict)
    # A canary's tag on the new revision: its URL (from trafficStatuses) is the canary's probe URL.
    probe_tag: str = ""


T = TypeVar("T")


class CloudRunAdapter(HonoursRetryAfter, CloudAdapter):
    """Cloud Run services in one project (and region, or every region when none is set)."""

    provider = "gcp"

    def __init__(
        self,
        account: AccountRef,
        *,
        pacing: Pacing = DEFAULT_PACING,
        client: object | None = None,
        revisions_client: object | None = None,
    ) -> None:
        super().__init__(account, pacing=pacing)
        self.client = client or _make_client(account, run_v2.ServicesClient)
        self.revisions_client = revisions_client or _make_client(account, run_v2.RevisionsClient)

    # -- reading -----------------------------------------------------------------------------
    def describe(self, service: ServiceRef) -> ServiceSnapshot:
        """The service, its scaling, env and whether allUsers may invoke it."""
        name = self._name(service)
        svc = self.call("run.services.get", name, self._get, name)
        snapshot = _snapshot(svc, name)
        if snapshot.revision and snapshot.revision != _short(svc.latest_ready_revision):
            # Traffic is pinned to an older revision: the template's image is not what serves.
            serving = self._revision(name, snapshot.revision)
            if serving is not None and serving.containers:
                snapshot.image = _image(serving.containers)
        try:
            policy = self.call(
                "run.services.getIamPolicy",
                name,
                self.client.get_iam_policy,
                request={"resource": name},
                timeout=self.pacing.request_timeout_s,
            )
        except CloudError:
            policy = None  # without getIamPolicy we cannot tell; the rest is still useful
        if svc.invoker_iam_disabled:
            snapshot.allows_unauthenticated = True
        elif policy is not None:
            snapshot.allows_unauthenticated = any(
                b.role == "roles/run.invoker" and "allUsers" in b.members for b in policy.bindings
            )
        return snapshot

    def list_services(self, account: AccountRef, label: str = "") -> list[ServiceSnapshot]:
        """Services in the project's region (or in each region), optionally only with `label`.

        The v2 API refuses the `-` location wildcard on list, so without a region the
        project's Cloud Run locations are listed first and each is asked in turn.
        """
        regions = [account.region] if account.region else self._regions(account)

        def in_region(region: str) -> list[run_v2.Service]:
            parent = f"projects/{account.project}/locations/{region}"

            def fetch() -> list[run_v2.Service]:
                pager = self.client.list_services(
                    parent=parent, retry=None, timeout=self.pacing.request_timeout_s
                )
                return list(pager)

            return self.call("run.services.list", parent, fetch)

        with ThreadPoolExecutor(max_workers=min(8, max(1, len(regions)))) as pool:
            found = [s for batch in pool.map(in_region, regions) for s in batch]
        return [
            _snapshot(s, _with_project(s.name, account.project))
            for s in found
            if label_matches(dict(s.labels), label)
        ]

    def supports_traffic_split(self, service: ServiceRef) -> bool:
        """Cloud Run splits traffic between revisions by percentage."""
        return True

    def list_revisions(self, service: ServiceRef) -> list[Revision]:
        """Every revision, newest first, with the share of traffic it really serves now."""
        name = self._name(service)
        svc = self.call("run.services.get", name, self._get, name)
        shares = _serving(svc)
        latest = _short(svc.latest_ready_revision)

        def fetch() -> list[run_v2.Revision]:
            pager = self.revisions_client.list_revisions(
                parent=name, retry=None, timeout=self.pacing.request_timeout_s
            )
            return list(pager)

        found = self.call("run.revisions.list", name, fetch)
        found.sort(key=lambda r: r.create_time, reverse=True)
        return [
            Revision(
                name=_short(r.name),
                image=_image(r.containers),
                created=r.create_time.isoformat() if r.create_time else "",
                traffic_percent=shares.get(_short(r.name), 0),
                active=shares.get(_short(r.name), 0) > 0 or _short(r.name) == latest,
                ready=_ready(r.conditions),
            )
            for r in found
        ]

    # -- changes -----------------------------------------------------------------------------
    def redeploy(
        self,
        service: ServiceRef,
        *,
        reason: str = "",
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Roll out a new revision of the same image and wait until it serves."""
        name = self._name(service)
        current = self.call("run.services.get", name, self._get, name)
        template, paths, new = self._template_for_change(current, name)
        template.annotations[REDEPLOY_ANNOTATION] = utc_now_iso()
        if reason:
            template.annotations[REASON_ANNOTATION] = reason[:200]
        say(progress, f"Requesting a new revision of {name} from the same image")
        change = _Change("redeploy", ["template.annotations", *paths], template, new_revision=new)
        return self._change_and_wait(name, current, change, timeout_s, progress)

    def apply_scaling(
        self,
        service: ServiceRef,
        settings: ScalingSettings,
        *,
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Update template scaling/concurrency/limits through an update mask and wait."""
        name = self._name(service)
        current = self.call("run.services.get", name, self._get, name)
        template, naming, new = self._template_for_change(current, name)
        paths: list[str] = []
        if settings.min_instances is not None:
            template.scaling.min_instance_count = settings.min_instances
            paths.append("template.scaling.min_instance_count")
        if settings.max_instances is not None:
            template.scaling.max_instance_count = settings.max_instances
            paths.append("template.scaling.max_instance_count")
        if settings.concurrency is not None:
            template.max_instance_request_concurrency = settings.concurrency
            paths.append("template.max_instance_request_concurrency")
        if settings.cpu is not None or settings.memory is not None:
            container = _serving_container(template.containers)
            if settings.cpu is not None:
                container.resources.limits["cpu"] = settings.cpu
            if settings.memory is not None:
                container.resources.limits["memory"] = settings.memory
            paths.append("template.containers")  # repeated fields are masked as a whole
        if not paths:
            return OperationResult(status="succeeded", message="Nothing to change.")
        say(progress, f"Updating {', '.join(paths)} on {name}")
        change = _Change("scaling change", [*paths, *naming], template, new_revision=new)
        return self._change_and_wait(name, current, change, timeout_s, progress)

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
        """A new revision (with a unique name) running `image`; all traffic, or a canary share.

        With `traffic_percent` the new revision gets that share and the revisions serving now
        keep the rest in their current proportions; without it, traffic follows the latest
        ready revision (100 %), so a revision that fails to start never receives any.
        """
        image = require_image(image, "Cloud Run", service.resource)
        if traffic_percent is not None and not 1 <= traffic_percent <= 99:
            raise InvalidRequest(
                f"traffic_percent must be between 1 and 99 for a canary, not {traffic_percent}.",
                provider="Cloud Run",
                resource=service.resource,
            )
        name = self._name(service)
        current = self.call("run.services.get", name, self._get, name)
        template = _copy_template(current.template)
        new = _unique_revision_name(name)
        template.revision = new
        if not template.containers:
            raise InvalidRequest(f"{name} has no container to put the image in.", resource=name)
        _serving_container(template.containers).image = image
        if reason:
            template.annotations[REASON_ANNOTATION] = reason[:200]
        paths = ["template.revision", "template.containers", "template.annotations"]
        traffic = None
        probe_tag = ""
        if traffic_percent is not None:
            unreachable = _tag_url_unreachable(current)
            if unreachable:
                say(progress, f"No revision URL for the canary's probes: {unreachable}.")
            else:
                probe_tag = _canary_tag(new)
            traffic = [
                run_v2.TrafficTarget(
                    type_=_BY_REVISION, revision=new, percent=traffic_percent, tag=probe_tag
                ),
                *_rest_of_traffic(current, 100 - traffic_percent),
            ]
        elif not _follows_latest(current):
            traffic = [run_v2.TrafficTarget(type_=_LATEST, percent=100)]
        if traffic is not None:
            tagged = {t.tag for t in traffic if t.tag}
            traffic += [t for t in _tag_only_targets(current) if t.tag not in tagged]
            paths.append("traffic")
        share = f"{traffic_percent} %" if traffic_percent is not None else "100 %"
        say(progress, f"Releasing {image} to {name} as revision {new} ({share} of traffic)")
        change = _Change("release", paths, template, traffic, new_revision=new, probe_tag=probe_tag)
        return self._change_and_wait(name, current, change, timeout_s, progress)

    def set_traffic(
        self,
        service: ServiceRef,
        splits: list[TrafficSplit],
        *,
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Route traffic as `splits` say ("" = the latest ready revision) and wait until served."""
        name = self._name(service)
        require_splits(splits, name)
        current = self.call("run.services.get", name, self._get, name)
        latest = _short(current.latest_ready_revision)
        traffic = []
        if [(_short(s.revision), s.percent, s.tag) for s in splits] == [(latest, 100, "")]:
            # Promoting the latest ready revision: route it as LATEST (gcloud's --to-latest), so
            # later redeploys and scaling changes serve instead of staying pinned to a name.
            splits = [TrafficSplit("", 100)]
            if _tags(current).get(latest):
                traffic.append(
                    run_v2.TrafficTarget(
                        type_=_BY_REVISION, revision=latest, tag=_tags(current)[latest]
                    )
                )
        want: dict[str, int] = {}
        for split in splits:
            revision = _short(split.revision)
            want[revision] = want.get(revision, 0) + split.percent
            if revision:
                tag = split.tag or _tags(current).get(revision, "")
                target = run_v2.TrafficTarget(
                    type_=_BY_REVISION, revision=revision, percent=split.percent, tag=tag
                )
            else:
                target = run_v2.TrafficTarget(type_=_LATEST, percent=split.percent, tag=split.tag)
            traffic.append(target)
        tagged = {t.tag for t in traffic if t.tag}
        traffic += [t for t in _tag_only_targets(current) if t.tag not in tagged]
        plan = ", ".join(f"{r or 'latest'} {p} %" for r, p in want.items())
        say(progress, f"Routing traffic of {name}: {plan}")
        change = _Change("traffic change", ["traffic"], traffic=traffic, want=want)
        return self._change_and_wait(name, current, change, timeout_s, progress)

    def rollback(
        self,
        service: ServiceRef,
        revision: str,
        *,
        reason: str = "",
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Send 100 % of traffic to the recorded, ready `revision` (no new revision is built)."""
        name = self._name(service)
        short = _short(revision)
        if not short:
            raise InvalidRequest("revision: give the revision to roll back to.", resource=name)
        found = self.call(
            "run.revisions.get",
            f"{name}/revisions/{short}",
            self.revisions_client.get_revision,
            name=f"{name}/revisions/{short}",
            retry=None,
            timeout=self.pacing.request_timeout_s,
        )
        if _ready(found.conditions) is False:
            raise InvalidRequest(
                f"Revision {short} of {name} is not ready, so it cannot take traffic: "
                + "; ".join(_condition_lines(short, found.conditions)),
                provider="Cloud Run",
                resource=name,
            )
        current = self.call("run.services.get", name, self._get, name)
        say(progress, f"Rolling {name} back: 100 % of traffic to revision {short}")
        traffic = [run_v2.TrafficTarget(type_=_BY_REVISION, revision=short, percent=100)]
        traffic += _tag_only_targets(current)
        change = _Change("rollback", ["traffic"], traffic=traffic, want={short: 100})
        return self._change_and_wait(name, current, change, timeout_s, progress)

    # -- internals ---------------------------------------------------------------------------
    def _name(self, service: ServiceRef) -> str:
        if service.resource.startswith("projects/"):
            return service.resource
        account = service.account
        return f"projects/{account.project}/locations/{account.region}/services/{service.resource}"

    def _get(self, name: str) -> run_v2.Service:
        return self.client.get_service(name=name, retry=None, timeout=self.pacing.request_timeout_s)

    def _template_for_change(
        self, current: run_v2.Service, name: str
    ) -> tuple[run_v2.RevisionTemplate, list[str], str]:
        """A copy of the template to change, plus a fresh revision name if the name is fixed.

        A fixed `template.revision` (gcloud --revision-suffix, Terraform) names the *next*
        revision too, and a second revision with that name is a 409: give it a new unique name
        and send it in the update mask.
        """
        template = _copy_template(current.template)
        if not current.template.revision:
            return template, [], ""
        template.revision = _unique_revision_name(name)
        return template, ["template.revision"], template.revision

    def _revision(self, name: str, short: str) -> run_v2.Revision | None:
        try:
            return self.call(
                "run.revisions.get",
                f"{name}/revisions/{short}",
                self.revisions_client.get_revision,
                name=f"{name}/revisions/{short}",
                retry=None,
                timeout=self.pacing.request_timeout_s,
            )
        except CloudError:
            return None  # evidence for the message; its absence must not hide the verdict

    def _images(self, name: str, shares: dict[str, int]) -> str:
        """The image(s) of the revisions serving `shares`, biggest share first."""
        images = []
        for short, _ in sorted(shares.items(), key=lambda kv: -kv[1]):
            found = self._revision(name, short)
            image = _image(found.containers) if found else ""
            if image and image not in images:
                images.append(image)
        return ", ".join(images)

    def _change_and_wait(
        self,
        name: str,
        current: run_v2.Service,
        change: _Change,
        timeout_s: float,
        progress: ProgressCallback | None,
    ) -> OperationResult:
        before_shares = _serving(current)
        before = _top(before_shares) or _short(current.latest_ready_revision)
        image_before = self._images(name, before_shares)
        body = run_v2.Service(name=name, etag=current.etag)
        if change.template is not None:
            body.template = change.template
        if change.traffic is not None:
            body.traffic = change.traffic
        request = run_v2.UpdateServiceRequest(
            service=body, update_mask=field_mask_pb2.FieldMask(paths=change.paths)
        )
        operation = self.call(
            "run.services.update",
            name,
            self.client.update_service,
            request=request,
            timeout=self.pacing.request_timeout_s,
        )
        op_name = operation.operation.name
        say(progress, f"Operation {op_name} started")

        def check() -> Step:
            done = self.call("run.operations.get", op_name, operation.done)
            return Step(done=done, message=_operation_progress(operation, done))

        outcome = poll_until(check, timeout_s=timeout_s, pacing=self.pacing, progress=progress)
        if not isinstance(outcome, Step):
            result = unknown_result(
                operation_id=op_name,
                revision_before=before,
                where=WHERE,
                timeout_s=timeout_s,
                error=outcome,
            )
            result.image_before = image_before
            result.revision_after = change.new_revision  # named by us, so known even now
            return result
        base = OperationResult(
            status="failed", operation_id=op_name, revision_before=before, image_before=image_before
        )
        error = operation.exception()
        if error is not None:
            return self._failed_operation(name, current, change, base, _error_text(error))
        after: run_v2.Service = operation.result()
        if change.template is None:
            return self._traffic_verdict(name, after, change, base, progress)
        return self._revision_verdict(name, current, after, change, base, progress)

    def _failed_operation(
        self,
        name: str,
        current: run_v2.Service,
        change: _Change,
        base: OperationResult,
        reason: str,
    ) -> OperationResult:
        """The operation ended in an error: say so, with the new revision's conditions."""
        base.message = f"Cloud Run reported the {change.action} failed: {reason}"
        try:
            now = self.call("run.services.get", name, self._get, name)
        except CloudError:
            return base
        created = _short(now.latest_created_revision)
        if created and created != _short(current.latest_created_revision):
            base.revision_after = created
            found = self._revision(name, created)
            if found is not None:
                base.diagnostics = _condition_lines(created, found.conditions)
                base.image_after = _image(found.containers)
        base.diagnostics += _condition_lines("service", [now.terminal_condition])
        return base

    def _revision_verdict(
        self,
        name: str,
        current: run_v2.Service,
        after: run_v2.Service,
        change: _Change,
        base: OperationResult,
        progress: ProgressCallback | None,
    ) -> OperationResult:
        """A change that built a revision: succeeded only if that revision serves its share."""
        new = change.new_revision or _short(after.latest_created_revision)
        if not change.new_revision and new == _short(current.latest_created_revision):
            base.message = (
                f"The operation finished but Cloud Run created no new revision of {name}."
            )
            return base
        base.revision_after = new
        found = self._revision(name, new)
        base.image_after = _image(found.containers) if found else ""
        if _short(after.latest_ready_revision) != new:
            base.message = f"New revision {new} did not become ready."
            base.diagnostics = _condition_lines(new, found.conditions if found else [])
            return base
        shares = _serving(after)
        if not shares:
            return _no_traffic_evidence(base, name)
        expected = sum(t.percent for t in after.traffic if t.type_ == _LATEST) or 0
        expected += sum(
            t.percent for t in after.traffic if t.type_ == _BY_REVISION and t.revision == new
        )
        if not after.traffic:
            expected = 100  # no traffic block: everything follows the latest ready revision
        served = shares.get(new, 0)
        if expected == 0:
            base.message = (
                f"New revision {new} is ready but serves 0 %: traffic is pinned to "
                f"{_describe_shares(shares)}. Nothing that serves changed; send traffic to it "
                "with a release or a traffic change."
            )
            return base
        if served != expected:
            base.message = (
                f"New revision {new} is ready but serves {served} % instead of {expected} % "
                f"(serving now: {_describe_shares(shares)})."
            )
            return base
        base.status = "succeeded"
        if change.probe_tag:
            base.probe_url = next(
                (s.uri for s in after.traffic_statuses if s.tag == change.probe_tag and s.uri), ""
            )
        if served == 100:
            say(progress, f"Revision {new} is ready and serving")
            base.message = f"Revision {new} replaced {base.revision_before} and serves 100 %."
        else:
            say(progress, f"Revision {new} is ready and serving {served} %")
            base.message = (
                f"Revision {new} is ready and serves {served} % as intended; "
                f"serving now: {_describe_shares(shares)}."
            )
        return base

    def _traffic_verdict(
        self,
        name: str,
        after: run_v2.Service,
        change: _Change,
        base: OperationResult,
        progress: ProgressCallback | None,
    ) -> OperationResult:
        """A traffic-only change: succeeded only if the served shares are the wanted ones."""
        latest = _short(after.latest_ready_revision)
        want: dict[str, int] = {}
        for revision, percent in change.want.items():
            key = revision or latest
            want[key] = want.get(key, 0) + percent
        want = {k: v for k, v in want.items() if v}
        shares = _serving(after)
        if not shares:
            return _no_traffic_evidence(base, name)
        base.revision_after = _top(shares)
        base.image_after = self._images(name, shares)
        if shares != want:
            base.message = (
                f"Cloud Run finished the {change.action} but serves {_describe_shares(shares)} "
                f"instead of {_describe_shares(want)}."
            )
            return base
        base.status = "succeeded"
        base.message = f"Serving {_describe_shares(shares)}."
        say(progress, base.message)
        return base

    def _regions(self, account: AccountRef) -> list[str]:
        """The project's Cloud Run locations (v1 `projects.locations.list`, paginated)."""
        from google.auth.transport.requests import AuthorizedSession

        session = AuthorizedSession(google_credentials(account))
        url = f"{(account.endpoint or DEFAULT_ENDPOINT).rstrip('/')}/v1/projects/{account.project}/locations"
        resource = f"projects/{account.project}"
        regions: list[str] = []
        token = ""
        while True:

            def fetch(page_token: str = token) -> dict:
                params = {"pageToken": page_token} if page_token else {}
                reply = session.get(url, params=params, timeout=self.pacing.request_timeout_s)
                if reply.status_code >= 400:
                    raise _http_error(reply)
                return reply.json()

            page = self.call("run.locations.list", resource, fetch)
            regions += [loc["locationId"] for loc in page.get("locations", [])]
            token = page.get("nextPageToken", "")
            if not token:
                return regions

    def translate_error(self, exc: Exception, permission: str, resource: str) -> CloudError | None:
        if isinstance(exc, gexc.DeadlineExceeded | requests.exceptions.Timeout):
            cls: type[CloudError] = Timeout
            status = None
        elif isinstance(exc, requests.exceptions.ConnectionError):
            cls, status = Unavailable, None
        elif isinstance(exc, gexc.GoogleAPICallError):
            status = exc.code if isinstance(exc.code, int) else None
            cls = error_class_for_status(status)
        else:
            return None
        return build_error(
            cls,
            provider="Cloud Run",
            account=self.account.name,
            permission=permission,
            resource=resource,
            detail=getattr(exc, "message", "") or str(exc),
            status=status,
            hint=_ROLE_HINTS.get(permission, ""),
        )


def _make_client(account: AccountRef, cls: type) -> Any:
    credentials = google_credentials(account)
    if account.endpoint:
        return cls(
            credentials=credentials,
            transport="rest",
            client_options={"api_endpoint": account.endpoint},
        )
    return cls(credentials=credentials)


def _http_error(reply: requests.Response) -> gexc.GoogleAPICallError:
    try:
        message = reply.json().get("error", {}).get("message", "")
    except ValueError:
        message = reply.text[:200]
    return gexc.from_http_status(reply.status_code, message)


def _serving_container(containers: Any) -> run_v2.Container:
    """The ingress container (the one with a port) of a multi-container revision, else the only
    one: sidecars keep their images on a release."""
    return next((c for c in containers if c.ports), containers[0])


def _image(containers: Any) -> str:
    return _serving_container(containers).image if containers else ""


def _copy_template(template: run_v2.RevisionTemplate) -> run_v2.RevisionTemplate:
    return run_v2.RevisionTemplate.deserialize(run_v2.RevisionTemplate.serialize(template))


def _unique_revision_name(name: str) -> str:
    """`{service}-fc{8 hex}`: prefixed by the service as Cloud Run requires, at most 63 chars."""
    return f"{name.rsplit('/', 1)[-1]}-fc{secrets.token_hex(4)}"


def _with_project(name: str, project: str) -> str:
    """The name with the project id where the API answered the project number."""
    parts = name.split("/")
    if len(parts) > 1 and parts[0] == "projects" and project:
        parts[1] = project
    return "/".join(parts)


def _error_text(error: BaseException) -> str:
    return getattr(error, "message", "") or str(error)


def _short(revision: str) -> str:
    """The revision's own name, whatever project form (id or number) the answer used."""
    return revision.rsplit("/", 1)[-1]


def _serving(svc: run_v2.Service) -> dict[str, int]:
    """What the service really serves: revision -> percent, from `trafficStatuses`."""
    shares: dict[str, int] = {}
    for status in svc.traffic_statuses:
        revision = _short(status.revision)
        if status.percent and revision:
            shares[revision] = shares.get(revision, 0) + status.percent
    return shares


def _no_traffic_evidence(base: OperationResult, name: str) -> OperationResult:
    """Cloud Run finished but did not say what it serves: no verdict without that evidence."""
    base.status = "unknown"
    base.message = (
        f"The operation on {name} finished, but Cloud Run reported no traffic status, so the "
        "console cannot tell which revision serves. Check the service's Revisions tab."
    )
    return base


def _top(shares: dict[str, int]) -> str:
    return max(shares.items(), key=lambda kv: kv[1])[0] if shares else ""


def _describe_shares(shares: dict[str, int]) -> str:
    if not shares:
        return "no revision"
    return ", ".join(f"{r} ({p} %)" for r, p in sorted(shares.items(), key=lambda kv: -kv[1]))


def _follows_latest(svc: run_v2.Service) -> bool:
    """Whether all traffic already goes to the latest ready revision."""
    return not svc.traffic or sum(t.percent for t in svc.traffic if t.type_ == _LATEST) == 100


def _tag_only_targets(svc: run_v2.Service) -> list[run_v2.TrafficTarget]:
    """Tagged 0 % targets (revision URLs people test against) survive a traffic change; the
    console's own canary tags do not outlive the canary's promotion or abort."""
    return [
        run_v2.TrafficTarget(type_=t.type_, revision=t.revision, percent=0, tag=t.tag)
        for t in svc.traffic
        if t.tag and not t.percent and not _CANARY_TAG.fullmatch(t.tag)
    ]


_CANARY_TAG = re.compile(r"canary-fc[0-9a-f]{8}")


def _canary_tag(revision: str) -> str:
    """`canary-fcXXXXXXXX`: the tag giving a canary revision its own URL for the probes
    (https://cloud.google.com/run/docs/rollouts-rollbacks-traffic-migration#tags)."""
    return f"canary-{revision.rsplit('-', 1)[-1]}"


def _tag_url_unreachable(svc: run_v2.Service) -> str:
    """Why a revision tag's run.app URL cannot be probed from the console ("" = it can): tag
    URLs obey the service's ingress and vanish with the default URL."""
    if getattr(svc, "default_uri_disabled", False):
        return "the service's default run.app URL is disabled, so tag URLs are too"
    if svc.ingress not in (_TRAFFIC.INGRESS_TRAFFIC_ALL, _TRAFFIC.INGRESS_TRAFFIC_UNSPECIFIED):
        return (
            f"the service's ingress is {svc.ingress.name}, so its revision URLs answer only "
            "from inside its network, where the console may not be"
        )
    return ""


def _rest_of_traffic(svc: run_v2.Service, rest: int) -> list[run_v2.TrafficTarget]:
    """`rest` percent over the revisions serving now, in their current proportions."""
    shares = _serving(svc) or {_short(svc.latest_ready_revision): 100}
    total = sum(shares.values())
    exact = {r: rest * p / total for r, p in shares.items()}
    given = {r: int(v) for r, v in exact.items()}
    leftover = rest - sum(given.values())
    for revision in sorted(exact, key=lambda r: given[r] - exact[r])[:leftover]:
        given[revision] += 1  # largest remainder, so the shares add up exactly
    tags = _tags(svc)
    return [
        run_v2.TrafficTarget(type_=_BY_REVISION, revision=r, percent=p, tag=tags.get(r, ""))
        for r, p in given.items()
        if p
    ]


def _tags(svc: run_v2.Service) -> dict[str, str]:
    """Revision -> the tag its traffic target carries now (tags give revisions their own URL)."""
    return {
        t.revision: t.tag
        for t in svc.traffic
        if t.type_ == _BY_REVISION and t.tag and not _CANARY_TAG.fullmatch(t.tag)
    }


def _ready(conditions: Iterable[run_v2.Condition]) -> bool | None:
    for condition in conditions:
        if condition.type_ == "Ready":
            if condition.state == _SUCCEEDED:
                return True
            if condition.state == _FAILED:
                return False
    return None


def _condition_lines(subject: str, conditions: Iterable[run_v2.Condition]) -> list[str]:
    """Cloud Run's own account of what is not well: one line per unhealthy condition."""
    lines = []
    for c in conditions:
        if not c.type_ or c.state == _SUCCEEDED:
            continue
        state = run_v2.Condition.State(c.state).name.removeprefix("CONDITION_").lower()
        why = ""
        if c.revision_reason:
            why = f" ({run_v2.Condition.RevisionReason(c.revision_reason).name})"
        elif c.reason:
            why = f" ({run_v2.Condition.CommonReason(c.reason).name})"
        lines.append(f"{subject} {c.type_}: {state}{why}{': ' + c.message if c.message else ''}")
    return lines


def _operation_progress(operation: object, done: bool) -> str:
    """One line from the in-flight Service in the operation metadata."""
    if done:
        return "Operation finished"
    metadata = operation.metadata  # type: ignore[attr-defined]
    if metadata is None:
        return "Waiting for Cloud Run"
    pending = [
        f"{c.type_}: {c.message or c.state.name.lower()}"
        for c in metadata.conditions
        if c.state != run_v2.Condition.State.CONDITION_SUCCEEDED
    ]
    return "; ".join(pending) or metadata.terminal_condition.message or "Rolling out"


def _snapshot(svc: run_v2.Service, name: str) -> ServiceSnapshot:
    template = svc.template
    container = _serving_container(template.containers) if template.containers else None
    limits = dict(container.resources.limits) if container else {}
    env = []
    for var in container.env if container else []:
        if var.value_source.secret_key_ref.secret:
            env.append(EnvVar(name=var.name, is_secret_ref=True))
        else:
            env.append(EnvVar(name=var.name, is_secret_ref=False, value=var.value))
    parts = name.split("/")
    return ServiceSnapshot(
        provider="gcp",
        resource=name,
        url=svc.uri,
        image=container.image if container else "",
        revision=_top(_serving(svc)) or _short(svc.latest_ready_revision),
        region=parts[3] if len(parts) > 3 else "",
        scaling=ScalingSettings(
            min_instances=template.scaling.min_instance_count,
            max_instances=template.scaling.max_instance_count,
            concurrency=template.max_instance_request_concurrency,
            cpu=limits.get("cpu"),
            memory=limits.get("memory"),
        ),
        ingress=_INGRESS.get(svc.ingress, ""),
        service_identity=template.service_account,
        env=env,
        labels=dict(svc.labels),
        raw=run_v2.Service.to_dict(svc, preserving_proto_field_name=False),
        created=svc.create_time.isoformat() if svc.create_time else "",
    )
