"""Audit pages: scorecard, runs, exports, diffs, attestations and the admin's settings.

Views stay thin: parse, call `checks.audits.services` or a query in `scorecard`, render.
Viewers read everything; operators run audits and attest; admins change the settings.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checks.audits import services as audit_services
from checks.audits.catalogue import RULES_BY_ID
from checks.audits.exporting import EXTENSIONS, stream_export
from checks.audits.forms import (
    AttestationForm,
    BulkAttestationForm,
    CustomRuleForm,
    PolicyForm,
)
from checks.audits.models import (
    Attestation,
    AuditPolicy,
    AuditRun,
    CustomRule,
    RuleSetting,
)
from checks.audits.scorecard import (
    STATUS_ORDER,
    compare_runs,
    run_page,
    runs_since,
    scorecard,
    sections,
    service_history,
)
from checks.audits.streaming import streaming_response
from console.access import has_role, role_required
from console.htmx import render_page
from fleet.models import Service


def _error(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "audits/error.html", {"message": message}, status=status)


# --- scorecard and history ---------------------------------------------------------------------


@require_GET
def scorecard_page(request: HttpRequest) -> HttpResponse:
    view = scorecard(request.GET, request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    context = {"view": view, "query_without_page": params.urlencode()}
    return render_page(request, "audits/scorecard.html", "matrix", context)


@require_GET
def service_page(request: HttpRequest, name: str) -> HttpResponse:
    service = get_object_or_404(Service.objects.select_related("account"), name=name)
    form = AttestationForm(rules=audit_services.manual_rules())
    return render(request, "audits/service.html", _service_context(service, form))


def _service_context(service: Service, form: AttestationForm) -> dict:
    history = service_history(service)
    return {
        "service": service,
        # (this run's scores, the previous run's) for "what changed" links
        "history": list(zip(history, [*history[1:], None], strict=False)),
        "latest": history[0] if history else None,
        "trend": [h.overall for h in reversed(history)],
        "sections": sections(),
        "attest_form": form,
        "policy": AuditPolicy.current(),
    }


# --- runs --------------------------------------------------------------------------------------


@role_required("operator")
@require_POST
def run_fleet(request: HttpRequest) -> HttpResponse:
    if not Service.objects.exists():
        messages.error(request, "The fleet has no services registered; nothing to audit.")
        return redirect("audit-scorecard")
    run = audit_services.create_run(actor=request.user, trigger=AuditRun.Trigger.MANUAL)
    messages.success(request, f"Fleet audit #{run.pk} queued.")
    return redirect(run)


@role_required("operator")
@require_POST
def run_service(request: HttpRequest, name: str) -> HttpResponse:
    service = get_object_or_404(Service, name=name)
    run = audit_services.create_run(
        actor=request.user, trigger=AuditRun.Trigger.MANUAL, service=service
    )
    messages.success(request, f"Audit #{run.pk} of {service.name} queued.")
    return redirect(run)


@require_GET
def run_list(request: HttpRequest) -> HttpResponse:
    runs = AuditRun.objects.select_related("service")[:100]
    return render(request, "audits/run_list.html", {"runs": runs})


@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = AuditRun.objects.filter(pk=pk).first()
    if run is None:
        return _error(request, f"Audit run {pk} does not exist.", 404)
    params = request.GET.copy()
    params.pop("page", None)
    context = {
        "run": run,
        "view": run_page(run, request.GET),
        "query_without_page": params.urlencode(),
        "statuses": STATUS_ORDER,
        "fixes": audit_services.fix_texts(),
        "sections": sections(),
        "previous": _previous_run(run),
    }
    response = render_page(request, "audits/run_detail.html", "run-status", context)
    if request.htmx and run.is_finished:
        # The fragment already carries no poll trigger; tell htmx to refresh the whole page once.
        response["HX-Refresh"] = "true"
    return response


def _previous_run(run: AuditRun) -> AuditRun | None:
    return (
        AuditRun.objects.filter(
            scope_label=run.scope_label,
            status=AuditRun.State.SUCCEEDED,
            created_at__lt=run.created_at,
        )
        .order_by("-created_at", "-id")
        .first()
    )


@require_GET
def run_export(request: HttpRequest, pk: int, ext: str) -> HttpResponse:
    run = AuditRun.objects.filter(pk=pk).first()
    if run is None:
        return HttpResponse(
            f"Audit run {pk} does not exist.\n", status=404, content_type="text/plain"
        )
    if not run.is_finished or run.status == AuditRun.State.FAILED:
        reason = run.error or f"it is {run.status}"
        return HttpResponse(
            f"Audit run {pk} has no results to export: {reason}.\n",
            status=409,
            content_type="text/plain",
        )
    chunks, content_type = stream_export(run, EXTENSIONS[ext])
    response = streaming_response(request, chunks, content_type)
    response["Content-Disposition"] = f'inline; filename="audit-{run.pk}.{ext}"'
    return response


@require_GET
def run_diff(request: HttpRequest) -> HttpResponse:
    runs = list(AuditRun.objects.filter(status=AuditRun.State.SUCCEEDED)[:100])
    raw_from, raw_to = request.GET.get("from", ""), request.GET.get("to", "")
    context: dict = {"runs": runs, "raw_from": raw_from, "raw_to": raw_to}
    if "since" in request.GET:
        return _diff_since(request, context)
    if not raw_from and not raw_to:
        return render(request, "audits/diff.html", context)
    picked = []
    for label, raw in (("from", raw_from), ("to", raw_to)):
        if not raw.isdigit():
            context["error"] = f"'{label}' must be an audit run id (a number), got '{raw}'."
            return render(request, "audits/diff.html", context, status=400)
        run = AuditRun.objects.filter(pk=int(raw)).first()
        if run is None:
            context["error"] = f"Audit run {raw} ('{label}') does not exist."
            return render(request, "audits/diff.html", context, status=404)
        if run.status != AuditRun.State.SUCCEEDED:
            context["error"] = f"Audit run {raw} ('{label}') is {run.status}: it has no results."
            return render(request, "audits/diff.html", context, status=409)
        picked.append(run)
    service_name = request.GET.get("service", "").strip() or None
    context["comparison"] = compare_runs(*picked, service_name)
    context["since_scope"] = service_name or "fleet"
    return render(request, "audits/diff.html", context)


def _diff_since(request: HttpRequest, context: dict) -> HttpResponse:
    """`?since=7d[&service=NAME]`: the latest run (of the fleet, or that audited the service)
    against the one N days before it."""
    raw = request.GET.get("since", "").strip().lower()
    days = raw[:-1] if raw.endswith("d") else raw
    if not days.isdigit() or not 1 <= int(days) <= 3650:
        context["error"] = f"'since' must be a number of days like 7d, got '{raw}'."
        return render(request, "audits/diff.html", context, status=400)
    scope = request.GET.get("service", "").strip() or "fleet"
    baseline, latest = runs_since(int(days), scope)
    what = "fleet-wide audit" if scope == "fleet" else f"audit of {scope}"
    if latest is None or baseline is None:
        context["error"] = (
            f"Nothing to compare: there {'is no' if latest is None else 'is only one'} finished "
            f"{what}. Run another audit, then compare."
        )
        return render(request, "audits/diff.html", context)
    context.update(
        raw_from=str(baseline.pk),
        raw_to=str(latest.pk),
        comparison=compare_runs(baseline, latest, None if scope == "fleet" else scope),
        since_days=int(days),
        since_scope=scope,
    )
    return render(request, "audits/diff.html", context)


# --- attestations ------------------------------------------------------------------------------


def _attest_from_form(request: HttpRequest, service: Service | None) -> AttestationForm:
    form = AttestationForm(request.POST, rules=audit_services.manual_rules())
    if form.is_valid():
        try:
            attestation = audit_services.attest(
                actor=request.user,
                source="ui",
                rule_id=form.cleaned_data["rule"],
                note=form.cleaned_data["note"],
                service=service,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form.saved = attestation
    return form


@role_required("operator")
@require_POST
def attest_service(request: HttpRequest, name: str) -> HttpResponse:
    service = get_object_or_404(Service, name=name)
    form = _attest_from_form(request, service)
    saved = getattr(form, "saved", None)
    if saved is not None:
        messages.success(
            request,
            f"Attested {saved.rule_id} for {service.name}; valid until "
            f"{saved.expires_at:%Y-%m-%d}. The next audit counts it.",
        )
        target = request.POST.get("next", "")
        if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            return redirect(target)
        return redirect("audit-service", name=service.name)
    return render(request, "audits/service.html", _service_context(service, form), status=422)


@require_http_methods(["GET", "POST"])
def attestations(request: HttpRequest) -> HttpResponse:
    form = AttestationForm(rules=audit_services.manual_rules())
    status = 200
    if request.method == "POST":
        if not _can(request, "operator"):
            return _error(request, "Attesting needs the operator role.", 403)
        form = _attest_from_form(request, None)
        saved = getattr(form, "saved", None)
        if saved is not None:
            messages.success(
                request,
                f"Attested {saved.rule_id} for all services; valid until "
                f"{saved.expires_at:%Y-%m-%d}.",
            )
            return redirect("audit-attestations")
        status = 422
    rows = Attestation.objects.select_related("service")
    if request.GET.get("service"):
        rows = rows.filter(service__name=request.GET["service"])
    context = {
        "attestations": rows[:200],
        "form": form,
        "policy": AuditPolicy.current(),
        "titles": {r.id: r.title for r in audit_services.all_rules()},
    }
    return render(request, "audits/attestations.html", context, status=status)


BULK_FIELDS = ("team", "environment", "tag", "services", "note", "expires_on")


def _bulk_form(data=None) -> BulkAttestationForm:
    return BulkAttestationForm(
        data,
        rules=audit_services.manual_rules(),
        teams=_distinct("team"),
        environments=_distinct("environment"),
    )


@role_required("operator")
@require_http_methods(["GET", "POST"])
def bulk_attest(request: HttpRequest) -> HttpResponse:
    """Attest one rule for many services: the form, a preview of who it covers, then confirm."""
    if request.method == "GET":
        return render(request, "audits/bulk_attest.html", _bulk_context(_bulk_form()))
    form = _bulk_form(request.POST)
    if not form.is_valid():
        return render(request, "audits/bulk_attest.html", _bulk_context(form), status=422)
    data = form.cleaned_data
    try:
        preview = _preview(data)
        # Confirm only what was shown: a changed selection is previewed again.
        if request.POST.get("confirm") != "yes" or request.POST.get("previewed") != ",".join(
            preview.names
        ):
            return render(request, "audits/bulk_attest.html", _bulk_context(form, preview))
        done = audit_services.attest_bulk(
            actor=request.user,
            source="ui",
            rule_id=data["rule"],
            note=data["note"],
            team=data["team"],
            environment=data["environment"],
            tag=data["tag"],
            services=data["services"],
            expires_on=data["expires_on"] or None,
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return render(request, "audits/bulk_attest.html", _bulk_context(form), status=422)
    messages.success(
        request,
        f"Attested {done.rule_id} for {len(done.services)} service(s) ({done.selection}); "
        f"valid until {_local(done.expires_at)}. The next audit counts them.",
    )
    return redirect("audit-attestations")


def _local(moment: datetime) -> str:
    """A moment as the pages show it: the viewer's zone, in words and minutes."""
    local = timezone.localtime(moment)
    return f"{date_format(local, 'j M Y, H:i')} {local.tzname() or ''}".strip()


def _preview(data: dict) -> audit_services.BulkPreview:
    """Who the attestation would cover; raises ValidationError like the real thing."""
    return audit_services.preview_bulk(
        rule_id=data["rule"],
        note=data["note"],
        team=data["team"],
        environment=data["environment"],
        tag=data["tag"],
        services=data["services"],
        expires_on=data["expires_on"] or None,
    )


def _bulk_context(form: BulkAttestationForm, preview=None) -> dict:
    return {"form": form, "preview": preview, "policy": AuditPolicy.current()}


def _distinct(column: str) -> list[str]:
    return list(
        Service.objects.exclude(**{column: ""})
        .order_by(column)
        .values_list(column, flat=True)
        .distinct()
    )


@role_required("operator")
@require_POST
def revoke_attestation(request: HttpRequest, pk: int) -> HttpResponse:
    attestation = get_object_or_404(Attestation, pk=pk)
    audit_services.revoke_attestation(actor=request.user, source="ui", attestation=attestation)
    messages.success(request, f"Revoked the attestation of {attestation.rule_id}.")
    return redirect("audit-attestations")


def _can(request: HttpRequest, role: str) -> bool:
    return has_role(request.user, role)


# --- settings (admins) -------------------------------------------------------------------------


def _settings_context(policy_form=None, custom_form=None) -> dict:
    policy = AuditPolicy.current()
    overrides = {s.rule_id: s for s in RuleSetting.objects.all()}
    rules = [
        (rule, overrides.get(rule.id), rule.id not in RULES_BY_ID)
        for rule in audit_services.all_rules()
    ]
    return {
        "policy": policy,
        "policy_form": policy_form
        or PolicyForm(
            initial={
                **audit_services.policy_state(policy),
                "allowed_regions": ", ".join(policy.allowed_regions or []),
            }
        ),
        "rules": rules,
        "custom_rules": CustomRule.objects.all(),
        "custom_form": custom_form or CustomRuleForm(),
        "severities": ["critical", "high", "medium", "low"],
    }


@role_required("admin")
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "audits/settings.html", _settings_context())
    form = PolicyForm(request.POST)
    if form.is_valid():
        try:
            audit_services.update_policy(actor=request.user, source="ui", changes=form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, "Saved the audit policy; the next audit applies it.")
            return redirect("audit-settings")
    return render(request, "audits/settings.html", _settings_context(policy_form=form), status=422)


@role_required("admin")
@require_POST
def rule_setting(request: HttpRequest, rule_id: str) -> HttpResponse:
    try:
        audit_services.update_rule_setting(
            actor=request.user,
            source="ui",
            rule_id=rule_id,
            enabled=request.POST.get("enabled") in ("on", "true", "1"),
            severity=request.POST.get("severity", ""),
        )
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return redirect("audit-settings")
    messages.success(request, f"Saved {rule_id}.")
    return redirect("audit-settings")


@role_required("admin")
@require_POST
def custom_rule_create(request: HttpRequest) -> HttpResponse:
    form = CustomRuleForm(request.POST)
    if form.is_valid():
        try:
            rule = audit_services.create_custom_rule(
                actor=request.user, source="ui", spec=form.cleaned_data
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Added the manual rule {rule.rule_id}.")
            return redirect("audit-settings")
    return render(request, "audits/settings.html", _settings_context(custom_form=form), status=422)


@role_required("admin")
@require_POST
def custom_rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(CustomRule, pk=pk)
    audit_services.delete_custom_rule(actor=request.user, source="ui", rule=rule)
    messages.success(request, f"Deleted the manual rule {rule.rule_id}.")
    return redirect("audit-settings")
