#!/usr/bin/env bash
# Runs every test: sets up the machine, then the Swift test suite inside a private D-Bus
# session with gnome-keyring, one test at a time (several start a score of processes that
# contend for one lock, and the Python peers give up after 5 s), talking to the real MSAL
# Python; then a thread-sanitizer run of the concurrency tests and a bounded fuzz run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"
export MSAL_PYTHON="$root/.venv/bin/python"

echo "== swift test (in a private D-Bus session with gnome-keyring, and private PostgreSQL clusters)"
log=$(mktemp)
# The tests start their PostgreSQL clusters under this folder; every one is stopped at the end.
export TOKENCACHE_PG_ROOT=$(mktemp -d)
chmod 0711 "$TOKENCACHE_PG_ROOT"  # the server runs as the postgres user when this runs as root
cleanup() {
  for cluster in "$TOKENCACHE_PG_ROOT"/*/; do
    [ -d "$cluster" ] && "$root/scripts/postgres.sh" stop "$cluster" || true
  done
  rm -rf "$log" "$TOKENCACHE_PG_ROOT"
}
trap cleanup EXIT
set +e
"$root/scripts/with-keyring.sh" swift test --no-parallel 2>&1 | tee "$log" | grep -E "^(✘|✔ Test run|✘ Test run)|error:"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -oE "^✔ Test run with [0-9]+ tests?" "$log" | grep -oE "[0-9]+" || true)
if [ "$status" -ne 0 ] || [ -z "$passed" ]; then
  tail -n 80 "$log"
  echo "swift test failed (exit $status)"
  exit 1
fi

echo "== thread sanitizer: the concurrency tests of the cache, the persistent cache, the lock, the SQLite store and the shared refresh"
set +e
swift test --scratch-path .build/tsan --sanitize=thread --no-parallel --filter "Concurrency|hundredTasks|threadsTakeTurns|concurrentTasks|twentyTasks" > "$log" 2>&1
status=$?
set -e
if [ "$status" -ne 0 ]; then
  # The failing tests, their recorded issues and any sanitizer report.
  { grep -E "^(✘|error:)|error:|recorded an issue|ThreadSanitizer" "$log" || true; } | head -n 40 || true
  grep -A 30 -m 1 "WARNING: ThreadSanitizer" "$log" || true
  tail -n 20 "$log"
  echo "thread-sanitizer run failed (exit $status)"
  exit 1
fi
tail -n 3 "$log"

echo "== DocC: swift package generate-documentation for every library module"
"$root/scripts/docs.sh"

echo "== fuzz the cache reader (bounded)"
"$root/scripts/fuzz.sh" "${FUZZ_SECONDS:-30}"
echo "All tests passed."
echo "tests: $passed passed, 0 failed"
