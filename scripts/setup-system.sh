#!/usr/bin/env bash
# Installs the Debian packages Custodian needs to build, run and test, if any is missing.
# Safe to run again: it installs nothing that is already there.
set -euo pipefail

packages=(
  curl ca-certificates pkg-config bc openssl
  ffmpeg            # makes sample and test clips
  fonts-noto-cjk    # Chinese place names in burned-in subtitles
  python3 python3-venv  # moto, the S3 Object Lock emulator the tests use
  prometheus        # promtool: checks and unit-tests the alert rules
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-system.sh: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

command -v cargo >/dev/null || { echo "setup-system.sh: cargo not found; install Rust (rustup) first" >&2; exit 1; }
