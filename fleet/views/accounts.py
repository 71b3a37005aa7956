"""Cloud account pages. Accounts hold locations only, never credentials."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from console.access import role_required
from fleet import services as fleet_services
from fleet.forms import AccountForm
from fleet.models import CloudAccount


@require_GET
def account_list(request: HttpRequest) -> HttpResponse:
    accounts = CloudAccount.objects.annotate(service_count=Count("services")).order_by("name")
    return render(request, "fleet/account_list.html", {"accounts": accounts})


@role_required("operator")
@require_http_methods(["GET", "POST"])
def account_edit(request: HttpRequest, name: str | None = None) -> HttpResponse:
    instance = get_object_or_404(CloudAccount, name=name) if name else None
    if request.method == "POST":
        form = AccountForm(request.POST)
        if form.is_valid():
            try:
                account = fleet_services.save_account(
                    actor=request.user, source="ui", spec=form.spec(), instance=instance
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"Saved account {account.name}.")
                return redirect("account-list")
    else:
        form = AccountForm(initial=fleet_services.account_state(instance) if instance else None)
    status = 422 if form.errors else 200
    return render(
        request, "fleet/account_form.html", {"form": form, "account": instance}, status=status
    )


@role_required("operator")
@require_POST
def account_delete(request: HttpRequest, name: str) -> HttpResponse:
    account = get_object_or_404(CloudAccount, name=name)
    try:
        fleet_services.delete_account(actor=request.user, source="ui", account=account)
    except ValidationError as exc:
        messages.error(request, exc.message_dict["account"][0])
    else:
        messages.success(request, f"Deleted account {name}.")
    return redirect("account-list")
