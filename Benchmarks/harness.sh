# Sourced by run.sh, silent.sh and postgres.sh: sets up the machine (scripts/setup.sh),
# builds the benchmark harness in release mode, moves to the repository and defines
# `root`, `bench` (the harness) and `python` (the project's venv, with MSAL Python).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"
TOKENCACHE_BENCHMARKS=1 swift build -c release --scratch-path .build/bench --product TokenCacheBenchmarks >/dev/null
bench="$root/.build/bench/release/TokenCacheBenchmarks"
python="$root/.venv/bin/python"
