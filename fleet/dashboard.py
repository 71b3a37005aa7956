"""The dashboard's queries, shaped so their number does not grow with the fleet."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, QuerySet

from fleet.filters import ServiceFilter, sort_key
from fleet.models import HealthStatus, Provider, Service


@dataclass
class FleetTotals:
    total: int = 0
    by_status: Counter = field(default_factory=Counter)
    by_cloud: Counter = field(default_factory=Counter)
    by_environment: Counter = field(default_factory=Counter)

    def status_rows(self) -> list[tuple[str, str, int]]:
        return [(s.value, s.label, self.by_status.get(s.value, 0)) for s in HealthStatus]

    def environment_rows(self) -> list[tuple[str, int]]:
        # Counter is unsafe in templates: a missing key such as "items" reads as 0.
        return sorted(self.by_environment.items())

    def cloud_rows(self) -> list[tuple[str, str, int]]:
        return [
            (p.value, p.label, self.by_cloud[p.value]) for p in Provider if self.by_cloud[p.value]
        ]


def fleet_totals(queryset: QuerySet | None = None) -> FleetTotals:
    """Totals by status, cloud and environment of `queryset` (the whole fleet) in one grouped query."""
    totals = FleetTotals()
    source = Service.objects.all() if queryset is None else queryset
    rows = (
        source.order_by()
        .values("status", "environment", provider=F("account__provider"))
        .annotate(n=Count("id"))
    )
    for row in rows:
        n = row["n"]
        totals.total += n
        totals.by_status[row["status"]] += n
        totals.by_cloud[row["provider"] or Provider.URL] += n
        totals.by_environment[row["environment"] or "—"] += n
    return totals


class FilterChoices:
    """The choices of the filter form, read only when a template asks (full pages, not fragments)."""

    @cached_property
    def environments(self) -> list[str]:
        return self._distinct("environment")

    @cached_property
    def teams(self) -> list[str]:
        return self._distinct("team")

    @cached_property
    def tags(self) -> list[str]:
        """Every tag in the fleet, sorted (one query over the distinct tag lists)."""
        lists = Service.objects.order_by().values_list("tags", flat=True).distinct()
        return sorted({t for tags in lists if isinstance(tags, list) for t in tags})

    @staticmethod
    def _distinct(field: str) -> list[str]:
        return list(
            Service.objects.exclude(**{field: ""})
            .order_by(field)
            .values_list(field, flat=True)
            .distinct()
        )


@dataclass
class DashboardView:
    filterset: ServiceFilter
    page: Page
    sort: str
    totals: FleetTotals
    choices: FilterChoices
    chosen_tags: list[str]


def dashboard_view(params, page_number: str | int | None, per_page: int) -> DashboardView:
    """Filtered, sorted, paginated services plus totals of the services the filters match."""
    sort, order = sort_key(params.get("sort", "name"))
    # The scaling row rides along so each row can flag drift without a query of its own.
    base: QuerySet = Service.objects.select_related("account", "scaling")
    filterset = ServiceFilter(params, queryset=base)
    valid = filterset.is_valid()
    matching = filterset.qs if valid else base.none()
    page = Paginator(matching.order_by(order, "name"), per_page).get_page(page_number)
    return DashboardView(
        filterset=filterset,
        page=page,
        sort=sort,
        totals=fleet_totals(matching),
        choices=FilterChoices(),
        chosen_tags=filterset.form.cleaned_data.get("tag", []) if valid else [],
    )


def blast_radius(service: Service) -> list[Service]:
    """Every agent backend that calls `service`, directly or through other agents."""
    seen: dict[int, Service] = {}
    frontier = [service.pk]
    while frontier:
        callers = list(
            Service.objects.filter(calls__callee_id__in=frontier).exclude(pk__in=seen).distinct()
        )
        callers = [c for c in callers if c.pk != service.pk]
        for caller in callers:
            seen[caller.pk] = caller
        frontier = [c.pk for c in callers]
    return sorted(seen.values(), key=lambda s: s.name)
