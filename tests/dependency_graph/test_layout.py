"""fleet/dependency_graph.py: layers, no overlap, cycles, determinism, blast radius."""

from __future__ import annotations

import itertools
import random

from fleet.dependency_graph import NODE_HEIGHT, NODE_WIDTH, Node, blast_radius, layers, layout


def nodes(*specs: tuple[int, str, str]) -> list[Node]:
    return [Node(id=i, name=name, kind=kind, status="up") for i, name, kind in specs]


def fleet():
    """planner -> router -> {notes, search}; chat -> notes; wiki (alone)."""
    ns = nodes(
        (1, "notes", "mcp_server"),
        (2, "search", "mcp_server"),
        (3, "wiki", "mcp_server"),
        (4, "router", "agent_backend"),
        (5, "chat", "agent_backend"),
        (6, "planner", "agent_backend"),
    )
    return ns, [(4, 1), (4, 2), (5, 1), (6, 4)]


def test_servers_are_layer_zero_and_each_caller_sits_left_of_what_it_calls():
    ns, deps = fleet()
    graph = layout(ns, deps)
    by = {n.name: n for n in graph.nodes}
    assert {n: by[n].layer for n in by} == {
        "notes": 0, "search": 0, "wiki": 0, "router": 1, "chat": 1, "planner": 2,
    }  # fmt: skip
    assert graph.columns == 3
    for edge in graph.edges:
        caller = next(n for n in graph.nodes if n.id == edge.caller)
        callee = next(n for n in graph.nodes if n.id == edge.callee)
        assert caller.x < callee.x  # every arrow points right
    assert graph.width >= max(n.x for n in graph.nodes) + NODE_WIDTH
    assert graph.height >= max(n.y for n in graph.nodes) + NODE_HEIGHT


def _overlap(a: Node, b: Node) -> bool:
    return (
        a.x < b.x + NODE_WIDTH
        and b.x < a.x + NODE_WIDTH
        and a.y < b.y + NODE_HEIGHT
        and b.y < a.y + NODE_HEIGHT
    )


def test_no_two_boxes_overlap_in_a_random_fleet():
    rng = random.Random(7)
    ns = [
        Node(i, f"s{i:03d}", "mcp_server" if i < 60 else "agent_backend", "up") for i in range(150)
    ]
    deps = [(a, rng.randrange(0, a)) for a in range(60, 150) for _ in range(3)]
    graph = layout(ns, deps)
    assert not any(_overlap(a, b) for a, b in itertools.combinations(graph.nodes, 2))


def test_the_same_fleet_always_draws_the_same_picture():
    ns, deps = fleet()
    first = layout(ns, deps)
    ns2, deps2 = fleet()
    second = layout(list(reversed(ns2)), list(reversed(deps2)))
    where = lambda g: sorted((n.name, n.x, n.y) for n in g.nodes)  # noqa: E731
    assert where(first) == where(second)
    assert [e.path for e in first.edges] == [e.path for e in second.edges]


def test_a_caller_sits_near_what_it_calls():
    ns = nodes(
        (1, "a-server", "mcp_server"),
        (2, "b-server", "mcp_server"),
        (3, "c-server", "mcp_server"),
        (4, "agent-of-c", "agent_backend"),
        (5, "zz-agent-of-a", "agent_backend"),
    )
    graph = layout(ns, [(4, 3), (5, 1)])
    by = {n.name: n for n in graph.nodes}
    # by name alone agent-of-c would be first; by what it calls it goes below the agent of a
    assert by["zz-agent-of-a"].y < by["agent-of-c"].y


def test_cycles_share_a_layer_and_end():
    # a -> b -> c -> a (stored before cycles were refused), and d -> a; s is a server c calls
    ns = nodes(
        (1, "a", "agent_backend"),
        (2, "b", "agent_backend"),
        (3, "c", "agent_backend"),
        (4, "d", "agent_backend"),
        (5, "s", "mcp_server"),
    )
    deps = [(1, 2), (2, 3), (3, 1), (4, 1), (3, 5)]
    assert layers([1, 2, 3, 4, 5], {1: [2], 2: [3], 3: [1, 5], 4: [1]}) == {
        1: 1, 2: 1, 3: 1, 4: 2, 5: 0,
    }  # fmt: skip
    graph = layout(ns, deps)
    assert len(graph.edges) == 5
    same_column = [e for e in graph.edges if (e.caller, e.callee) in {(1, 2), (2, 3), (3, 1)}]
    assert all(e.path.startswith("M") for e in same_column)
    assert blast_radius(5, {5: [3], 3: [2], 2: [1], 1: [3, 4]}) == {1, 2, 3, 4}


def test_a_long_cycle_and_a_deep_chain_do_not_recurse():
    n = 5000  # deeper than Python's recursion limit
    ring = {i: [(i + 1) % n] for i in range(n)}
    assert set(layers(range(n), ring).values()) == {0}
    chain = {i: [i - 1] for i in range(1, n)}
    assert layers(range(n), chain)[n - 1] == n - 1


def test_blast_radius_is_transitive_and_excludes_the_service_itself():
    ns, deps = fleet()
    graph = layout(ns, deps)
    callers = {n.id: n.callers for n in graph.nodes}
    assert blast_radius(1, callers) == {4, 5, 6}  # notes: router, chat and planner via router
    assert blast_radius(2, callers) == {4, 6}
    assert blast_radius(3, callers) == set()


def test_edges_to_unknown_services_and_self_edges_are_ignored():
    graph = layout(
        nodes((1, "a", "agent_backend"), (2, "s", "mcp_server")), [(1, 2), (1, 9), (2, 2)]
    )
    assert [(e.caller, e.callee) for e in graph.edges] == [(1, 2)]


def test_an_empty_fleet_has_an_empty_graph():
    graph = layout([], [])
    assert graph.nodes == [] and graph.edges == [] and graph.columns == 0
