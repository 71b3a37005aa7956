#!/usr/bin/env python3
"""Render a Kustomize directory of deploy/kubernetes to YAML without the kustomize binary.

Only the subset this tree uses, each as Kustomize documents it
(https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/): `resources` (files and
directories), `namespace`, `labels` (metadata only), `images`, `replicas`, `patches` (inline JSON 6902
with a kind/name target) and `secretGenerator`/`configMapGenerator` (`envs`, `literals`) with
`generatorOptions.disableNameSuffixHash: true`. Anything else is refused, so the output never differs
silently from `kubectl kustomize`. CI renders every directory and validates each object
(tests/deploy/test_kubernetes_manifests.py).

    python deploy/kustomize.py deploy/kubernetes/overlays/example > rendered.yaml
"""

from __future__ import annotations

import base64
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "labels",
    "images",
    "replicas",
    "patches",
    "secretGenerator",
    "configMapGenerator",
    "generatorOptions",
}
# Kinds whose objects live in a namespace (the ones this tree has); others keep no namespace.
SCALABLE = {"Deployment", "ReplicaSet", "ReplicationController", "StatefulSet"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}


class KustomizeError(ValueError):
    pass


def render(directory: Path) -> list[dict[str, Any]]:
    """Every object the kustomization at `directory` produces, in order."""
    directory = Path(directory)
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text()) or {}
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise KustomizeError(f"{directory}: unsupported kustomization fields {sorted(unknown)}")
    objects: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = directory / entry
        if path.is_dir():
            objects += render(path)
        else:
            objects += [d for d in yaml.safe_load_all(path.read_text()) if d]
    objects += _generated(directory, spec)
    for item in spec.get("labels", []):
        if set(item) - {"pairs"}:
            raise KustomizeError(f"{directory}: labels support `pairs` only")
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(item["pairs"])
    if "namespace" in spec:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = spec["namespace"]
    for image in spec.get("images", []):
        _set_image(objects, image)
    for item in spec.get("replicas", []):
        scalable = [o for o in objects if o["kind"] in SCALABLE]
        _find(scalable, None, item["name"], directory)["spec"]["replicas"] = item["count"]
    for patch in spec.get("patches", []):
        target = patch.get("target") or {}
        if set(patch) != {"target", "patch"} or set(target) - {"kind", "name"}:
            raise KustomizeError(f"{directory}: patches must be inline JSON 6902 with kind/name")
        obj = _find(objects, target.get("kind"), target["name"], directory)
        for op in yaml.safe_load(patch["patch"]):
            _apply(obj, op)
    return objects


def _generated(directory: Path, spec: dict) -> list[dict]:
    generators = [("Secret", g) for g in spec.get("secretGenerator", [])] + [
        ("ConfigMap", g) for g in spec.get("configMapGenerator", [])
    ]
    if generators and not (spec.get("generatorOptions") or {}).get("disableNameSuffixHash"):
        raise KustomizeError(f"{directory}: set generatorOptions.disableNameSuffixHash: true")
    out = []
    for kind, gen in generators:
        data: dict[str, str] = {}
        for env_file in gen.get("envs", []):
            for line in (directory / env_file).read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    key, _, value = line.partition("=")
                    data[key.strip()] = value
        for literal in gen.get("literals", []):
            key, _, value = literal.partition("=")
            data[key] = value
        obj: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": {"name": gen["name"]}}
        if kind == "Secret":
            obj["type"] = "Opaque"
            obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        else:
            obj["data"] = data
        out.append(obj)
    return out


def _pod_spec(obj: dict) -> dict | None:
    spec = obj.get("spec") or {}
    if "template" in spec:
        return spec["template"].get("spec")
    return None


def _set_image(objects: list[dict], image: dict) -> None:
    for obj in objects:
        pod = _pod_spec(obj)
        for container in (pod or {}).get("containers", []) + (pod or {}).get("initContainers", []):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                new_name = image.get("newName", name)
                container["image"] = f"{new_name}:{image.get('newTag', tag or 'latest')}"


def _find(objects: list[dict], kind: str | None, name: str, directory: Path) -> dict:
    found = [
        o for o in objects if o["metadata"]["name"] == name and (kind is None or o["kind"] == kind)
    ]
    if len(found) != 1:
        raise KustomizeError(f"{directory}: {kind or 'object'} {name!r} matched {len(found)}")
    return found[0]


def _apply(obj: dict, op: dict) -> None:
    """One RFC 6902 operation (add, replace, remove) on `obj`."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    parent = obj
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    if op["op"] in {"add", "replace"}:
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if op["op"] == "add":
                parent.insert(index, copy.deepcopy(op["value"]))
            else:
                parent[index] = copy.deepcopy(op["value"])
        else:
            if op["op"] == "replace" and last not in parent:
                raise KustomizeError(f"replace: {op['path']} does not exist")
            parent[last] = copy.deepcopy(op["value"])
    elif op["op"] == "remove":
        del parent[int(last) if isinstance(parent, list) else last]
    else:
        raise KustomizeError(f"unsupported patch op {op['op']!r}")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: kustomize.py DIRECTORY", file=sys.stderr)
        return 64
    yaml.safe_dump_all(render(Path(argv[0])), sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
