"""Dashboard filters: every choice lives in the query string so a view can be shared."""

from __future__ import annotations

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import F, Q, QuerySet
from django.db.models.expressions import OrderBy

from fleet import validation
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


class TagListField(forms.Field):
    """Any number of tags (?tag=a&tag=b, or one string from the API); each must be a valid tag."""

    widget = forms.SelectMultiple

    def to_python(self, value) -> list[str]:
        if not value:
            return []
        values = [value] if isinstance(value, str) else list(value)
        return sorted({str(v).strip() for v in values if str(v).strip()})

    def validate(self, value: list[str]) -> None:
        try:
            validation.validate_tags(value)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["tags"][0]) from exc


class TagsFilter(django_filters.Filter):
    field_class = TagListField

    def filter(self, qs: QuerySet, value: list[str]) -> QuerySet:
        # A service must carry every chosen tag. Tags are a JSON list; matching the quoted string
        # works on SQLite and PostgreSQL alike (the tag rule admits no quote or backslash).
        for tag in value or ():
            qs = qs.filter(tags__icontains=f'"{tag}"')
        return qs


class ServiceFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    # The dashboard and the scorecard show these selects without a visible label: name them.
    status = django_filters.ChoiceFilter(
        choices=HealthStatus.choices,
        empty_label="any status",
        widget=forms.Select(attrs={"aria-label": "Status"}),
    )
    kind = django_filters.ChoiceFilter(
        choices=ServiceKind.choices,
        empty_label="any kind",
        widget=forms.Select(attrs={"aria-label": "Kind"}),
    )
    cloud = django_filters.ChoiceFilter(
        choices=Provider.choices,
        method="by_cloud",
        empty_label="any cloud",
        label="Cloud",
        widget=forms.Select(attrs={"aria-label": "Cloud"}),
    )
    environment = django_filters.CharFilter(lookup_expr="iexact")
    team = django_filters.CharFilter(lookup_expr="iexact")
    tag = TagsFilter(label="Tags")

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
