#!/usr/bin/env bash
# The PostgreSQL store's benchmark, next to the SQLite store on the same users in the same
# run: a private cluster from Debian's packages on loopback (scripts/postgres.sh), stopped
# at the end. Prints one JSON line per size, then a table. With TOKENCACHE_BENCH_RESULTS set,
# the JSON lines are kept in that file.
#
#   Benchmarks/postgres.sh [USERS ...]     (default: 10000 100000)
set -euo pipefail
source "$(dirname "$0")/harness.sh"
sizes=("${@:-10000 100000}")
[ "$#" -gt 0 ] || sizes=(10000 100000)
work=$(mktemp -d)
chmod 0711 "$work"
trap '"$root/scripts/postgres.sh" stop "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
url=$(TOKENCACHE_PG_SHARED_BUFFERS=2GB "$root/scripts/postgres.sh" start "$work/pg")
export PGPASSWORD=$(cat "$work/pg/password")
results=${TOKENCACHE_BENCH_RESULTS:-$work/results.jsonl}
: > "$results"
for users in "${sizes[@]}"; do
  spec="$url?schema=bench_$users"
  pg_import=$("$bench" postgres-generate "$users" "$spec" 2>/dev/null)
  pg=$("$bench" postgres "$spec" "$users")
  sqlite_import=$("$bench" sqlite-generate "$users" "$work/s$users.db" 2>/dev/null)
  sqlite=$("$bench" sqlite "$work/s$users.db" "$users")
  rm -f "$work/s$users.db"*
  printf '{"users": %s, "postgres": %s, "postgres_import": %s, "sqlite": %s, "sqlite_import": %s}\n' "$users" "$pg" "$pg_import" "$sqlite" "$sqlite_import" | tee -a "$results"
done
python3 Benchmarks/report.py postgres "$results"
