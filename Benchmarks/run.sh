#!/usr/bin/env bash
# Measures this library and MSAL Python on the same cache files in the same run, and
# prints a Markdown table of both with their ratio.
#
#   Benchmarks/run.sh [USERS ...]     default: 1 100 1000 10000 100000 1000000s
#
# Each size's cache is written once (about 10.8 KB per user) into a temporary folder. A
# size ending in "s" (1000000s) measures only the SQLite store, written directly: no JSON
# file of that size fits in memory here (about 11 GB of tokens). With TOKENCACHE_BENCH_RESULTS
# set, the results (one JSON line per size) are kept in that file; Benchmarks/report.py prints
# the tables from them.
set -euo pipefail
source "$(dirname "$0")/harness.sh"
bench_start 1 100 1000 10000 100000 1000000s -- "$@"
head -c 32 /dev/urandom > "$work/key" && chmod 600 "$work/key"
for size in "${sizes[@]}"; do
  users=${size%s}
  if [ "$size" != "$users" ]; then
    echo "benchmark: $users users, SQLite store only" >&2
    import=$("$bench" sqlite-generate "$users" "$work/only.db" 2>/dev/null)
    plain=$("$bench" sqlite "$work/only.db" "$users")
    first=$("$bench" first-lookup "sqlite:$work/only.db" "$users")
    printf '{"users": %s, "sqlite_only": true, "sqlite": {"import": %s, "plain": %s, "first": %s}}\n' "$users" "$import" "$plain" "$first" >> "$results"
    rm -f "$work"/only.db*
    continue
  fi
  file="$work/cache-$users.json"
  echo "benchmark: $users users" >&2
  "$bench" generate "$users" "$file"
  ours=$("$bench" measure "$file" "$users")
  ours_memory=$("$bench" load-memory "$file")
  theirs=$("$python" Benchmarks/msal_python_bench.py measure "$file" "$users")
  theirs_memory=$("$python" Benchmarks/msal_python_bench.py load-memory "$file")
  persistent_ours=null
  persistent_theirs=null
  stores=null
  sqlite=null
  if [ "$users" -ge 1000 ]; then
    # A new process's first lookup: the file store and msal-extensions load the whole file.
    first_file=$("$bench" first-lookup "file:$file" "$users")
    first_msal=$("$python" Benchmarks/msal_python_bench.py first-lookup "$file" "$users")
    # The SQLite store, plain and encrypted (key file), imported from the same cache.
    import_plain=$("$bench" sqlite-import "$file" "$work/p.db")
    import_sealed=$("$bench" sqlite-import "$file" "$work/e.db" "$work/key")
    plain=$("$bench" sqlite "$work/p.db" "$users")
    sealed=$("$bench" sqlite "$work/e.db" "$users" "$work/key")
    first_plain=$("$bench" first-lookup "sqlite:$work/p.db" "$users")
    first_sealed=$("$bench" first-lookup "sqlite:$work/e.db?key-file=$work/key" "$users")
    rm -f "$work"/p.db* "$work"/e.db*
    sqlite=$(printf '{"import": %s, "import_sealed": %s, "plain": %s, "sealed": %s, "first": %s, "first_sealed": %s, "first_file": %s, "first_msal": %s}' \
      "$import_plain" "$import_sealed" "$plain" "$sealed" "$first_plain" "$first_sealed" "$first_file" "$first_msal")
  fi
  if [ "$users" -ge 1000 ] && [ "$users" -le 100000 ]; then
    # The persistence rows change the file, so each side gets its own copy.
    cp "$file" "$file.py"
    persistent_ours=$("$bench" persistent "$file" "$users")
    persistent_theirs=$("$python" Benchmarks/msal_python_bench.py persistent "$file.py" "$users")
    rm -f "$file.py"
  fi
  if [ "$users" -ge 1000 ] && [ "$users" -le 10000 ]; then
    # The keyring column needs a Secret Service: a private gnome-keyring, as in the tests.
    stores=$(scripts/with-keyring.sh "$bench" stores "$file" "$users" 2>/dev/null)
  fi
  printf '{"users": %s, "ours": %s, "ours_memory": %s, "msal": %s, "msal_memory": %s, "persistent_ours": %s, "persistent_msal": %s, "stores": %s, "sqlite": %s}\n' \
    "$users" "$ours" "$ours_memory" "$theirs" "$theirs_memory" "$persistent_ours" "$persistent_theirs" "$stores" "$sqlite" >> "$results"
  rm -f "$file"
done
"$python" Benchmarks/report.py run "$results"
