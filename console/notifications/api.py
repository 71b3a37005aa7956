"""Alerting API: channels, alerts, silences. Thin: parse, call a service function, shape."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Query, Router, Schema
from ninja.responses import Status
from pydantic import Field

from console import limits
from console.api_errors import require_role
from console.notifications import listing, services
from console.notifications.models import Alert, AlertChannel, AlertGroup, Delivery, Silence

router = Router(tags=["alerts"])

ChannelTypeName = Literal["webhook", "slack", "email"]
KindName = Literal["down", "recovered", "degraded", "drift", "budget", "redeploy_failed"]


class ErrorOut(Schema):
    detail: str | list


class ChannelIn(Schema):
    name: str
    type: ChannelTypeName
    target: str = Field(description="URL, comma-separated emails, or env:NAME / file:/path")
    secret_header: str = ""
    secret_ref: str = Field("", description="env:NAME or file:/path; never the secret itself")
    enabled: bool = True
    match_teams: list[str] = Field(default_factory=list)
    match_environments: list[str] = Field(default_factory=list)
    match_services: list[str] = Field(default_factory=list)
    match_kinds: list[KindName] = Field(default_factory=list)


class ChannelOut(ChannelIn):
    id: int
    match_kinds: list[str]


class DeliveryOut(Schema):
    id: int
    channel: str
    purpose: str
    status: str
    attempts: int
    response_code: int | None
    last_error: str
    sent_at: datetime | None


class AckOut(Schema):
    by: str
    at: datetime
    note: str


class AckIn(Schema):
    note: str = Field("", description="Why, or who is on it; at most 500 characters")


class AlertOut(Schema):
    id: int
    group: int | None
    cause: str
    acknowledged: AckOut | None
    kind: str
    severity: str
    title: str
    body: str
    dedupe_key: str
    service: str | None
    team: str
    environment: str
    url: str
    opened_at: datetime
    resolved_at: datetime | None
    last_sent_at: datetime | None
    reminder_count: int
    event_count: int
    silenced: bool
    deliveries: list[DeliveryOut]


class GroupOut(Schema):
    id: int
    cause: str
    kind: str
    severity: str
    title: str
    service: str | None
    alerts: int
    open: int
    first_seen: datetime | None
    last_seen: datetime | None
    acknowledged: AckOut | None


class GroupQuery(Schema):
    state: Literal["open", "all"] = "open"
    limit: int = limits.query_field("limit", 100)


class AlertQuery(Schema):
    state: Literal["open", "resolved", "all"] = "open"
    service: str = ""
    limit: int = limits.query_field("limit", 100)


class SilenceIn(Schema):
    match_service: str = ""
    match_team: str = ""
    match_environment: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    minutes: int | None = Field(None, description="Instead of ends_at: how long from the start")
    reason: str


class SilenceOut(Schema):
    id: int
    match_service: str
    match_team: str
    match_environment: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str | None
    active: bool


def _channel_out(channel: AlertChannel) -> dict:
    return {"id": channel.pk, **services.channel_state(channel)}


def _delivery_out(d: Delivery) -> dict:
    return {
        "id": d.pk,
        "channel": d.channel_name,
        "purpose": d.purpose,
        "status": d.status,
        "attempts": d.attempts,
        "response_code": d.response_code,
        "last_error": d.last_error,
        "sent_at": d.sent_at,
    }


def _alert_out(a: Alert) -> dict:
    return {
        **{
            f: getattr(a, f)
            for f in (
                "id",
                "kind",
                "severity",
                "title",
                "body",
                "dedupe_key",
                "team",
                "environment",
                "url",
                "opened_at",
                "resolved_at",
                "last_sent_at",
                "reminder_count",
                "event_count",
            )
        },
        "group": a.group_id,
        "cause": a.group.cause_key if a.group_id else "",
        "acknowledged": _ack_out(a),
        "service": a.service_name or None,
        "silenced": a.silenced_by_id is not None,
        "deliveries": [_delivery_out(d) for d in a.deliveries.all()],
    }


def _ack_out(obj: Alert | AlertGroup) -> dict | None:
    if not obj.is_acknowledged:
        return None
    return {"by": obj.acknowledged_by_name, "at": obj.acknowledged_at, "note": obj.ack_note}


def _group_out(g: AlertGroup) -> dict:
    return {
        "id": g.pk,
        "cause": g.cause_key,
        "kind": g.kind,
        "severity": g.severity,
        "title": g.title,
        "service": g.service_name or None,
        "alerts": g.occurrences,
        "open": g.open_count,
        "first_seen": g.first_seen,
        "last_seen": g.last_seen,
        "acknowledged": _ack_out(g),
    }


def _silence_out(s: Silence) -> dict:
    return {
        "id": s.pk,
        "match_service": s.match_service,
        "match_team": s.match_team,
        "match_environment": s.match_environment,
        "starts_at": s.starts_at,
        "ends_at": s.ends_at,
        "reason": s.reason,
        "created_by": s.created_by.username if s.created_by_id else None,
        "active": s.is_active,
    }


@router.get("/alerts/channels", response=list[ChannelOut], summary="List alert channels")
def list_channels(request: HttpRequest):
    return [_channel_out(c) for c in AlertChannel.objects.order_by("name")]


@router.post("/alerts/channels", response={201: ChannelOut, 403: ErrorOut, 422: ErrorOut})
def create_channel(request: HttpRequest, payload: ChannelIn):
    require_role(request, "operator")
    channel = services.save_channel(actor=request.user, source="api", spec=payload.dict())
    return Status(201, _channel_out(channel))


@router.get("/alerts/channels/{name}", response={200: ChannelOut, 404: ErrorOut})
def get_channel(request: HttpRequest, name: str):
    return _channel_out(get_object_or_404(AlertChannel, name=name))


@router.put(
    "/alerts/channels/{name}",
    response={200: ChannelOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def replace_channel(request: HttpRequest, name: str, payload: ChannelIn):
    require_role(request, "operator")
    channel = get_object_or_404(AlertChannel, name=name)
    saved = services.save_channel(
        actor=request.user, source="api", spec=payload.dict(), instance=channel
    )
    return _channel_out(saved)


@router.delete("/alerts/channels/{name}", response={204: None, 403: ErrorOut, 404: ErrorOut})
def delete_channel(request: HttpRequest, name: str):
    require_role(request, "operator")
    channel = get_object_or_404(AlertChannel, name=name)
    services.delete_channel(actor=request.user, source="api", channel=channel)
    return Status(204, None)


@router.post(
    "/alerts/channels/{name}/test",
    response={202: DeliveryOut, 403: ErrorOut, 404: ErrorOut},
    summary="Send a test alert; poll GET /alerts/deliveries/{id} for the result",
)
def test_channel(request: HttpRequest, name: str):
    require_role(request, "operator")
    channel = get_object_or_404(AlertChannel, name=name)
    delivery = services.send_test(actor=request.user, source="api", channel=channel)
    return Status(202, _delivery_out(delivery))


@router.get("/alerts/deliveries/{delivery_id}", response={200: DeliveryOut, 404: ErrorOut})
def get_delivery(request: HttpRequest, delivery_id: int):
    return _delivery_out(get_object_or_404(Delivery, pk=delivery_id))


@router.get("/alerts", response=list[AlertOut], summary="List alerts (open by default)")
def list_alerts(request: HttpRequest, query: Query[AlertQuery]):
    alerts = (
        Alert.objects.select_related("group").prefetch_related("deliveries").exclude(kind="test")
    )
    if query.state == "open":
        alerts = alerts.filter(resolved_at__isnull=True)
    elif query.state == "resolved":
        alerts = alerts.filter(resolved_at__isnull=False)
    if query.service:
        alerts = alerts.filter(service_name=query.service)
    limit = max(1, min(query.limit, 1000))
    return [_alert_out(a) for a in alerts.order_by("-opened_at", "-id")[:limit]]


@router.post(
    "/alerts/{alert_id}/acknowledge",
    response={200: AlertOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Acknowledge one open alert (no more reminders for it)",
)
def acknowledge_alert(request: HttpRequest, alert_id: int, payload: AckIn):
    require_role(request, "operator")
    alert = get_object_or_404(Alert.objects.select_related("group"), pk=alert_id)
    services.acknowledge_alert(actor=request.user, source="api", alert=alert, note=payload.note)
    return _alert_out(alert)


@router.post(
    "/alerts/{alert_id}/withdraw-acknowledgement",
    response={200: AlertOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Withdraw one open alert's acknowledgement (its reminders resume)",
)
def withdraw_alert_acknowledgement(request: HttpRequest, alert_id: int):
    require_role(request, "operator")
    alert = get_object_or_404(Alert.objects.select_related("group"), pk=alert_id)
    services.withdraw_alert_acknowledgement(actor=request.user, source="api", alert=alert)
    return _alert_out(alert)


@router.get(
    "/alerts/groups",
    response=list[GroupOut],
    summary="Alert groups, one per cause (those with an open alert by default)",
)
def list_groups(request: HttpRequest, query: Query[GroupQuery]):
    groups = listing.annotated_groups().exclude(kind="test")
    if query.state == "open":
        groups = groups.filter(open_count__gt=0)
    limit = max(1, min(query.limit, 1000))
    return [_group_out(g) for g in groups.order_by("-last_seen", "-id")[:limit]]


@router.post(
    "/alerts/groups/{group_id}/acknowledge",
    response={200: GroupOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Acknowledge a cause: its group and every open alert in it",
)
def acknowledge_group(request: HttpRequest, group_id: int, payload: AckIn):
    require_role(request, "operator")
    group = get_object_or_404(AlertGroup, pk=group_id)
    services.acknowledge_group(actor=request.user, source="api", group=group, note=payload.note)
    return _group_out(listing.annotated_groups().get(pk=group_id))


@router.post(
    "/alerts/groups/{group_id}/withdraw-acknowledgement",
    response={200: GroupOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Withdraw a cause's acknowledgement: its group and every open alert in it",
)
def withdraw_group_acknowledgement(request: HttpRequest, group_id: int):
    require_role(request, "operator")
    group = get_object_or_404(AlertGroup, pk=group_id)
    services.withdraw_group_acknowledgement(actor=request.user, source="api", group=group)
    return _group_out(listing.annotated_groups().get(pk=group_id))


@router.get("/alerts/silences", response=list[SilenceOut], summary="Silences not yet over")
def list_silences(request: HttpRequest):
    silences = Silence.objects.filter(ends_at__gt=timezone.now()).select_related("created_by")
    return [_silence_out(s) for s in silences.order_by("starts_at")]


@router.post("/alerts/silences", response={201: SilenceOut, 403: ErrorOut, 422: ErrorOut})
def create_silence(request: HttpRequest, payload: SilenceIn):
    require_role(request, "operator")
    spec = payload.dict()
    silence = services.create_silence(actor=request.user, source="api", spec=spec)
    return Status(201, _silence_out(silence))


@router.post(
    "/alerts/silences/{silence_id}/end",
    response={200: SilenceOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def end_silence(request: HttpRequest, silence_id: int):
    require_role(request, "operator")
    silence = get_object_or_404(Silence, pk=silence_id)
    return _silence_out(services.end_silence(actor=request.user, source="api", silence=silence))
