#!/usr/bin/env bash
# The PostgreSQL store's benchmark, next to the SQLite store on the same users in the same
# run: a private cluster from Debian's packages on loopback (scripts/postgres.sh), stopped
# at the end. Prints one JSON line per size, then a table.
#
#   Benchmarks/postgres.sh [USERS ...]     (default: 10000 100000)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"
sizes=("${@:-10000 100000}")
[ "$#" -gt 0 ] || sizes=(10000 100000)
TOKENCACHE_BENCHMARKS=1 swift build -c release --scratch-path .build/bench --product TokenCacheBenchmarks >/dev/null
bench="$root/.build/bench/release/TokenCacheBenchmarks"
work=$(mktemp -d)
chmod 0711 "$work"
trap '"$root/scripts/postgres.sh" stop "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
url=$(TOKENCACHE_PG_SHARED_BUFFERS=2GB "$root/scripts/postgres.sh" start "$work/pg")
export PGPASSWORD=$(cat "$work/pg/password")
results="$work/results.jsonl"
for users in "${sizes[@]}"; do
  spec="$url?schema=bench_$users"
  pg_import=$("$bench" postgres-generate "$users" "$spec" 2>/dev/null)
  pg=$("$bench" postgres "$spec" "$users")
  sqlite_import=$("$bench" sqlite-generate "$users" "$work/s$users.db" 2>/dev/null)
  sqlite=$("$bench" sqlite "$work/s$users.db" "$users")
  rm -f "$work/s$users.db"*
  printf '{"users": %s, "postgres": %s, "postgres_import": %s, "sqlite": %s, "sqlite_import": %s}\n' "$users" "$pg" "$pg_import" "$sqlite" "$sqlite_import" | tee -a "$results"
done
python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
us = lambda s: f"{s * 1e6:.1f} µs"
ms = lambda s: f"{s * 1e3:.2f} ms"
print()
print("| users | lookup, no L1 (median / p99) | lookup, warm L1 (median / p99) | one response written (median / p99) | 4 writers | SQLite lookup | SQLite write | size on server |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    p, s = r["postgres"], r["sqlite"]
    print(f"| {r['users']:,} | {us(p['lookup_median_s'])} / {us(p['lookup_p99_s'])} | {us(p['l1_lookup_median_s'])} / {us(p['l1_lookup_p99_s'])} | "
          f"{ms(p['write_median_s'])} / {ms(p['write_p99_s'])} | {p['writers4_per_s']:.0f} responses/s | {us(s['lookup_median_s'])} | {ms(s['write_median_s'])} | {p['db_bytes'] / 1e6:.0f} MB |")
PY
