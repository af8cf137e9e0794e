#!/usr/bin/env bash
# Measures this library and MSAL Python on the same cache files in the same run, and
# prints a Markdown table of both with their ratio.
#
#   Benchmarks/run.sh [USERS ...]     default: 1 100 1000 10000 100000 1000000s
#
# Each size's cache is written once (about 10.8 KB per user) into a temporary folder. A
# size ending in "s" (1000000s) measures only the SQLite store, written directly: no JSON
# file of that size fits in memory here (about 11 GB of tokens).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"
sizes=("$@")
[ "${#sizes[@]}" -gt 0 ] || sizes=(1 100 1000 10000 100000 1000000s)
TOKENCACHE_BENCHMARKS=1 swift build -c release --scratch-path .build/bench --product TokenCacheBenchmarks >/dev/null
bench="$root/.build/bench/release/TokenCacheBenchmarks"
python="$root/.venv/bin/python"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results="$work/results.jsonl"
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
"$python" - "$results" <<'PY'
import json, platform, os, sys
every = [json.loads(line) for line in open(sys.argv[1])]
rows = [r for r in every if not r.get("sqlite_only")]
def t(seconds):
    if seconds >= 1: return "%.2f s" % seconds
    if seconds >= 1e-3: return "%.1f ms" % (seconds * 1e3)
    return "%.2f µs" % (seconds * 1e6)
def mb(n): return "%.1f MB" % (n / 1e6)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
print("Measured on %s, %d cores, %s; MSAL Python %s." % (cpu, os.cpu_count(), platform.platform(terse=True), "1.39.0"))
print()
print("| users | file | lookup (ours / MSAL Python) | ratio | accounts | ratio | deserialize | ratio | serialize | ratio | peak memory loading (× file) |")
print("|---:|---:|---|---:|---|---:|---|---:|---|---:|---|")
for r in rows:
    o, m = r["ours"], r["msal"]
    size = r["ours_memory"]["file_bytes"]
    def pair(key):
        ratio = m[key] / o[key] if o[key] else 0
        return "%s / %s" % (t(o[key]), t(m[key])), ("%.0f×" if ratio >= 10 else "%.1f×") % ratio
    lk, lr = pair("lookup_median_s"); ac, ar = pair("accounts_s"); de, dr = pair("deserialize_s"); se, sr = pair("serialize_s")
    memory = "%s (%.2f×) / %s (%.2f×)" % (mb(r["ours_memory"]["peak_bytes"]), r["ours_memory"]["peak_bytes"] / size,
                                         mb(r["msal_memory"]["peak_bytes"]), r["msal_memory"]["peak_bytes"] / size)
    if size < 5e6:
        memory = "– (below the processes' own noise)"
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (f"{r['users']:,}", mb(size), lk, lr, ac, ar, de, dr, se, sr, memory))
print()
print("Lookup: median of 400 batches of 256 silent lookups of random users (ours, p99 of batches: %s at the largest size); MSAL Python: median of its own acquire_token_silent()." % t(rows[-1]["ours"]["lookup_p99_s"]))
print()
print("Through the file store, shared with msal-extensions 1.3.1 (FilePersistence + PersistedTokenCache) on copies of the same file:")
print()
print("| users | one token response written | ratio | cache hit, nothing changed | ratio | reload after another process's write | ratio |")
print("|---:|---|---:|---|---:|---|---:|")
for r in rows:
    o, m = r.get("persistent_ours"), r.get("persistent_msal")
    if not o: continue
    cells = []
    for key in ("write_median_s", "hit_median_s", "reload_median_s"):
        cells += ["%s / %s" % (t(o[key]), t(m[key])), "%.1f×" % (m[key] / o[key])]
    print("| %s | %s |" % (f"{r['users']:,}", " | ".join(cells)))
print()
print("Ours: a locked write saves once, atomically (temporary file, fsync, rename); a hit checks the file's change token and looks up in memory, asking for a strict subset of the stored scopes. msal-extensions: add() rewrites the file five times; its hit is its best case, the exact stored scopes (a subset makes it scan every token).")
print()
print("Stores, same run: load (read and parse) and save (serialize and write) through the plain file, the encrypted file (AES-256-GCM, key file; a passphrase costs one scrypt per process on top) and an unchanged hit through each, and through the keyring (msal-extensions profile, private gnome-keyring):")
print()
print("| users | load plain / encrypted | ratio | save plain / encrypted | ratio | unchanged hit: plain / encrypted / keyring |")
print("|---:|---|---:|---|---:|---|")
for r in rows:
    st = r.get("stores")
    if not st: continue
    keyring = t(st["keyring_hit_s"]) if "keyring_hit_s" in st else "–"
    print("| %s | %s / %s | %.2f× | %s / %s | %.2f× | %s / %s / %s |" % (
        f"{r['users']:,}", t(st["plain_load_s"]), t(st["encrypted_load_s"]), st["encrypted_load_s"] / st["plain_load_s"],
        t(st["plain_save_s"]), t(st["encrypted_save_s"]), st["encrypted_save_s"] / st["plain_save_s"],
        t(st["plain_hit_s"]), t(st["encrypted_hit_s"]), keyring))
print()
print("The SQLite store (sqlite:PATH), plain and encrypted (per-row AES-256-GCM, key file), imported from the same cache; the file store and msal-extensions measured in the same run where they still run:")
print()
print("| users | database (per user) | lookup plain / encrypted | one token response written: SQLite plain / encrypted / file store / msal-extensions | lookup right after another process's write | new process, open and first lookup: SQLite plain / encrypted / file store / msal-extensions |")
print("|---:|---|---|---|---|---|")
for r in every:
    sq = r.get("sqlite")
    if not sq: continue
    p = sq["plain"]
    users = r["users"]
    size = "%s (%.1f KB)" % (mb(p["db_bytes"]), p["db_bytes"] / users / 1e3)
    if r.get("sqlite_only"):
        print("| %s | %s | %s / – | %s / – / – / – | %s | %s / – / – / – |" % (f"{users:,}", size, t(p["lookup_median_s"]), t(p["write_median_s"]),
              t(p["after_write_median_s"]), t(sq["first"]["first_lookup_s"])))
        continue
    e = sq["sealed"]
    po, pm = r.get("persistent_ours"), r.get("persistent_msal")
    file_write = t(po["write_median_s"]) if po else "–"
    msal_write = t(pm["write_median_s"]) if pm else "–"
    print("| %s | %s | %s / %s | %s / %s / %s / %s | %s / %s | %s / %s / %s / %s |" % (
        f"{users:,}", size, t(p["lookup_median_s"]), t(e["lookup_median_s"]),
        t(p["write_median_s"]), t(e["write_median_s"]), file_write, msal_write,
        t(p["after_write_median_s"]), t(e["after_write_median_s"]),
        t(sq["first"]["first_lookup_s"]), t(sq["first_sealed"]["first_lookup_s"]), t(sq["first_file"]["first_lookup_s"]), t(sq["first_msal"]["first_lookup_s"])))
print()
print("Lookup: median of 200 batches of 64 silent lookups of random users, through SQLiteTokenCache (indexed queries, no cache in memory). Written: median of 40 new users' sign-ins, each one transaction flushed to disk (synchronous=FULL). After a write: another connection adds a token, then this one looks up (median of 40). First lookup: inside a fresh process, from opening the store to the answer.")
PY
