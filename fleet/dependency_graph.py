"""The dependency graph's layout, computed in Python so the page can draw it as plain SVG.

Layers are columns: MCP servers (and anything that calls nothing) on the right, each caller one
column left of the furthest thing it calls, so every edge points right. Services in a cycle
(refused when saved, but a graph must never hang on one) share a column. Within a column services
sit near the middle of what they call (one barycentre pass), ties by name: the same fleet always
draws the same picture. Everything is linear in services + dependencies; the blast radius of one
selected service is one walk up the callers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

NODE_WIDTH = 200
NODE_HEIGHT = 44
COLUMN_GAP = 120
ROW_GAP = 14
MARGIN = 16


@dataclass
class Node:
    id: int
    name: str
    kind: str
    status: str
    layer: int = 0
    x: int = 0
    y: int = 0
    callers: list[int] = field(default_factory=list)  # who calls this one (its blast radius edges)


@dataclass(frozen=True)
class Edge:
    caller: int
    callee: int
    path: str  # SVG path data, from the caller's right side to the callee's left side


@dataclass
class Layout:
    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int
    columns: int


def layers(ids: Iterable[int], calls: Mapping[int, Iterable[int]]) -> dict[int, int]:
    """Column of each node: 0 for those that call nothing, else 1 + the furthest callee's.

    Strongly connected components (cycles) are collapsed first, so the longest-path walk is on a
    DAG and always ends; every member of a cycle gets the same layer.
    """
    ids = sorted(set(ids))
    component = strongly_connected(ids, calls)
    # Components come out of Tarjan's algorithm callees-first (reverse topological order).
    depth: dict[int, int] = {}
    members: dict[int, list[int]] = {}
    for node in ids:
        members.setdefault(component[node], []).append(node)
    for comp in sorted(members):
        deepest = -1
        for node in members[comp]:
            for callee in calls.get(node, ()):
                if callee in component and component[callee] != comp:
                    deepest = max(deepest, depth[component[callee]])
        depth[comp] = deepest + 1
    return {node: depth[component[node]] for node in ids}


def strongly_connected(ids: list[int], calls: Mapping[int, Iterable[int]]) -> dict[int, int]:
    """Tarjan's algorithm without recursion: node -> component number, callees' first."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    component: dict[int, int] = {}
    known = set(ids)
    counter = components = 0
    for root in ids:
        if root in index:
            continue
        work = [(root, iter(sorted(c for c in calls.get(root, ()) if c in known)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(c for c in calls.get(child, ()) if c in known)))
                    )
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component[member] = components
                    if member == node:
                        break
                components += 1
    return component


def layout(nodes: list[Node], dependencies: Iterable[tuple[int, int]]) -> Layout:
    """Positions for every node and a path for every edge (see the module docstring)."""
    by_id = {n.id: n for n in nodes}
    calls: dict[int, list[int]] = {}
    pairs = sorted({(a, b) for a, b in dependencies if a in by_id and b in by_id and a != b})
    for caller, callee in pairs:
        calls.setdefault(caller, []).append(callee)
        by_id[callee].callers.append(caller)
    layer_of = layers(by_id, calls)
    columns: dict[int, list[Node]] = {}
    for node in nodes:
        node.layer = layer_of[node.id]
        columns.setdefault(node.layer, []).append(node)
    top = max(columns, default=-1)
    row_of: dict[int, float] = {}
    for layer in range(top + 1):
        column = columns.get(layer, [])
        column.sort(key=lambda n: (_centre(n, calls, row_of), n.name))
        for row, node in enumerate(column):
            row_of[node.id] = row
            node.x = MARGIN + (top - layer) * (NODE_WIDTH + COLUMN_GAP)
            node.y = MARGIN + row * (NODE_HEIGHT + ROW_GAP)
    edges = [Edge(a, b, _path(by_id[a], by_id[b])) for a, b in pairs]
    rows = max((len(c) for c in columns.values()), default=0)
    width = 2 * MARGIN + (top + 1) * NODE_WIDTH + max(top, 0) * COLUMN_GAP
    height = 2 * MARGIN + rows * NODE_HEIGHT + max(rows - 1, 0) * ROW_GAP
    return Layout(nodes=nodes, edges=edges, width=width, height=height, columns=top + 1)


def _centre(node: Node, calls: Mapping[int, list[int]], row_of: Mapping[int, float]) -> float:
    """Mean row of the already-placed services this one calls (the barycentre); -1 for none."""
    placed = [row_of[c] for c in calls.get(node.id, ()) if c in row_of]
    return sum(placed) / len(placed) if placed else -1.0


def _path(caller: Node, callee: Node) -> str:
    mid_a = caller.y + NODE_HEIGHT // 2
    mid_b = callee.y + NODE_HEIGHT // 2
    start = caller.x + NODE_WIDTH
    if callee.x > caller.x:  # the usual case: left to right
        bend = (callee.x - start) // 2
        return (
            f"M{start},{mid_a} C{start + bend},{mid_a} {callee.x - bend},{mid_b} {callee.x},{mid_b}"
        )
    # same column (a cycle): loop out to the right and back
    out = start + COLUMN_GAP // 2
    return f"M{start},{mid_a} C{out},{mid_a} {out},{mid_b} {start},{mid_b}"


def blast_radius(node_id: int, callers: Mapping[int, Iterable[int]]) -> set[int]:
    """Every node that calls `node_id`, directly or through others (itself excluded)."""
    seen: set[int] = set()
    frontier = [node_id]
    while frontier:
        nxt = []
        for current in frontier:
            for caller in callers.get(current, ()):
                if caller not in seen and caller != node_id:
                    seen.add(caller)
                    nxt.append(caller)
        frontier = nxt
    return seen
