#!/usr/bin/env bash
# Fuzzes the cache reader with libFuzzer and AddressSanitizer for SECONDS (default 60).
# -sanitize=fuzzer,address goes in one -Xswiftc flag too: the Swift driver keeps only the
# last -sanitize= option it is given, and SwiftPM passes them separately.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
cd "$root"
log=$(mktemp)
TOKENCACHE_FUZZ=1 swift build -c release --scratch-path .build/fuzz --product TokenCacheFuzz \
  --sanitize=address --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address >"$log" 2>&1 || { cat "$log"; exit 1; }
rm -f "$log"
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
find Tests/Fixtures -name '*.json' -exec cp {} "$corpus/" \;
output="$corpus.log"
trap 'rm -rf "$corpus" "$output"' EXIT
status=0
.build/fuzz/release/TokenCacheFuzz "$corpus" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
  -print_final_stats=1 >"$output" 2>&1 || status=$?
tail -n 8 "$output"
# Without coverage counters libFuzzer runs blind; treat that as a failure, not a pass.
grep -q "INITED cov:" "$output" || { echo "fuzz: the target is not instrumented for coverage"; exit 1; }
exit "$status"
