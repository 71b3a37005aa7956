"""Alerting pages: alerts with their deliveries, channels (with a test send) and silences."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from console.access import role_required
from console.htmx import render_page, wants_fragment
from console.notifications import services
from console.notifications.forms import ChannelForm, SilenceForm
from console.notifications.models import Alert, AlertChannel, Delivery, Silence

RECENT_DAYS = 7
RECENT_LIMIT = 50


@require_GET
def alert_list(request: HttpRequest) -> HttpResponse:
    deliveries = Prefetch("deliveries", queryset=Delivery.objects.order_by("created_at", "id"))
    alerts = Alert.objects.select_related("service", "silenced_by", "resolves").prefetch_related(
        deliveries
    )
    since = timezone.now() - timedelta(days=RECENT_DAYS)
    context = {
        "open_alerts": list(alerts.filter(resolved_at__isnull=True).exclude(kind="test")),
        "recent_alerts": list(
            alerts.filter(resolved_at__gte=since).order_by("-resolved_at", "-id")[:RECENT_LIMIT]
        ),
        "active_silences": Silence.objects.active().count(),
        "channel_count": AlertChannel.objects.filter(enabled=True).count(),
    }
    return render_page(request, "notifications/alert_list.html", "alerts", context)


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
            messages.success(request, f"Silenced {silence.scope()} until {silence.ends_at:%H:%M}.")
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
