"""The dependency graph's SVG nodes and edges as markup, built in Python (a template loop over a
thousand services is several times slower). Classes only, no style attributes (CSP-clean)."""

from __future__ import annotations

from collections.abc import Collection

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from fleet.dependency_graph import NODE_HEIGHT, NODE_WIDTH, Edge, Layout, Node


def edges_markup(graph: Layout, lit: Collection[Edge]) -> SafeString:
    return mark_safe(  # noqa: S308 (numbers and classes only)
        "".join(
            f'<path class="edge{" lit" if e in lit else ""}" d="{e.path}" '
            f'data-from="{e.caller}" data-to="{e.callee}" marker-end="url(#arrow)"/>'
            for e in graph.edges
        )
    )


def nodes_markup(graph: Layout, selected: Node | None, radius: Collection[int]) -> SafeString:
    chosen = selected.id if selected is not None else None
    return mark_safe("".join(_node(n, chosen, radius) for n in graph.nodes))  # noqa: S308


def _node(node: Node, chosen: int | None, radius: Collection[int]) -> str:
    """One box: its visible text (name, kind · status) is its accessible name; a long name is
    clipped to the box (`#node-clip` in the template), never cut in the text itself."""
    mark = " selected" if node.id == chosen else " in-radius" if node.id in radius else ""
    name, kind, status = escape(node.name), escape(node.kind_word), escape(node.status_word)
    return (
        f'<a class="node kind-{escape(node.kind)} status-{escape(node.status)}{mark}" '
        f'href="?selected={name}#selection" data-node="{node.id}" data-name="{name}" '
        f'data-callers="{node.caller_ids}" transform="translate({node.x},{node.y})">'
        f'<rect width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="6"/>'
        f'<rect class="status-bar" width="6" height="{NODE_HEIGHT}" rx="2"/>'
        f'<g clip-path="url(#node-clip)"><text x="14" y="18" class="name">{name}</text>'
        f'<text x="14" y="35" class="meta">{kind} · {status}</text></g></a>'
    )
