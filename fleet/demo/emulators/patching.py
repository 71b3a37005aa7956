"""The three Kubernetes PATCH flavours (strategic merge, JSON merge, JSON patch), for the fakes.

Also JSON Merge Patch is what Azure Container Apps' PATCH uses, so the Azure fake shares it.
"""

from __future__ import annotations

import copy
from typing import Any

# List fields Kubernetes merges by a key under strategic merge patch (subset the fakes need).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "conditions": "type",
    "imagePullSecrets": "name",
}


class PatchError(ValueError):
    """The patch document itself is malformed."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON Merge Patch: objects merge, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any, field: str = "") -> Any:
    """Kubernetes strategic merge: like merge patch, but keyed lists merge item by item."""
    if isinstance(patch, list) and field in MERGE_KEYS and isinstance(target, list):
        key = MERGE_KEYS[field]
        result = copy.deepcopy(target)
        for item in patch:
            if not isinstance(item, dict) or key not in item:
                raise PatchError(f"map: {item!r} does not contain declared merge key: {key}")
            if item.get("$patch") == "delete":
                result = [r for r in result if r.get(key) != item[key]]
                continue
            for index, existing in enumerate(result):
                if existing.get(key) == item[key]:
                    result[index] = strategic_merge_patch(existing, item)
                    break
            else:
                result.append(copy.deepcopy(item))
        return result
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # directives such as $retainKeys are accepted and not modelled
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value, key)
    return result


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 JSON Patch (add, replace, remove, test)."""
    if not isinstance(operations, list):
        raise PatchError("json patch must be a list of operations")
    result = copy.deepcopy(target)
    for op in operations:
        path = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = result
        for part in path[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = path[-1]
        kind = op.get("op")
        if kind in ("add", "replace"):
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if kind == "add":
                    parent.insert(index, op["value"])
                else:
                    parent[index] = op["value"]
            else:
                if kind == "replace" and last not in parent:
                    raise PatchError(
                        f"replace operation does not apply: doc is missing path: {op['path']}"
                    )
                parent[last] = op["value"]
        elif kind == "remove":
            if isinstance(parent, list):
                parent.pop(int(last))
            elif last in parent:
                del parent[last]
            else:
                raise PatchError(
                    f"remove operation does not apply: doc is missing path: {op['path']}"
                )
        elif kind == "test":
            current = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if current != op.get("value"):
                raise PatchError(f"testing value {op['path']} failed")
        else:
            raise PatchError(f"Unexpected kind: {kind}")
    return result
