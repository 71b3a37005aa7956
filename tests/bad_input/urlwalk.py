"""Enumerate every URL pattern of the URLconf (ninja's API routes included) as concrete URLs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver, reverse


@dataclass(frozen=True)
class Route:
    pattern: str  # the route as written, e.g. "services/<str:name>/edit/"
    url_name: str  # namespaced, for reverse()
    params: tuple[str, ...]

    def __str__(self) -> str:
        return self.pattern


def _walk(patterns, prefix: str, namespace: str) -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}{entry.namespace}:"
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            params = tuple(entry.pattern.regex.groupindex)
            yield Route(prefix + str(entry.pattern), f"{namespace}{entry.name or ''}", params)


def all_routes(skip_prefixes: tuple[str, ...] = ("admin/",)) -> list[Route]:
    """Each distinct route once (ninja lists one pattern per operation on the same path)."""
    seen: dict[str, Route] = {}
    for route in _walk(get_resolver().url_patterns, "", ""):
        if route.pattern.startswith(skip_prefixes) or route.pattern in seen:
            continue
        seen[route.pattern] = route
    return list(seen.values())


def url_for(route: Route, kwargs: dict) -> str:
    return reverse(route.url_name, kwargs={p: kwargs[p] for p in route.params})
