#!/usr/bin/env bash
# Renders every Kubernetes overlay with kustomize and validates each object against the
# Kubernetes schemas (kubernetes-validate, strict: unknown fields are errors).
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
  "$VENV/bin/kubernetes-validate" --strict --kubernetes-version "$K8S_VERSION" "$out/$name.yaml"
  echo "check-k8s.sh: overlay $name: $(grep -c '^kind:' "$out/$name.yaml") objects valid" >&2
done
