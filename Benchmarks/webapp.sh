#!/usr/bin/env bash
# The web API's benchmark: wrk (Debian) against the example API (Examples/WebApp, release
# build) on loopback, 200 connections, every request a different signed-in user whose
# on-behalf-of token for the downstream API is cached: the API checks the caller's token
# (RS256 against the provider's published key), then serves the downstream token from its
# store. Stores: sqlite:, postgres:// without and with the L1, and two API instances on one
# PostgreSQL database with the L1 (two wrk processes of 100 connections, one per
# instance). Prints one JSON line per store.
#
#   Benchmarks/webapp.sh [USERS] [SECONDS]     (default: 10000 20)
#
# WEBAPP_CONNECTIONS changes the 200 connections (halved per instance for two instances):
# with a few, the latency is the API's own time per request rather than the queue's.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
TOKENCACHE_SETUP_PACKAGES="wrk" "$root/scripts/setup.sh"
swift build -c release --scratch-path .build/bench --product WebAppExample >/dev/null
example="$root/.build/bench/release/WebAppExample"
python="$root/.venv/bin/python"
users=${1:-10000}
connections=${WEBAPP_CONNECTIONS:-200}
seconds=${2:-20}
work=$(mktemp -d)
chmod 0711 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  "$root/scripts/postgres.sh" stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# The identity server, with the users and the apps.
IDP_SYNTHETIC_USERS=$users "$python" Tests/IdentityServer/identity_server.py > "$work/idp.out" &
pids+=($!)
until grep -q PORT "$work/idp.out" 2>/dev/null; do sleep 0.2; done
idp="http://127.0.0.1:$(awk '/^PORT/ {print $2}' "$work/idp.out")"
control() { curl -sf -X POST -d "$2" "$idp/_control/$1" >/dev/null; }
control client '{"client_id": "api-id", "secret": "api-secret", "app_id_uri": "api://example-api"}'
control client '{"client_id": "down-id", "secret": "down-secret", "app_id_uri": "api://example-downstream"}'
authority="$idp/contoso.onmicrosoft.com"

url=$(TOKENCACHE_PG_SHARED_BUFFERS=1GB "$root/scripts/postgres.sh" start "$work/pg")
export PGPASSWORD=$(cat "$work/pg/password")

# Starts an API instance on STORE; prints its port.
start_api() {
  local out="$work/api-$RANDOM.out"
  CLIENT_SECRET=api-secret "$example" api --authority "$authority" --client-id api-id --audience api://example-api \
    --store "$1" --allow-http-loopback --downstream-url http://127.0.0.1:9 --downstream-scope api://example-downstream/data.read > "$out" 2>&1 &
  pids+=($!)
  until grep -q LISTENING "$out" 2>/dev/null; do sleep 0.2; done
  awk '/^LISTENING/ {print $2}' "$out"
}

# Runs wrk against PORT with CONNECTIONS connections; prints wrk's JSON line.
load() {
  TOKENS="$work/tokens" wrk -t"$(( $2 < 2 ? 1 : 2 ))" -c"$2" -d"${seconds}s" --timeout 10s -s Benchmarks/webapp.lua "http://127.0.0.1:$1" | grep '^{'
}

run() {
  local name=$1 spec=$2 instances=$3
  local first second
  first=$(start_api "$spec")
  "$python" Benchmarks/webapp_tokens.py warm "http://127.0.0.1:$first" "$work/tokens"
  if [ "$instances" = 1 ]; then
    printf '{"store": "%s", "users": %s, "wrk": %s}\n' "$name" "$users" "$(load "$first" "$connections")"
  else
    second=$(start_api "$spec")
    load "$first" $((connections / 2)) > "$work/a.json" & local a=$!
    load "$second" $((connections / 2)) > "$work/b.json" & local b=$!
    wait "$a" "$b"
    printf '{"store": "%s", "users": %s, "wrk": [%s, %s]}\n' "$name" "$users" "$(cat "$work/a.json")" "$(cat "$work/b.json")"
  fi
  for pid in "${pids[@]:1}"; do kill "$pid" 2>/dev/null || true; done
  pids=("${pids[0]}")
}

echo "webapp benchmark: $users users, $connections connections, ${seconds}s per store" >&2
"$python" Benchmarks/webapp_tokens.py sign-in "$authority" "$users" "$work/tokens"
run sqlite "sqlite:$work/api.db" 1
run postgres "$url?schema=api_plain" 1
run postgres-l1 "$url?schema=api_l1&l1=on" 1
run postgres-l1-two-instances "$url?schema=api_two&l1=on" 2
