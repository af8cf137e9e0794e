# Sourced by the benchmark scripts: sets up the machine (scripts/setup.sh), builds the
# benchmark harness in release mode, moves to the repository and defines `root`, `bench`
# (the harness), `python` (the project's venv, with MSAL Python) and `bench_start`.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"
TOKENCACHE_BENCHMARKS=1 swift build -c release --scratch-path .build/bench --product TokenCacheBenchmarks >/dev/null
bench="$root/.build/bench/release/TokenCacheBenchmarks"
python="$root/.venv/bin/python"

# Starts a benchmark script: `bench_start DEFAULT_SIZE... -- "$@"` sets `sizes` to the
# script's arguments (else the defaults), `work` to a temporary folder removed on exit, and
# `results` to $TOKENCACHE_BENCH_RESULTS (else a file in `work`), emptied.
bench_start() {
  local defaults=()
  while [ "$1" != "--" ]; do defaults+=("$1"); shift; done
  shift
  sizes=("$@")
  [ "${#sizes[@]}" -gt 0 ] || sizes=("${defaults[@]}")
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  results=${TOKENCACHE_BENCH_RESULTS:-$work/results.jsonl}
  : > "$results"
}
