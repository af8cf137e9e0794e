#!/usr/bin/env bash
# Runs every benchmark in one go, each store next to MSAL Python and msal-extensions measured
# in the same run (Benchmarks/run.sh, postgres.sh, silent.sh and refresh.sh), and writes
# docs/benchmarks.md with its plots and raw results in docs/benchmarks/ (PNG, JSON lines).
#
#   Benchmarks/report.sh [USERS ...]     default: 1 100 1000 10000 (about 25 minutes on 2 cores)
#
# USERS are run.sh's sizes (a size ending in "s", 1000000s, is the SQLite store only, as
# there). PostgreSQL runs at the sizes from 10,000 users on, acquireTokenSilent at those from
# 1,000 on, unless TOKENCACHE_BENCH_POSTGRES_USERS or TOKENCACHE_BENCH_SILENT_USERS list
# others ("" skips that part). The refresh benchmark runs at 1, 10 and 50 processes, unless
# TOKENCACHE_BENCH_REFRESH_PROCESSES lists others ("" skips it). Instruction counts
# (callgrind.sh) at 1,000 users, unless TOKENCACHE_BENCH_CALLGRIND_USERS lists others. The plots need matplotlib
# (Benchmarks/requirements.txt), installed into the project's .venv when missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"
python="$root/.venv/bin/python"
requirements="$root/Benchmarks/requirements.txt"
stamp="$root/.venv/.benchmark-requirements"
if ! cmp -s "$requirements" "$stamp"; then
  echo "report: installing $(grep -v '^#' "$requirements" | tr '\n' ' ')into .venv" >&2
  "$python" -m pip install -q --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$stamp"
fi
sizes=("$@")
[ "${#sizes[@]}" -gt 0 ] || sizes=(1 100 1000 10000)
postgres_sizes=()
silent_sizes=()
for size in "${sizes[@]}"; do
  if [ "$size" != "${size%s}" ]; then continue; fi
  if [ "$size" -ge 10000 ]; then postgres_sizes+=("$size"); fi
  if [ "$size" -ge 1000 ]; then silent_sizes+=("$size"); fi
done
if [ -n "${TOKENCACHE_BENCH_POSTGRES_USERS+set}" ]; then read -ra postgres_sizes <<< "$TOKENCACHE_BENCH_POSTGRES_USERS"; fi
if [ -n "${TOKENCACHE_BENCH_SILENT_USERS+set}" ]; then read -ra silent_sizes <<< "$TOKENCACHE_BENCH_SILENT_USERS"; fi
refresh_processes=(1 10 50)
if [ -n "${TOKENCACHE_BENCH_REFRESH_PROCESSES+set}" ]; then read -ra refresh_processes <<< "$TOKENCACHE_BENCH_REFRESH_PROCESSES"; fi
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
started=$(date -u +"%Y-%m-%d %H:%M UTC")
TOKENCACHE_BENCH_RESULTS="$results/run.jsonl" Benchmarks/run.sh "${sizes[@]}"
if [ "${#postgres_sizes[@]}" -gt 0 ]; then
  echo "benchmark: PostgreSQL, ${postgres_sizes[*]} users" >&2
  TOKENCACHE_BENCH_RESULTS="$results/postgres.jsonl" Benchmarks/postgres.sh "${postgres_sizes[@]}"
fi
if [ "${#silent_sizes[@]}" -gt 0 ]; then
  TOKENCACHE_BENCH_RESULTS="$results/silent.jsonl" Benchmarks/silent.sh "${silent_sizes[@]}"
fi
if [ "${#refresh_processes[@]}" -gt 0 ]; then
  TOKENCACHE_BENCH_RESULTS="$results/refresh.jsonl" Benchmarks/refresh.sh "${refresh_processes[@]}"
fi
callgrind_sizes=(1000)
if [ -n "${TOKENCACHE_BENCH_CALLGRIND_USERS+set}" ]; then read -ra callgrind_sizes <<< "$TOKENCACHE_BENCH_CALLGRIND_USERS"; fi
if [ "${#callgrind_sizes[@]}" -gt 0 ]; then
  TOKENCACHE_BENCH_RESULTS="$results/callgrind.jsonl" Benchmarks/callgrind.sh "${callgrind_sizes[@]}"
fi
"$python" Benchmarks/report.py machine "$started" "$SECONDS" > "$results/machine.json"
# The previous report's files go: a part not run this time leaves no stale results behind.
mkdir -p docs/benchmarks
rm -f docs/benchmarks/*.png docs/benchmarks/*.jsonl docs/benchmarks/machine.json
cp "$results"/*.jsonl "$results/machine.json" docs/benchmarks/
"$python" Benchmarks/report.py doc docs/benchmarks docs/benchmarks.md
echo "report: wrote docs/benchmarks.md and docs/benchmarks/ in $((SECONDS / 60)) min $((SECONDS % 60)) s" >&2
