"""Saving and deleting views: validated here once for the form and the API, each one audit-logged.

Who sees what: a view is its owner's; `shared` lists it for every user (read-only for them). The
owner deletes it; an admin may delete any shared view (to tidy everyone's list).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import QueryDict

from console import limits
from console.access import has_role
from console.audit import record_action
from fleet.filters import SORT_FIELDS, ServiceFilter
from fleet.models import Service
from fleet.saved_views.models import SavedView

# The dashboard parameters a view keeps, in the order they are written back (never the page).
QUERY_KEYS = ("q", "status", "kind", "cloud", "environment", "team", "tag", "sort")
IGNORED_KEYS = ("page",)


def visible_views(user: Any) -> QuerySet[SavedView]:
    """The user's own views and everyone's shared ones, by name."""
    return SavedView.objects.filter(Q(owner=user) | Q(shared=True)).select_related("owner")


def deletable_views(user: Any) -> QuerySet[SavedView]:
    """Views `user` may delete: their own, and shared ones too for admins."""
    if has_role(user, "admin"):
        return SavedView.objects.filter(Q(owner=user) | Q(shared=True))
    return SavedView.objects.filter(owner=user)


def canonical_query(raw: object) -> str:
    """The dashboard query string a view stores: known filters only, checked, in a fixed order."""
    if not isinstance(raw, str):
        raise ValidationError({"query": "Query must be a query string such as team=platform."})
    text = raw.strip().lstrip("?")
    if len(text) > limits.SAVED_VIEW_QUERY_MAX:
        raise ValidationError(
            {"query": f"Query is {len(text)} characters long; at most "
             f"{limits.SAVED_VIEW_QUERY_MAX} are allowed."}
        )  # fmt: skip
    params = QueryDict(text)
    unknown = sorted(set(params) - set(QUERY_KEYS) - set(IGNORED_KEYS))
    if unknown:
        raise ValidationError(
            {
                "query": f"'{unknown[0][:40]}' is not a dashboard filter: use {', '.join(QUERY_KEYS)}."
            }
        )
    if any(not v.isprintable() for key in params for v in params.getlist(key)):
        raise ValidationError({"query": "Query values cannot contain control characters."})
    sort = params.get("sort", "name")
    if sort.removeprefix("-") not in SORT_FIELDS:
        raise ValidationError(
            {"query": f"sort: '{sort[:40]}' is not a column: use {', '.join(SORT_FIELDS)} "
             "(a leading '-' sorts descending)."}
        )  # fmt: skip
    filterset = ServiceFilter(params, queryset=Service.objects.none())
    if not filterset.is_valid():
        field, errors = next(iter(filterset.errors.items()))
        raise ValidationError({"query": f"{field}: {' '.join(errors)}"})
    out = QueryDict(mutable=True)
    for key in QUERY_KEYS:
        values = [v.strip() for v in params.getlist(key) if v.strip()]
        if key == "tag":
            values = sorted(set(values))
        if values and not (key == "sort" and values == ["name"]):
            out.setlist(key, values[-1:] if key != "tag" else values)
    return out.urlencode()


def view_state(view: SavedView) -> dict:
    return {"name": view.name, "query": view.query, "shared": view.shared}


def save_view(actor: Any, source: str, *, name: object, query: object, shared: object) -> SavedView:
    """Create a saved view for `actor`; ValidationError naming each bad field, nothing saved then."""
    errors: dict[str, str] = {}
    clean_name = clean_query = ""
    try:
        clean_name = limits.check_name("name", name, "saved_view.name")
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
    try:
        clean_query = canonical_query(query)
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
    if not isinstance(shared, bool):
        errors["shared"] = "Shared must be true or false."
    if clean_name and SavedView.objects.filter(owner=actor, name__iexact=clean_name).exists():
        errors["name"] = f"You already have a view named '{clean_name}': pick another name."
    limit = limits.BOUNDS["saved_views_per_user"].high
    if SavedView.objects.filter(owner=actor).count() >= limit:
        errors.setdefault(
            "name", f"You have {limit} saved views, the most allowed: delete one first."
        )
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            view = SavedView.objects.create(
                owner=actor, name=clean_name, query=clean_query, shared=shared
            )
            record_action(actor, "create", view, source=source, after=view_state(view))
    except IntegrityError as exc:  # the same name saved twice at once
        raise ValidationError(
            {"name": f"You already have a view named '{clean_name}': pick another name."}
        ) from exc
    return view


def delete_view(actor: Any, source: str, view: SavedView) -> None:
    """Delete `view` (the caller has checked it is in deletable_views) and record who did it."""
    with transaction.atomic():
        record_action(actor, "delete", view, source=source, before=view_state(view),
                      detail=f"owner {view.owner.username}")  # fmt: skip
        view.delete()
