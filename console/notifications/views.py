"""Alerting pages: alert groups with their deliveries and acknowledgements, channels (with a test
send) and silences."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from console.access import role_required
from console.htmx import render_page, wants_fragment
from console.notifications import listing, services
from console.notifications.forms import ChannelForm, SilenceForm
from console.notifications.models import Alert, AlertChannel, AlertGroup, Delivery, Silence

RECENT_DAYS = 7
RECENT_LIMIT = 50


GROUP_PAGE_SIZE = 100


@require_GET
def alert_list(request: HttpRequest) -> HttpResponse:
    """Open and recently resolved alerts, one row per cause; ?ack= narrows the open ones."""
    return _alert_page(request)


def _alert_page(
    request: HttpRequest, errors: dict | None = None, status: int = 200
) -> HttpResponse:
    ack = request.GET.get("ack", "")
    ack = ack if ack in listing.ACK_FILTERS else ""
    since = timezone.now() - timedelta(days=RECENT_DAYS)
    open_groups = listing.open_groups(ack)
    recent_groups = listing.resolved_groups(since, RECENT_LIMIT)
    listing.with_latest_alerts(open_groups + recent_groups)
    _mark_errors(request, open_groups, errors or {})
    context = {
        "open_groups": open_groups,
        "recent_groups": recent_groups,
        "ack_filter": ack,
        "latest_per_group": listing.LATEST_PER_GROUP,
        "active_silences": Silence.objects.active().count(),
        "channel_count": AlertChannel.objects.filter(enabled=True).count(),
    }
    return render_page(request, "notifications/alert_list.html", "alerts", context, status)


def _mark_errors(request: HttpRequest, groups: list[AlertGroup], errors: dict) -> None:
    """Put a refused acknowledgement's reason beside the form that sent it; a form no longer
    shown (the alert was acknowledged or resolved meanwhile) gets it at the top of the page."""
    placed = set()
    for group in groups:
        group.ack_error = errors.get(f"group-{group.pk}", "")
        if group.unacknowledged_open and not group.is_acknowledged:
            placed.add(f"group-{group.pk}")
        for alert in group.latest:
            alert.ack_error = errors.get(f"alert-{alert.pk}", "")
            if alert.is_open and not alert.is_acknowledged:
                placed.add(f"alert-{alert.pk}")
    for where, text in errors.items():
        if where not in placed:
            messages.error(request, text)


@require_GET
def alert_group(request: HttpRequest, pk: int) -> HttpResponse:
    """Every alert of one cause, newest first, with deliveries and acknowledgements."""
    group = get_object_or_404(listing.annotated_groups(), pk=pk)
    page = Paginator(listing.group_alerts(group), GROUP_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"group": group, "page": page}
    return render(request, "notifications/alert_group.html", context)


@role_required("operator")
@require_POST
def alert_group_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    return _act_on(
        request, AlertGroup, pk, "group",
        lambda group: services.acknowledge_group(
            actor=request.user, source="ui", group=group, note=request.POST.get("note", "")
        ),
        "Acknowledged '{title}'.",
    )  # fmt: skip


@role_required("operator")
@require_POST
def alert_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    return _act_on(
        request, Alert, pk, "alert",
        lambda alert: services.acknowledge_alert(
            actor=request.user, source="ui", alert=alert, note=request.POST.get("note", "")
        ),
        "Acknowledged '{title}'.",
    )  # fmt: skip


@role_required("operator")
@require_POST
def alert_group_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    """Take back a cause's acknowledgement (acked by mistake, or handed back)."""
    return _act_on(
        request, AlertGroup, pk, "withdraw-group",
        lambda group: services.withdraw_group_acknowledgement(
            actor=request.user, source="ui", group=group
        ),
        "Withdrew the acknowledgement of '{title}': reminders resume.",
    )  # fmt: skip


@role_required("operator")
@require_POST
def alert_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    """Take back one alert's acknowledgement."""
    return _act_on(
        request, Alert, pk, "withdraw-alert",
        lambda alert: services.withdraw_alert_acknowledgement(
            actor=request.user, source="ui", alert=alert
        ),
        "Withdrew the acknowledgement of '{title}': reminders resume.",
    )  # fmt: skip


def _act_on(
    request: HttpRequest,
    model: type[Alert] | type[AlertGroup],
    pk: int,
    where: str,
    act: Callable[[Any], object],
    done: str,
) -> HttpResponse:
    """Acknowledge or withdraw on one alert or group through its service function: back to the
    page it was sent from, or that page again (422) with the refusal beside the form."""
    target = get_object_or_404(model, pk=pk)
    try:
        act(target)
    except ValidationError as exc:
        return _ack_refused(request, f"{where}-{pk}", exc)
    messages.success(request, done.format(title=target.title))
    return _back(request)


def _ack_refused(request: HttpRequest, where: str, exc: ValidationError) -> HttpResponse:
    """The alert page again (422), the problem named beside the form that caused it."""
    field, [problem, *_] = next(iter(exc.message_dict.items()))
    text = f"{field.capitalize()}: {problem}" if field == "note" else problem
    return _alert_page(request, errors={where: text}, status=422)


def _back(request: HttpRequest) -> HttpResponse:
    """Back to the group page the form was on, or to the alert list."""
    group = request.POST.get("group", "")
    if group.isdigit() and AlertGroup.objects.filter(pk=int(group)).exists():
        return redirect("alert-group", pk=int(group))
    return redirect("alert-list")


@role_required("operator")
@require_POST
def alert_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk)
    try:
        services.close_alert(actor=request.user, source="ui", alert=alert)
    except ValidationError as exc:
        messages.error(request, exc.message_dict["alert"][0])
    else:
        messages.success(request, f"Resolved '{alert.title}'.")
    return redirect("alert-list")


@require_GET
def channel_list(request: HttpRequest) -> HttpResponse:
    channels = AlertChannel.objects.order_by("name")
    return render(request, "notifications/channel_list.html", {"channels": channels})


@role_required("operator")
@require_http_methods(["GET", "POST"])
def channel_edit(request: HttpRequest, name: str | None = None) -> HttpResponse:
    instance = get_object_or_404(AlertChannel, name=name) if name else None
    if request.method == "POST":
        form = ChannelForm(request.POST)
        if form.is_valid():
            try:
                channel = services.save_channel(
                    actor=request.user, source="ui", spec=form.spec(), instance=instance
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"Saved channel {channel.name}.")
                return redirect("alert-channel-list")
    else:
        form = ChannelForm(initial=services.channel_state(instance) if instance else None)
    context = {"form": form, "channel": instance}
    status = 422 if form.errors else 200
    return render(request, "notifications/channel_form.html", context, status=status)


@role_required("operator")
@require_POST
def channel_delete(request: HttpRequest, name: str) -> HttpResponse:
    channel = get_object_or_404(AlertChannel, name=name)
    services.delete_channel(actor=request.user, source="ui", channel=channel)
    messages.success(request, f"Deleted channel {name}.")
    return redirect("alert-channel-list")


@role_required("operator")
@require_POST
def channel_test(request: HttpRequest, name: str) -> HttpResponse:
    """Queue a test message; htmx gets the polling status in place, others the delivery page."""
    channel = get_object_or_404(AlertChannel, name=name)
    delivery = services.send_test(actor=request.user, source="ui", channel=channel)
    if wants_fragment(request):
        delivery.refresh_from_db()  # eager mode (tests, quickstart) has already sent it
        return render_page(
            request, "notifications/delivery.html", "delivery-status", {"delivery": delivery}
        )
    return redirect("alert-delivery", pk=delivery.pk)


@require_GET
def delivery_detail(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(Delivery.objects.select_related("alert"), pk=pk)
    return render_page(
        request, "notifications/delivery.html", "delivery-status", {"delivery": delivery}
    )


@require_GET
def silence_list(request: HttpRequest) -> HttpResponse:
    """Current and past silences; ?service=, ?team=, ?environment= pre-fill the new one."""
    initial = {
        f"match_{key}": request.GET[key][:63]
        for key in ("service", "team", "environment")
        if request.GET.get(key)
    }
    return _silence_page(request, SilenceForm(initial=initial))


def _silence_page(request: HttpRequest, form: SilenceForm, status: int = 200) -> HttpResponse:
    now = timezone.now()
    silences = Silence.objects.select_related("created_by")
    context = {
        "form": form,
        "current": list(silences.filter(ends_at__gt=now).order_by("starts_at")),
        "past": list(silences.filter(ends_at__lte=now).order_by("-ends_at")[:RECENT_LIMIT]),
    }
    return render(request, "notifications/silence_list.html", context, status=status)


@role_required("operator")
@require_POST
def silence_create(request: HttpRequest) -> HttpResponse:
    form = SilenceForm(request.POST)
    if form.is_valid():
        try:
            silence = services.create_silence(actor=request.user, source="ui", spec=form.spec())
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request, f"Silenced {silence.scope()} until {silence.ends_at:%Y-%m-%d %H:%M} UTC."
            )
            return redirect("alert-silence-list")
    return _silence_page(request, form, status=422)


@role_required("operator")
@require_POST
def silence_end(request: HttpRequest, pk: int) -> HttpResponse:
    silence = get_object_or_404(Silence, pk=pk)
    try:
        services.end_silence(actor=request.user, source="ui", silence=silence)
    except ValidationError as exc:
        messages.error(request, exc.message_dict["ends_at"][0])
    else:
        messages.success(request, f"Ended the silence on {silence.scope()}.")
    return redirect("alert-silence-list")
