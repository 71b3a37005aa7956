"""Admin for price overrides (merged over the list prices in `fleet.costs.pricing`)."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from fleet.budgets.models import PriceOverride
from fleet.budgets.services import save_price_overrides
from fleet.costs.errors import CostInputError
from fleet.costs.pricing import price_table


class PriceOverrideForm(forms.ModelForm):
    class Meta:
        model = PriceOverride
        fields = ["prices"]
        help_texts = {
            "prices": 'e.g. {"cloud_run_vcpu_second": "0.0000336", "currency": "EUR"}; '
            "keys are the fields of fleet.costs.pricing.PriceTable."
        }

    def clean_prices(self):
        prices = self.cleaned_data["prices"] or {}
        try:
            price_table(prices)
        except CostInputError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return prices


@admin.register(PriceOverride)
class PriceOverrideAdmin(admin.ModelAdmin):
    form = PriceOverrideForm
    list_display = ("__str__", "updated_at", "updated_by")

    def has_add_permission(self, request) -> bool:
        return not PriceOverride.objects.exists()

    def save_model(self, request, obj, form, change) -> None:
        # Through the service layer, so the change is audit-logged; the one row is pk=1.
        saved = save_price_overrides(actor=request.user, source="ui", prices=obj.prices)
        obj.pk = saved.pk
