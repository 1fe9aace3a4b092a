"""A small kustomize for the tests: renders deploy/k8s overlays without the kustomize binary.

It knows exactly the fields deploy/k8s uses (resources, namespace, labels, images, replicas,
patches with strategic-merge files) and refuses any other, so an overlay cannot use a
feature the tests would silently skip. A patch whose target does not exist is an error, as in
kustomize. Lists merge by `name` where Kubernetes' strategic merge does (containers, volumes,
env, volume mounts of built-in kinds); everywhere else, and in custom resources, a patch's
list replaces the list, as kustomize does for custom resources without merge keys.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]
KNOWN_FIELDS = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "labels",
    "images",
    "replicas",
    "patches",
}
MERGE_BY_NAME = {"containers", "initContainers", "volumes", "env", "volumeMounts"}
SCALABLE = {"Deployment", "StatefulSet"}
CLUSTER_SCOPED = {"Namespace"}


class KustomizeError(ValueError):
    """The kustomization cannot be rendered; the message names the file and the reason."""


def load_documents(path: Path) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def render(directory: Path) -> list[Resource]:
    """Every resource of the kustomization in `directory`, transformed as kustomize would."""
    file = directory / "kustomization.yaml"
    if not file.is_file():
        raise KustomizeError(f"{directory}: no kustomization.yaml")
    spec: dict[str, Any] = yaml.safe_load(file.read_text(encoding="utf-8"))
    unknown = set(spec) - KNOWN_FIELDS
    if unknown:
        raise KustomizeError(f"{file}: fields this renderer does not know: {sorted(unknown)}")
    resources: list[Resource] = []
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            resources.extend(render(target))
        elif target.is_file():
            resources.extend(load_documents(target))
        else:
            raise KustomizeError(f"{file}: resource {entry} does not exist")
    _refuse_duplicates(resources, file)
    for patch in spec.get("patches", []):
        path = directory / patch["path"]
        if set(patch) != {"path"} or not path.is_file():
            raise KustomizeError(f"{file}: patch {patch} must be an existing file (path only)")
        for document in load_documents(path):
            target = _find(resources, document, f"{file}: patch {patch['path']}")
            builtin = "." not in document["apiVersion"].split("/")[0]
            target.update(_merge(target, document, builtin))
    for entry in spec.get("replicas", []):
        scaled = [r for r in resources if r["kind"] in SCALABLE and _name(r) == entry["name"]]
        if not scaled:
            raise KustomizeError(f"{file}: replicas for unknown workload {entry['name']}")
        for resource in scaled:
            resource["spec"]["replicas"] = int(entry["count"])
    for image in spec.get("images", []):
        if not _retag(resources, image):
            raise KustomizeError(f"{file}: no container uses image {image['name']}")
    for label in spec.get("labels", []):
        for resource in resources:
            resource.setdefault("metadata", {}).setdefault("labels", {}).update(label["pairs"])
    if "namespace" in spec:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = spec["namespace"]
    return resources


def _name(resource: Resource) -> str:
    return str(resource["metadata"]["name"])


def _key(resource: Resource) -> tuple[str, str, str]:
    return (resource["apiVersion"].split("/")[0], resource["kind"], _name(resource))


def _refuse_duplicates(resources: list[Resource], file: Path) -> None:
    keys = [_key(r) for r in resources]
    duplicates = {k for k in keys if keys.count(k) > 1}
    if duplicates:
        raise KustomizeError(f"{file}: resources defined twice: {sorted(duplicates)}")


def _find(resources: list[Resource], patch: Resource, where: str) -> Resource:
    for resource in resources:
        if _key(resource) == _key(patch):
            return resource
    raise KustomizeError(f"{where}: no {patch['kind']} {_name(patch)} to patch")


def _merge(base: Any, patch: Any, builtin: bool, field: str = "") -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = _merge(merged[key], value, builtin, key)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(patch, list) and builtin and field in MERGE_BY_NAME:
        merged_list = copy.deepcopy(base)
        for item in patch:
            same = [i for i, old in enumerate(merged_list) if old.get("name") == item.get("name")]
            if same:
                merged_list[same[0]] = _merge(merged_list[same[0]], item, builtin)
            else:
                merged_list.append(copy.deepcopy(item))
        return merged_list
    return copy.deepcopy(patch)


def containers(resource: Resource) -> list[dict[str, Any]]:
    """The containers of a workload (Deployment, StatefulSet, Job), else nothing."""
    pod = resource.get("spec", {}).get("template", {}).get("spec", {})
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def _retag(resources: list[Resource], image: dict[str, str]) -> bool:
    found = False
    for resource in resources:
        for container in containers(resource):
            name, _, _ = container["image"].partition(":")
            if name == image["name"]:
                new_name = image.get("newName", name)
                container["image"] = f"{new_name}:{image['newTag']}"
                found = True
    return found
