#!/usr/bin/env bash
# acquireTokenSilent served from the cache: MSALLite and MSAL Python on the same file, in
# the same run, in memory and through the file store (msal-extensions for MSAL Python).
#
#   Benchmarks/silent.sh [USERS ...]     default: 10000
#
# The cache is generated with its tokens cached now, since both libraries read the real
# clock here; every call must be a cache hit (MSALLite's run has no network at all). With
# TOKENCACHE_BENCH_RESULTS set, the results (one JSON line per size) are kept in that file.
set -euo pipefail
source "$(dirname "$0")/harness.sh"
bench_start 10000 -- "$@"
for users in "${sizes[@]}"; do
  echo "benchmark: acquireTokenSilent, $users users" >&2
  "$bench" generate "$users" "$work/cache.json" "$(date +%s)"
  ours=$("$bench" silent "$work/cache.json" "$users")
  theirs=$("$python" Benchmarks/msal_python_bench.py silent "$work/cache.json" "$users")
  printf '{"users": %s, "ours": %s, "msal": %s}\n' "$users" "$ours" "$theirs" >> "$results"
  rm -f "$work/cache.json"*
done
"$python" Benchmarks/report.py silent "$results"
