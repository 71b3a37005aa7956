"""Dashboard filters: every choice lives in the query string so a view can be shared."""

from __future__ import annotations

import django_filters
from django.db.models import F, Q, QuerySet
from django.db.models.expressions import OrderBy

from fleet.models import HealthStatus, Provider, Service, ServiceKind

SORT_FIELDS = {
    "name": "name",
    "status": "status",
    "kind": "kind",
    "cloud": "account__provider",
    "region": "account__region",
    "environment": "environment",
    "team": "team",
    "checked": "last_checked_at",
    "latency": "last_latency_ms",
}


class ServiceFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.ChoiceFilter(choices=HealthStatus.choices, empty_label="any status")
    kind = django_filters.ChoiceFilter(choices=ServiceKind.choices, empty_label="any kind")
    cloud = django_filters.ChoiceFilter(
        choices=Provider.choices, method="by_cloud", empty_label="any cloud", label="Cloud"
    )
    environment = django_filters.CharFilter(lookup_expr="iexact")
    team = django_filters.CharFilter(lookup_expr="iexact")
    tag = django_filters.CharFilter(method="by_tag", label="Tag")

    class Meta:
        model = Service
        fields = ["q", "status", "kind", "cloud", "environment", "team", "tag"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(
            Q(name__icontains=value)
            | Q(team__icontains=value)
            | Q(owner__icontains=value)
            | Q(url__icontains=value)
            | Q(resource__icontains=value)
        )

    def by_cloud(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == Provider.URL:
            return queryset.filter(Q(account__isnull=True) | Q(account__provider=value))
        return queryset.filter(account__provider=value)

    def by_tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # Tags are a JSON list; matching the quoted string works on SQLite and Postgres alike.
        return queryset.filter(tags__icontains=f'"{value}"')


def sort_key(raw: str) -> tuple[str, OrderBy]:
    """The sort as kept in the URL and the ordering for it; empty values always sort last.

    ('name', name ASC) for ?sort=name, ('-latency', last_latency_ms DESC NULLS LAST) for ?sort=-latency.
    """
    desc = raw.startswith("-")
    key = raw.lstrip("-")
    if key not in SORT_FIELDS:
        return "name", F("name").asc()
    field = F(SORT_FIELDS[key])
    return raw, field.desc(nulls_last=True) if desc else field.asc(nulls_last=True)
