"""Releases: deploy a new image, roll back to a recorded revision, canary, and batches of them.

The same rules for the pages, the API and the CLI: each request is checked here (a
`ValidationError` names the field), recorded as a `Redeploy` row with its action in one
transaction with its audit-log row, and run by a Celery task enqueued on commit (or, for the
CLI's --foreground, run in the caller's process). Cloud reads (revisions, whether a service can
split traffic) happen outside any transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from console import limits
from console.audit import record_action
from console.broker import send_on_commit
from fleet.models import Service
from fleet.operations import services as cs
from fleet.operations.clouds.errors import CloudError
from fleet.operations.clouds.types import Revision
from fleet.operations.models import CloudSnapshot, Redeploy, RedeployBatch, RolloutAction

# The image reference grammar of the OCI distribution spec / Docker's reference package:
# [registry[:port]/]path[:tag][@algorithm:hex].
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]+"
_REFERENCE = re.compile(
    rf"^(?P<name>(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
# Container names: a DNS label on Kubernetes; letters, digits, - and _ (up to 255) on ECS.
_CONTAINER = {
    "kubernetes": re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"),
    "aws": re.compile(r"^[A-Za-z0-9_-]{1,255}$"),
}
_ECS_CONTAINER = re.compile(r"^[A-Za-z0-9_-]{1,255}$")  # ContainerDefinition.name
MAX_IMAGE = 500
MIN_CANARY = limits.BOUNDS["canary_percent"].low
MAX_CANARY = limits.BOUNDS["canary_percent"].high
MAX_WATCH_S = limits.BOUNDS["canary_watch_s"].high


@dataclass(frozen=True)
class ImageReference:
    """An image reference split into repository, tag and digest."""

    repository: str
    tag: str = ""
    digest: str = ""

    def with_tag(self, tag: str) -> str:
        return f"{self.repository}:{tag}"


def parse_image(image: str, field: str = "image") -> ImageReference:
    """The reference, or a ValidationError on `field` saying what is wrong with it."""
    image = (image or "").strip()
    example = "e.g. ghcr.io/acme/mcp-weather:1.5.0 or ghcr.io/acme/mcp-weather@sha256:<64 hex>"
    if not image:
        raise ValidationError({field: f"Give the image to deploy ({example})."})
    if len(image) > MAX_IMAGE:
        raise ValidationError({field: f"Keep the image under {MAX_IMAGE} characters."})
    match = _REFERENCE.match(image)
    if match is None:
        why = (
            "upper-case letters are not allowed in the repository path"
            if re.search(r"[A-Z]", image.split("@")[0].split("/", 1)[-1].split(":")[0])
            else "it is not of the form registry/path:tag or registry/path@sha256:digest"
        )
        raise ValidationError({field: f"'{image}' is not an image reference: {why} ({example})."})
    name, tag, digest = match.group("name"), match.group("tag") or "", match.group("digest") or ""
    if len(name) > 255:
        raise ValidationError({field: "The repository name is longer than 255 characters."})
    algorithm, _, hex_part = digest.partition(":")
    if digest and (len(hex_part) != 64 if algorithm == "sha256" else len(hex_part) < 32):
        raise ValidationError(
            {field: f"'{digest}' is not a sha256 digest: it needs exactly 64 hex characters."}
        )
    if not tag and not digest:
        raise ValidationError(
            {
                field: f"'{image}' names no tag or digest: say which version to deploy "
                f"(an untagged image means whatever ':latest' is at pull time) ({example})."
            }
        )
    return ImageReference(name, tag, digest)


def clean_image(image: str, field: str = "image") -> str:
    parse_image(image, field)
    return image.strip()


def _clean_container(service: Service, container: str) -> str:
    container = (container or "").strip()
    if not container:
        return ""
    if service.account.provider == "aws":  # a task definition may hold several containers
        if not _ECS_CONTAINER.match(container):
            raise ValidationError(
                {
                    "container": f"'{container}' is not an ECS container name (up to 255 "
                    "letters, digits, _ and -)."
                }
            )
        return container
    if service.account.provider != "kubernetes":
        raise ValidationError(
            {
                "container": f"Only Kubernetes and ECS releases name a container; "
                f"{cs.PROVIDER_NAMES[service.account.provider]} services have one image per "
                "revision. Leave it empty."
            }
        )
    if not _CONTAINER.match(container):
        raise ValidationError(
            {"container": f"'{container}' is not a container name (lower-case DNS label)."}
        )
    return container


def canary_watch_default() -> int:
    """How long a canary is watched before promotion (FLEET_CANARY_WATCH_SECONDS, default 300)."""
    return int(getattr(settings, "FLEET_CANARY_WATCH_SECONDS", 300))


def _clean_canary(percent: Any, watch_s: Any) -> tuple[int, int]:
    def whole(value: Any, field: str, low: int, high: int) -> int:
        if isinstance(value, bool):
            raise ValidationError({field: "Must be a whole number."})
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValidationError({field: f"'{value}' is not a whole number."}) from None
        if not low <= number <= high:
            raise ValidationError({field: f"Must be from {low} to {high} (got {number})."})
        return number

    percent = whole(percent, "canary_percent", MIN_CANARY, MAX_CANARY)
    watch = canary_watch_default() if watch_s in (None, "") else watch_s
    return percent, whole(watch, "canary_watch_s", 1, MAX_WATCH_S)


def check_traffic_split(service: Service) -> None:
    """Refuse a canary where the platform (or this service's set-up) cannot split traffic."""
    adapter = cs.adapter_for_service(service)
    try:
        can_split = adapter.supports_traffic_split(service.to_ref())
    except CloudError as exc:
        raise ValidationError(
            {"canary_percent": f"Could not tell whether {service.name} can split traffic: {exc}"}
        ) from exc
    if not can_split:
        why = getattr(adapter, "no_traffic_split_reason", "") or (
            f"{cs.PROVIDER_NAMES[service.account.provider]} cannot split this service's traffic "
            "between revisions"
        )
        raise ValidationError(
            {
                "canary_percent": f"No canary for {service.name}: {why}. Release without a "
                "canary percentage for a rolling update instead."
            }
        )


def _enqueue(redeploy: Redeploy) -> None:
    from fleet.operations.tasks import redeploy_task

    send_on_commit(
        redeploy_task,
        redeploy.pk,
        on_failure=lambda why: cs.fail_unsent_redeploys([redeploy.pk], why),
    )


def request_release(
    service: Service,
    actor: Any,
    image: str,
    *,
    reason: str = "",
    canary_percent: Any = None,
    canary_watch_s: Any = None,
    container: str = "",
    source: str = "ui",
    run_in_background: bool = True,
) -> tuple[Redeploy, bool]:
    """Queue a release of `image` (a canary when `canary_percent` is given).

    Returns (rollout, created); a service with a rollout in flight gets that one back.
    `run_in_background=False` leaves the row queued for the caller to run (CLI --foreground).
    """
    cs.check_cloud_managed(service)
    reason = cs._clean_reason(reason)
    image = clean_image(image)
    container = _clean_container(service, container)
    fields: dict[str, Any] = {
        "action": RolloutAction.RELEASE,
        "target_image": image,
        "container": container,
    }
    if canary_percent not in (None, ""):
        percent, watch = _clean_canary(canary_percent, canary_watch_s)
        check_traffic_split(service)
        fields.update(action=RolloutAction.CANARY, canary_percent=percent, canary_watch_s=watch)
    elif canary_watch_s not in (None, ""):
        raise ValidationError(
            {"canary_watch_s": "A watch time only applies to a canary: give a canary percentage."}
        )
    with transaction.atomic():
        redeploy, created = cs._create_redeploy(service, actor, reason, source, None, **fields)
        if created and run_in_background:
            _enqueue(redeploy)
    return redeploy, created


def _clean_revision(revision: str) -> str:
    revision = (revision or "").strip()
    if len(revision) > 300 or (revision and not re.match(r"^[\w./:@+-]+$", revision)):
        raise ValidationError(
            {"revision": f"'{revision[:80]}' is not a revision name, number or task definition."}
        )
    return revision


def request_rollback(
    service: Service,
    actor: Any,
    revision: str = "",
    *,
    reason: str = "",
    source: str = "ui",
    run_in_background: bool = True,
) -> tuple[Redeploy, bool]:
    """Queue a rollback to `revision`, or to the previous one when it is empty."""
    cs.check_cloud_managed(service)
    reason = cs._clean_reason(reason)
    revision = _clean_revision(revision)
    current = (_snapshot_data(service).get("revision") or "") if revision else ""
    if revision and revision == current:
        raise ValidationError(
            {"revision": f"{service.name} already runs revision {revision}: nothing to roll back."}
        )
    fields = {"action": RolloutAction.ROLLBACK, "target_revision": revision}
    with transaction.atomic():
        redeploy, created = cs._create_redeploy(service, actor, reason, source, None, **fields)
        if created and run_in_background:
            _enqueue(redeploy)
    return redeploy, created


def _snapshot_data(service: Service) -> dict:
    snapshot = CloudSnapshot.objects.filter(service=service).only("data").first()
    return snapshot.data if snapshot else {}


def list_revisions(service: Service) -> list[Revision]:
    """The service's recorded revisions from its cloud, newest first (raises CloudError)."""
    cs.check_cloud_managed(service)
    return cs.adapter_for_service(service).list_revisions(service.to_ref())


# -- batches ------------------------------------------------------------------------------------
@dataclass
class PlannedRelease:
    """What one service of a batch release will get (the dry-run row)."""

    service: Service
    image_before: str
    image_after: str
    problem: str = ""
    in_flight: Redeploy | None = None

    def as_dict(self) -> dict:
        return {
            "service": self.service.name,
            "platform": cs.PROVIDER_NAMES.get(self.service.provider, self.service.provider),
            "resource": self.service.resource,
            "image_before": self.image_before,
            "image_after": self.image_after,
            "problem": self.problem,
            "in_flight": self.in_flight.pk if self.in_flight else None,
        }


def select_services(names: Sequence[str] = (), *, team: str = "", tag: str = "") -> list[Service]:
    """Services by name, team and/or tag (all given filters apply); unknown names are an error."""
    names = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    if not (names or team or tag):
        raise ValidationError(
            {"services": "Choose services: give names, a team or a tag (or several)."}
        )
    query = Service.objects.select_related("account").order_by("name")
    if names:
        found = {s.name: s for s in query.filter(name__in=names)}
        missing = [n for n in names if n not in found]
        if missing:
            raise ValidationError(
                {"services": f"No service named {', '.join(repr(n) for n in missing)}."}
            )
        query = query.filter(name__in=names)
    if team:
        query = query.filter(team=team)
    services = list(query)
    if tag:
        services = [s for s in services if tag in (s.tags or [])]
    if not services:
        what = ", ".join(
            p for p in (f"team '{team}'" if team else "", f"tag '{tag}'" if tag else "") if p
        )
        raise ValidationError({"services": f"No service matches {what or 'that selection'}."})
    return services


def plan_batch_release(
    services: Sequence[Service], *, image: str = "", image_tag: str = ""
) -> list[PlannedRelease]:
    """Exactly what each service will get: one image for all, or each repository at a new tag."""
    if bool(image) == bool(image_tag):
        raise ValidationError(
            {
                "image": "Give either one image for every service, or an image tag to set on "
                "each service's own repository (not both)."
            }
        )
    if image:
        image = clean_image(image)
    else:
        image_tag = image_tag.strip()
        if not re.fullmatch(_TAG, image_tag):
            raise ValidationError(
                {"image_tag": f"'{image_tag}' is not an image tag (letters, digits, _ . -)."}
            )
    plan: list[PlannedRelease] = []
    for service in services:
        before = _snapshot_data(service).get("image") or ""
        row = PlannedRelease(service, before, image)
        if not cs.is_cloud_managed(service):
            row.problem = "not in a cloud account with a resource: cannot be released"
        elif image_tag:
            if not before:
                row.problem = "current image not read from the cloud yet: refresh it first"
            else:
                try:
                    row.image_after = parse_image(before).with_tag(image_tag)
                except ValidationError:
                    row.problem = f"current image '{before}' is not a reference the console reads"
        row.in_flight = cs.in_flight_redeploy(service) if not row.problem else None
        if row.in_flight is not None:
            row.problem = (
                f"a {row.in_flight.label.lower()} is already in flight (#{row.in_flight.pk})"
            )
        plan.append(row)
    return plan


def request_batch_release(
    services: Sequence[Service],
    actor: Any,
    *,
    image: str = "",
    image_tag: str = "",
    reason: str = "",
    concurrency: int = 1,
    source: str = "ui",
) -> tuple[RedeployBatch, list[PlannedRelease]]:
    """Queue a rolling release: at most `concurrency` at a time, stopping after a failure.

    Refuses the whole batch (naming each service and why) when any service cannot be released,
    so what runs is exactly what the dry-run listed.
    """
    reason = cs._clean_reason(reason)
    if not isinstance(concurrency, int) or not 1 <= concurrency <= cs.MAX_BATCH_CONCURRENCY:
        raise ValidationError(
            {
                "concurrency": f"Concurrency must be a whole number from 1 to "
                f"{cs.MAX_BATCH_CONCURRENCY} (got {concurrency})."
            }
        )
    plan = plan_batch_release(services, image=image, image_tag=image_tag)
    problems = [f"{row.service.name}: {row.problem}" for row in plan if row.problem]
    if problems:
        raise ValidationError({"services": "Cannot release: " + "; ".join(problems) + "."})
    from fleet.operations.tasks import redeploy_batch_task

    with transaction.atomic():
        batch = RedeployBatch.objects.create(
            requested_by=cs.actor_user(actor),
            actor_label=cs.actor_label(actor),
            reason=reason,
            concurrency=concurrency,
            action=RolloutAction.RELEASE,
        )
        for row in plan:
            redeploy, created = cs._create_redeploy(
                row.service,
                actor,
                reason,
                source,
                batch,
                action=RolloutAction.RELEASE,
                target_image=row.image_after,
            )
            if not created:  # started between the plan and now: refuse rather than skip it
                raise ValidationError(
                    {
                        "services": f"{row.service.name}: a rollout started meanwhile (#{redeploy.pk})."
                    }
                )
        record_action(
            actor,
            "release-batch",
            batch,
            source=source,
            after={
                "services": {row.service.name: row.image_after for row in plan},
                "concurrency": concurrency,
                "reason": reason,
            },
            detail=f"Rolling release of {len(plan)} service(s), {concurrency} at a time, "
            "stopping at the first failure.",
        )
        send_on_commit(
            redeploy_batch_task, batch.pk, on_failure=lambda why: cs._fail_unsent_batch(batch, why)
        )
    return batch, plan
