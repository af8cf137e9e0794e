#!/usr/bin/env bash
# Builds the DocC documentation of every library module (TokenCache, CacheBackends,
# CachePostgres, MSALLite, MSALHummingbird) with swift-docc-plugin, in the package's .build (after the
# tests' build it only extracts symbol graphs; about half a minute).
# It fails when the build fails or DocC warns, in a catalog (Sources/*/*.docc) or a doc
# comment: a link to a symbol that does not exist, an undocumented parameter. The full log
# is .build/docs.log.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
modules=(TokenCache CacheBackends CachePostgres MSALLite MSALHummingbird)
mkdir -p .build
log=.build/docs.log
targets=()
for module in "${modules[@]}"; do targets+=(--target "$module"); done
swift package generate-documentation "${targets[@]}" >"$log" 2>&1 || {
  cat "$log"
  echo "docs: swift package generate-documentation failed"
  exit 1
}
# Each DocC warning is a "warning:" line followed by a "--> FILE:LINE" line (the package
# manager's own warnings about dependencies have none).
docc_warnings=$(grep -A1 "^warning:" "$log" | grep -B1 -E "^ *--> " | grep -v "^--$" || true)
if [ -n "$docc_warnings" ]; then
  echo "$docc_warnings"
  echo "docs: DocC warned (above)"
  exit 1
fi
echo "docs: no warnings"
echo "docs: archives:"
for module in "${modules[@]}"; do
  archive=".build/plugins/Swift-DocC/outputs/$module.doccarchive"
  [ -d "$archive" ] || { echo "docs: $archive is missing"; exit 1; }
  echo "  $archive"
done
