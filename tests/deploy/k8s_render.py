"""Rendering the Kustomize trees under deploy/kubernetes/ for the tests, and reading the result.

kubectl comes from $ZARR_INGRESS_KUBECTL (.ci/run exports the one of .ci/.k8s-tools-venv), else
from that venv when .ci/k8s-check.sh has made it, else from PATH when its Kustomize is v5 or
newer (Debian's kubectl 1.20 ships Kustomize v2, which knows neither components nor `labels:`).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
KUBERNETES = REPO / "deploy" / "kubernetes"
TOOLS_BIN = REPO / ".ci" / ".k8s-tools-venv" / "bin"


def kustomizations() -> list[str]:
    """Every renderable kustomization (base and overlays; components render through them)."""
    found = []
    for file in sorted(KUBERNETES.rglob("kustomization.yaml")):
        if yaml.safe_load(file.read_text(encoding="utf-8")).get("kind") != "Component":
            found.append(file.parent.relative_to(KUBERNETES).as_posix())
    return found


def _kustomize_major(kubectl: str) -> int:
    try:
        text = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    match = re.search(r"Kustomize Version: v(\d+)", text)
    return int(match.group(1)) if match else 0


@functools.cache
def kubectl() -> str | None:
    """A kubectl whose Kustomize renders these trees, or None."""
    candidates = [os.environ.get("ZARR_INGRESS_KUBECTL"), str(TOOLS_BIN / "kubectl"), shutil.which("kubectl")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and _kustomize_major(candidate) >= 5:
            return candidate
    return None


def validator() -> str | None:
    """The kubernetes-validate command, or None."""
    for candidate in (os.environ.get("ZARR_INGRESS_K8S_VALIDATE"), str(TOOLS_BIN / "kubernetes-validate"),
                      shutil.which("kubernetes-validate")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@functools.cache
def rendered_text(kustomization: str) -> str:
    command = kubectl()
    assert command is not None, "no kubectl with Kustomize v5"
    result = subprocess.run([command, "kustomize", str(KUBERNETES / kustomization)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"kubectl kustomize {kustomization}: {result.stderr.strip()}"
    return result.stdout


def render(kustomization: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(rendered_text(kustomization)) if doc]


def objects(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [doc for doc in objects(docs, kind) if name is None or doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(workload name, pod spec) of every object that runs pods."""
    for doc in docs:
        template = doc.get("spec", {}).get("template") if isinstance(doc.get("spec"), dict) else None
        if template and "spec" in template:
            yield doc["metadata"]["name"], template["spec"]


def configmap_by_prefix(docs: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    """The generated ConfigMap whose name is `prefix` plus Kustomize's hash suffix."""
    found = [doc for doc in objects(docs, "ConfigMap")
             if re.fullmatch(re.escape(prefix) + r"(-[a-z0-9]{10})?", doc["metadata"]["name"])]
    assert len(found) == 1, f"expected one ConfigMap {prefix}, found {len(found)}"
    return found[0]
