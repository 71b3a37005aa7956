"""The dependency page: the fleet drawn as a graph (server-side SVG) and, for a selected
service, its blast radius. Two queries whatever the fleet's size."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from console.wording import status_word
from fleet.dependency_graph import Node, blast_radius, layout
from fleet.dependency_svg import edges_markup, nodes_markup
from fleet.models import Dependency, Service, ServiceKind

KIND_WORDS = {ServiceKind.MCP_SERVER: "MCP server", ServiceKind.AGENT_BACKEND: "agent backend"}


@require_GET
def dependencies(request: HttpRequest) -> HttpResponse:
    """?selected=NAME highlights NAME's blast radius and lists it (the no-JavaScript selection)."""
    nodes = [
        Node(id=pk, name=name, kind=kind, status=status)
        for pk, name, kind, status in Service.objects.order_by("name").values_list(
            "pk", "name", "kind", "status"
        )
    ]
    graph = layout(nodes, Dependency.objects.values_list("caller_id", "callee_id"))
    by_id = {n.id: n for n in graph.nodes}
    detail = reverse("service-detail", args=["-"])[:-2]  # names are [a-z0-9._-]: no escaping
    for node in graph.nodes:
        node.href = f"{detail}{node.name}/"
        node.kind_word = KIND_WORDS.get(node.kind, node.kind.replace("_", " "))
        node.status_word = status_word(node.status)
        node.caller_ids = " ".join(map(str, node.callers))
        node.caller_nodes = sorted((by_id[i] for i in node.callers), key=lambda n: n.name)
        node.callee_nodes = []
    for edge in graph.edges:
        by_id[edge.caller].callee_nodes.append(by_id[edge.callee])
    selected = next((n for n in graph.nodes if n.name == request.GET.get("selected")), None)
    radius: set[int] = set()
    if selected is not None:
        radius = blast_radius(selected.id, {n.id: n.callers for n in graph.nodes})
    lit = {
        e
        for e in graph.edges
        if e.caller in radius and (e.callee in radius or e.callee == getattr(selected, "id", None))
    }
    context = {
        "graph": graph,
        "selected": selected,
        "radius": radius,
        "radius_nodes": sorted((by_id[i] for i in radius), key=lambda n: n.name),
        "edges_svg": edges_markup(graph, lit),
        "nodes_svg": nodes_markup(graph, selected, radius),
        "servers": [n for n in graph.nodes if n.kind == ServiceKind.MCP_SERVER],
        "agents": [n for n in graph.nodes if n.kind != ServiceKind.MCP_SERVER],
    }
    return render(request, "fleet/dependencies.html", context)
