#!/usr/bin/env bash
# acquireTokenSilent served from the cache: MSALLite and MSAL Python on the same file, in
# the same run, in memory and through the file store (msal-extensions for MSAL Python).
#
#   Benchmarks/silent.sh [USERS ...]     default: 10000
#
# The cache is generated with its tokens cached now, since both libraries read the real
# clock here; every call must be a cache hit (MSALLite's run has no network at all).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"
sizes=("$@")
[ "${#sizes[@]}" -gt 0 ] || sizes=(10000)
TOKENCACHE_BENCHMARKS=1 swift build -c release --scratch-path .build/bench --product TokenCacheBenchmarks >/dev/null
bench="$root/.build/bench/release/TokenCacheBenchmarks"
python="$root/.venv/bin/python"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results="$work/results.jsonl"
for users in "${sizes[@]}"; do
  echo "benchmark: acquireTokenSilent, $users users" >&2
  "$bench" generate "$users" "$work/cache.json" "$(date +%s)"
  ours=$("$bench" silent "$work/cache.json" "$users")
  theirs=$("$python" Benchmarks/msal_python_bench.py silent "$work/cache.json" "$users")
  printf '{"users": %s, "ours": %s, "msal": %s}\n' "$users" "$ours" "$theirs" >> "$results"
  rm -f "$work/cache.json"*
done
"$python" - "$results" <<'PY'
import json, os, platform, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
def t(s):
    return "%.2f s" % s if s >= 1 else "%.1f ms" % (s * 1e3) if s >= 1e-3 else "%.2f µs" % (s * 1e6)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
print("acquireTokenSilent served from the cache, asking for a strict subset of the stored scopes. Measured on %s, %d cores." % (cpu, os.cpu_count()))
print()
print("| users | in memory: ours median / p99 | MSAL Python | ratio | file store: ours median / p99 | msal-extensions | ratio |")
print("|---:|---|---|---:|---|---|---:|")
for r in rows:
    o, m = r["ours"], r["msal"]
    print("| %s | %s / %s | %s | %.0f× | %s / %s | %s | %.0f× |" % (
        f"{r['users']:,}", t(o["memory_median_s"]), t(o["memory_p99_s"]), t(m["memory_median_s"]), m["memory_median_s"] / o["memory_median_s"],
        t(o["file_median_s"]), t(o["file_p99_s"]), t(m["file_median_s"]), m["file_median_s"] / o["file_median_s"]))
print()
print("Ours: median and p99 of 200 batches of 256 calls on random users (PublicClientApplication, no network). MSAL Python: median of 20 acquire_token_silent() calls.")
PY
