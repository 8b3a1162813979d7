#!/usr/bin/env bash
# Renders every Kubernetes overlay with kustomize and validates each object against the
# Kubernetes schemas (kubernetes-validate, strict: unknown fields are errors); KEDA objects,
# which it has no schema for, get the structural check of scripts/check-keda.py.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${CUSTODIAN_TOOLS:-/var/cache/custodian}
VENV="$TOOLS/k8s-venv"
K8S_VERSION=${K8S_VERSION:-1.32}
if [ ! -x "$VENV/bin/kubernetes-validate" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet 'kubernetes-validate>=1.32' >&2
fi
command -v kubectl >/dev/null || { echo "check-k8s.sh: kubectl (with kustomize) is needed" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for overlay in k8s/overlays/*/; do
  name=$(basename "$overlay")
  kubectl kustomize "$overlay" > "$out/$name.yaml"
  # KEDA objects: kubernetes-validate has no schema for them, so a structural check of our own
  # (scripts/check-keda.py); every other object goes to kubernetes-validate, and an object it
  # has no schema for is an error rather than its warning.
  "$VENV/bin/python" scripts/check-keda.py "$out/$name.yaml" --split-out "$out/$name.k8s.yaml"
  "$VENV/bin/kubernetes-validate" --strict --kubernetes-version "$K8S_VERSION" "$out/$name.k8s.yaml" 2>&1 | tee "$out/$name.log" >&2
  if grep -q "Couldn't find schema" "$out/$name.log"; then
    echo "check-k8s.sh: overlay $name: an object without a schema (above)" >&2
    exit 1
  fi
  echo "check-k8s.sh: overlay $name: $(grep -c '^kind:' "$out/$name.yaml") objects valid" >&2
done
