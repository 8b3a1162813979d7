#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets: upload metadata, the Content-Digest header,
# GPX/NMEA/ISO 6709, the burned-in and WebVTT text, the demuxer whitelist's sniff of a file's
# first bytes) for FUZZ_SECONDS each (default 20), with the nightly toolchain cargo-fuzz needs. A crash stops the script with the input that caused
# it under fuzz/artifacts/. cargo-fuzz is built once per machine into the tools cache.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${FUZZ_SECONDS:-20}
TOOLS=${CUSTODIAN_TOOLS:-/var/cache/custodian}

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz.sh: cargo-fuzz needs the nightly toolchain: rustup toolchain install nightly" >&2
  exit 1
fi
if [ ! -x "$TOOLS/cargo-fuzz/bin/cargo-fuzz" ]; then
  echo "fuzz.sh: building cargo-fuzz (once per machine)" >&2
  cargo install --locked cargo-fuzz --root "$TOOLS/cargo-fuzz" >&2
fi
export PATH="$TOOLS/cargo-fuzz/bin:$PATH"

cd fuzz
for target in $(cargo +nightly fuzz list); do
  echo "fuzz.sh: $target for ${SECONDS_EACH}s" >&2
  cargo +nightly fuzz run "$target" --target-dir "$TOOLS/fuzz-target" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -print_final_stats=0 2>&1 | tail -n 3
  # A run that found a crash exits non-zero and `set -o pipefail` stops the script here.
done
