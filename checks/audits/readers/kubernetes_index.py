"""Lookups over one namespace's lists for the Kubernetes evidence reader.

Matching every Deployment against every Service, Pod, NetworkPolicy and RoleBinding of its
namespace costs Deployments × objects steps: at a few thousand of each that is most of an audit.
Each list is indexed once by a (key, value) pair that selects it, and the reader's own predicate
is still applied to the few candidates found, in list order, so the answers are those of a full
scan. Objects without a usable pair (no selector, a null value) are candidates for every lookup.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any


def _usable(pair: tuple[Any, Any]) -> bool:
    # `labels.get(k) == None` also holds when the label is missing: never look a null up.
    return pair[1] is not None and isinstance(pair[0], Hashable) and isinstance(pair[1], Hashable)


class SelectorIndex:
    """Objects by one pair their selector requires (all of `matchLabels` or a Service's
    `selector` must be among a pod's labels, so one of them finds every object that may match)."""

    def __init__(self, selectors: Iterable[Any]) -> None:
        self.by_pair: dict[tuple[Any, Any], list[int]] = {}
        self.always: list[int] = []
        for position, selector in enumerate(selectors):
            pair = None
            if isinstance(selector, dict):
                pair = next((p for p in selector.items() if _usable(p)), None)
            if pair is None:
                self.always.append(position)
            else:
                self.by_pair.setdefault(pair, []).append(position)

    def candidates(self, labels: Mapping[Any, Any]) -> list[int]:
        """Positions, in list order, of the objects whose selector may pick these labels."""
        found = set(self.always)
        for pair in labels.items():
            if _usable(pair):
                found.update(self.by_pair.get(pair, ()))
        return sorted(found)


class LabelIndex:
    """Objects by each of their own label pairs, to find those a `matchLabels` may pick."""

    def __init__(self, labels_of: Iterable[Any]) -> None:
        self.size = 0
        self.by_pair: dict[tuple[Any, Any], list[int]] = {}
        self.odd: list[int] = []  # labels that are not a mapping: tried by every lookup
        for position, labels in enumerate(labels_of):
            self.size += 1
            if labels and not isinstance(labels, dict):
                self.odd.append(position)
                continue
            for pair in (labels or {}).items():
                if _usable(pair):
                    self.by_pair.setdefault(pair, []).append(position)

    def candidates(self, match_labels: Mapping[Any, Any]) -> list[int] | range:
        """Positions, in list order, of the objects that may carry all of these labels."""
        pair = next((p for p in match_labels.items() if _usable(p)), None)
        if pair is None:  # {} selects everything; a null or odd value: try them all
            return range(self.size)
        return sorted({*self.by_pair.get(pair, ()), *self.odd})
