#!/usr/bin/env bash
# N processes started together, all asking for the same user's access token, which has
# expired: how many refresh requests reach the identity server, how many processes get a
# token, and how long they take. `tokencache token` on a file: and on a sqlite: store, and
# MSAL Python with msal-extensions on a file, against the local identity server
# (Tests/IdentityServer, over TLS for MSAL Python). The goal for ours: one request at any N.
#
#   Benchmarks/refresh.sh [N ...]     default: 1 10 50
#
# Benchmarks/refresh_peer.py seeds every case afresh, starts the processes behind one
# barrier and reads the server's record of requests; each process is killed after 60 s.
# With TOKENCACHE_BENCH_RESULTS set, the results (one JSON line per N) are kept in that file.
# TOKENCACHE_BENCH_CLI names a tokencache executable to measure instead of building one (an
# earlier build, for a before and after).
set -euo pipefail
tokencache=${TOKENCACHE_BENCH_CLI:+$(realpath "$TOKENCACHE_BENCH_CLI")}
source "$(dirname "$0")/harness.sh"
# The CLI, from the same release build folder as the harness (and the same manifest).
if [ -z "$tokencache" ]; then
  TOKENCACHE_BENCHMARKS=1 swift build -c release --scratch-path .build/bench --product tokencache >/dev/null
  tokencache="$root/.build/bench/release/tokencache"
fi
counts=("$@")
[ "${#counts[@]}" -gt 0 ] || counts=(1 10 50)
work=$(mktemp -d)
server=""
trap '[ -z "$server" ] || kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
results=${TOKENCACHE_BENCH_RESULTS:-$work/results.jsonl}
: > "$results"

# A self-signed certificate for 127.0.0.1, which MSAL Python is told to trust.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/key.pem" \
  -out "$work/cert.pem" -days 2 -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null
# The identity server: plain http for ours (--allow-loopback-http), https for MSAL Python.
"$python" -u Tests/IdentityServer/identity_server.py --tls "$work/cert.pem" "$work/key.pem" > "$work/server.out" &
server=$!
for _ in $(seq 100); do
  grep -q '^TLS_PORT ' "$work/server.out" && break
  sleep 0.1
done
port=$(awk '$1 == "PORT" { print $2 }' "$work/server.out")
tls_port=$(awk '$1 == "TLS_PORT" { print $2 }' "$work/server.out")
[ -n "$port" ] && [ -n "$tls_port" ] || { echo "refresh: the identity server did not start" >&2; exit 1; }

mkdir "$work/cases"
# Each line also says when and from which commit it was measured: the report may combine
# it with other benchmarks' results from another run.
measured="$(date -u +"%Y-%m-%d %H:%M UTC"), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
[ -z "$(git status --porcelain -- Sources 2>/dev/null)" ] || measured="$measured with uncommitted changes"
"$python" -u Benchmarks/refresh_peer.py run "$tokencache" "http://127.0.0.1:$port" "https://127.0.0.1:$tls_port" \
  "$work/cert.pem" "$work/cases" "${counts[@]}" \
  | "$python" -c 'import json, sys; [print(json.dumps(dict(json.loads(l), measured=sys.argv[1]))) for l in sys.stdin if l.strip()]' "$measured" >> "$results"
"$python" Benchmarks/report.py refresh "$results"
