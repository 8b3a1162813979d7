#!/usr/bin/env bash
# Checks the deployment files this machine can check without a container engine:
# - the Prometheus configurations load (promtool check config, which also loads the alerts);
# - deploy/compose.yaml parses as YAML, runs every role with `serve ROLE`, and every file it
#   mounts from the repository exists;
# - the Dockerfile's runtime stage installs a package for each FFmpeg library the binary
#   links (when a built binary is given as $1);
# - the systemd units pass `systemd-analyze verify` (with ExecStart pointed at /bin/true,
#   since the binary is not installed here) and `systemd-analyze security` rates them OK.
set -euo pipefail
cd "$(dirname "$0")/.."

promtool check config deploy/prometheus/prometheus.yml >/dev/null
promtool check config deploy/prometheus/compose.yml >/dev/null
echo "check-deploy.sh: prometheus configurations load" >&2

python3 - <<'PY'
import pathlib, sys, yaml
compose = yaml.safe_load(open("deploy/compose.yaml"))
services = compose["services"]
roles = ["ingest", "catalog", "retention", "custody", "transcoder", "fingerprinter"]
errors = []
for role in roles:
    command = services.get(role, {}).get("command")
    if command != ["serve", role]:
        errors.append(f"service {role}: command {command!r}")
for name, service in services.items():
    for volume in service.get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("."):
            if not (pathlib.Path("deploy") / source).exists():
                errors.append(f"service {name}: mounts {source}, which does not exist")
for name in ["prometheus", "grafana", "nats", "postgres", "s3"]:
    if name not in services:
        errors.append(f"no service {name}")
for e in errors:
    print(f"check-deploy.sh: deploy/compose.yaml: {e}", file=sys.stderr)
sys.exit(1 if errors else 0)
PY
echo "check-deploy.sh: compose file parses, runs every role, mounts files that exist" >&2

if [ -n "${1:-}" ]; then
  for soname in $(ldd "$1" | awk '/lib(av|sw|postproc)/ {print $1}'); do
    # libavcodec.so.59 is Debian's package libavcodec59.
    package=$(echo "$soname" | sed -E 's/\.so\.([0-9]+)$/\1/')
    grep -qw "$package" deploy/Dockerfile || { echo "check-deploy.sh: deploy/Dockerfile lacks $package ($soname)" >&2; exit 1; }
  done
  echo "check-deploy.sh: the Dockerfile installs every FFmpeg library $1 links" >&2
fi

if command -v systemd-analyze >/dev/null; then
  units=$(mktemp -d)
  trap 'rm -rf "$units"' EXIT
  for unit in deploy/systemd/*.service; do
    sed 's|^ExecStart=/usr/local/bin/custodian|ExecStart=/bin/true|' "$unit" > "$units/$(basename "$unit")"
  done
  cp "$units/custodian@.service" "$units/custodian@transcoder.service"
  # verify only warns about an unknown key or a bad value: any message is a failure here.
  messages=$(systemd-analyze verify --man=no "$units/custodian.service" "$units/custodian@transcoder.service" 2>&1) \
    || { echo "$messages" >&2; exit 1; }
  if [ -n "$messages" ]; then
    echo "$messages" >&2
    exit 1
  fi
  for unit in custodian.service custodian@transcoder.service; do
    level=$(cd "$units" && systemd-analyze security --offline=true "$unit" 2>&1 | tail -1)
    case "$level" in
      *" OK "*) ;;
      *) echo "check-deploy.sh: $unit: $level" >&2; exit 1 ;;
    esac
  done
  echo "check-deploy.sh: systemd units verify, exposure OK" >&2
fi
