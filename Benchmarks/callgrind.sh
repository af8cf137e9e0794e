#!/usr/bin/env bash
# Counts the instructions (valgrind's callgrind) of loading a cache file, of one silent lookup
# and of a reload after another process's one-response write, at each size: figures that
# repeat on a shared, noisy machine, where timings drift by tens of percent. A change that
# makes any of them grow is a regression, whatever the clock says.
#
#   Benchmarks/callgrind.sh [USERS ...]     default: 1000
#
# Each figure is the difference of two whole processes' counts, so process start-up cancels:
# load = loading the file - loading an empty cache; lookup = (loading, making 2,000 queries
# and answering them - the same without answering) / 2,000; reload = loading and reloading -
# loading. valgrind cannot read the
# DWARF 5 that Swift writes, so it runs a copy of the harness without debug information
# (function names stay). With TOKENCACHE_BENCH_RESULTS set, one JSON line per size goes there.
set -euo pipefail
export TOKENCACHE_SETUP_PACKAGES="valgrind binutils"
source "$(dirname "$0")/harness.sh"
bench_start 1000 -- "$@"
objcopy --strip-debug "$bench" "$work/harness"
count() {
  valgrind --tool=callgrind --callgrind-out-file="$work/out" "$work/harness" "$@" 2>&1 >/dev/null |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
lookups=2000
printf '{}' > "$work/empty.json"
for users in "${sizes[@]}"; do
  echo "callgrind: $users users" >&2
  "$bench" generate "$users" "$work/cache.json"
  "$bench" add-one "$work/cache.json" "$work/other.json"
  empty=$(count load "$work/empty.json")
  loaded=$(count load "$work/cache.json")
  asked=$(count load "$work/cache.json" "$users" "$lookups")
  looked=$(count load "$work/cache.json" "$users" "$lookups" lookup)
  reloaded=$(count reload "$work/cache.json" "$work/other.json")
  commit=$(git -C "$root" rev-parse --short HEAD)
  printf '{"users": %s, "load_instructions": %s, "lookup_instructions": %s, "reload_instructions": %s, "commit": "%s"}\n' \
    "$users" "$((loaded - empty))" "$(((looked - asked) / lookups))" "$((reloaded - loaded))" "$commit" >> "$results"
  echo "  load $(((loaded - empty) / 1000000)) M instructions; one lookup $(((looked - asked) / lookups)); reload after one response $(((reloaded - loaded) / 1000000)) M" >&2
done
