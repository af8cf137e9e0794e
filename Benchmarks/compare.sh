#!/usr/bin/env bash
# The stores' figures of this tree next to those of an earlier commit, measured in the same
# run on the same machine, the two harnesses taking turns: SQLite lookup, write and a new
# process's first lookup, and PostgreSQL lookup (with and without the L1) and write. Prints
# one JSON line per round and harness, then the medians and their ratios (this tree over
# REV: below 1 is faster). REV's harness is built from a clean checkout of it in
# .build/compare (release mode).
#
#   Benchmarks/compare.sh REV [USERS] [ROUNDS]     default: 10000 users, 3 rounds
set -euo pipefail
source "$(dirname "$0")/harness.sh"
rev=${1:?usage: Benchmarks/compare.sh REV [USERS] [ROUNDS]}
users=${2:-10000}
rounds=${3:-3}
base="$root/.build/compare"
mkdir -p "$base"
if [ ! -d "$base/src/.git" ] && [ ! -f "$base/src/.git" ]; then
  git worktree add --detach "$base/src" "$rev" >/dev/null 2>&1
fi
git -C "$base/src" checkout -q --force --detach "$rev"
echo "compare: building the harness of $(git -C "$base/src" rev-parse --short HEAD) (release)" >&2
(cd "$base/src" && TOKENCACHE_BENCHMARKS=1 swift build -c release --scratch-path "$base/build" --product TokenCacheBenchmarks >/dev/null)
harnesses=("$bench" "$base/build/release/TokenCacheBenchmarks")
names=(this "$(git -C "$base/src" rev-parse --short HEAD)")

work=$(mktemp -d)
chmod 0711 "$work"
trap '"$root/scripts/postgres.sh" stop "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
url=$(TOKENCACHE_PG_SHARED_BUFFERS=2GB "$root/scripts/postgres.sh" start "$work/pg")
export PGPASSWORD=$(cat "$work/pg/password")
results="$work/results.jsonl"
for index in 0 1; do
  "${harnesses[$index]}" sqlite-generate "$users" "$work/s$index.db" >/dev/null 2>&1
  "${harnesses[$index]}" postgres-generate "$users" "$url?schema=compare_$index" >/dev/null 2>&1
done
for round in $(seq "$rounds"); do
  for index in 0 1; do
    harness=${harnesses[$index]}
    sqlite=$("$harness" sqlite "$work/s$index.db" "$users")
    firsts=()
    for _ in 1 2 3 4 5; do firsts+=("$("$harness" first-lookup "sqlite:$work/s$index.db" "$users")"); done
    postgres=$("$harness" postgres "$url?schema=compare_$index" "$users")
    line=$(printf '{"round": %s, "harness": "%s", "sqlite": %s, "first": [%s], "postgres": %s}' \
      "$round" "${names[$index]}" "$sqlite" "$(IFS=,; echo "${firsts[*]}")" "$postgres")
    echo "$line" | tee -a "$results"
  done
done
"$python" - "$results" "${names[@]}" <<'EOF'
import json, statistics, sys
lines = [json.loads(line) for line in open(sys.argv[1])]
this, other = sys.argv[2], sys.argv[3]
figures = {
    "sqlite lookup (median)": lambda r: r["sqlite"]["lookup_median_s"],
    "sqlite write (median)": lambda r: r["sqlite"]["write_median_s"],
    "sqlite first lookup, new process (median)": lambda r: statistics.median(f["first_lookup_s"] for f in r["first"]),
    "postgres lookup (median)": lambda r: r["postgres"]["lookup_median_s"],
    "postgres L1 lookup (median)": lambda r: r["postgres"]["l1_lookup_median_s"],
    "postgres write (median)": lambda r: r["postgres"]["write_median_s"],
}
print(f"{'figure':45} {this:>12} {other:>12}  ratio")
for name, pick in figures.items():
    mine = statistics.median(pick(r) for r in lines if r["harness"] == this)
    theirs = statistics.median(pick(r) for r in lines if r["harness"] == other)
    print(f"{name:45} {mine * 1e6:10.1f}µs {theirs * 1e6:10.1f}µs  {mine / theirs:5.2f}")
EOF
