"""Cloud operations' dependencies point one way (issue 10, "Shape"): views and the API use
releases and services; services enqueue tasks; tasks use cloud_state; models use only the
adapters. Imports inside functions count too: a lazy import is still a dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "fleet" / "operations"
LAYERS = ["urls", "views", "api", "releases", "services", "tasks", "cloud_state", "models"]


def imported_modules(module: str) -> set[str]:
    """Every fleet.operations.<module> that `module` imports, at any depth of the file."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "fleet.operations":
                found.update(alias.name for alias in node.names)
            elif node.module.startswith("fleet.operations."):
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("fleet.operations."):
                    found.add(alias.name.split(".")[2])
    return found - {module}


@pytest.mark.parametrize("module", LAYERS)
def test_a_layer_imports_only_the_layers_below_it(module):
    below = set(LAYERS[LAYERS.index(module) + 1 :]) | {"clouds"}
    above = imported_modules(module) - below
    assert not above, f"fleet/operations/{module}.py imports {sorted(above)}, a layer above it"
