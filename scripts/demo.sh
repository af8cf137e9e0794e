#!/usr/bin/env bash
# The main job: a short tour of tokencache on a cache file shared with MSAL Python.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"
swift build --product tokencache >/dev/null
tc="$root/.build/debug/tokencache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cache="$work/msal_token_cache.json"
client=04b07795-8ddb-461a-bbee-02f9e1bf7b46
authority=https://login.microsoftonline.com/organizations
now=$(date +%s)
b64() { printf '%s' "$1" | base64 -w0 | tr '+/' '-_' | tr -d '='; }

step() {
  if [ -t 1 ]; then printf '\n\033[1m$ %s\033[0m\n' "$*"; else printf '\n$ %s\n' "$*"; fi
  "$@"
}

# A sign-in response as the token endpoint returns it (the tokens are made up).
cat > "$work/signin.json" <<JSON
{"token_type": "Bearer", "scope": "User.Read Mail.Read openid profile offline_access",
 "expires_in": 3599, "ext_expires_in": 7199, "refresh_in": 1800,
 "access_token": "demo-access-token-for-ada", "refresh_token": "demo-refresh-token-for-ada", "foci": "1",
 "id_token": "e30.$(b64 '{"sub":"s1","oid":"ada-oid","tid":"72f988bf-86f1-41af-91ab-2d7cd011db47","preferred_username":"ada@contoso.com"}').",
 "client_info": "$(b64 '{"uid":"ada-oid","utid":"72f988bf-86f1-41af-91ab-2d7cd011db47"}')"}
JSON

echo "A token cache file in MSAL Python's format, at $cache"
step "$tc" add-response --store "file:$cache" --client-id $client --authority $authority \
  --scopes "User.Read Mail.Read openid profile offline_access" --response "$work/signin.json" \
  --grant-type authorization_code --now "$now"
step "$tc" accounts --store "file:$cache"
step "$tc" tokens --store "file:$cache"
step "$tc" lookup --store "file:$cache" --client-id $client --authority $authority --scopes User.Read \
  --account ada-oid.72f988bf-86f1-41af-91ab-2d7cd011db47 --now "$now"
echo "(exit 0: a hit; the secret stays hidden without --show-secrets)"
set +e
step "$tc" lookup --store "file:$cache" --client-id $client --authority $authority --scopes Files.Read \
  --account ada-oid.72f988bf-86f1-41af-91ab-2d7cd011db47 --now "$now"
echo "(exit $?: a miss, no token has that scope)"
set -e
step .venv/bin/python scripts/msal_python_peer.py "$cache" $client $authority "$now"
step "$tc" accounts --store "file:$cache" --authority $authority --json
echo
echo "Both libraries read and write the same file, byte for byte in MSAL Python's layout."

echo
echo "The same cache, encrypted with AES-256-GCM under a passphrase from the environment:"
export DEMO_PASSPHRASE="correct horse battery staple"
step "$tc" copy --from "file:$cache" --to "encrypted:$work/tokens.bin?passphrase-env=DEMO_PASSPHRASE"
step head -c 4 "$work/tokens.bin"
echo "   (the envelope's magic; no token is readable in the file)"
step "$tc" accounts --store "encrypted:$work/tokens.bin?passphrase-env=DEMO_PASSPHRASE"
set +e
DEMO_PASSPHRASE=wrong "$tc" accounts --store "encrypted:$work/tokens.bin?passphrase-env=DEMO_PASSPHRASE"
echo "(exit $?: a wrong passphrase)"
set -e
step "$tc" doctor || true

echo
echo "The same cache in a SQLite database, one row per entry, each row encrypted:"
step "$tc" copy --from "file:$cache" --to "sqlite:$work/tokens.db?passphrase-env=DEMO_PASSPHRASE"
step "$tc" lookup --store "sqlite:$work/tokens.db?passphrase-env=DEMO_PASSPHRASE" --client-id $client --authority $authority \
  --scopes User.Read --account ada-oid.72f988bf-86f1-41af-91ab-2d7cd011db47 --now "$now"
step "$tc" doctor --store "sqlite:$work/tokens.db?passphrase-env=DEMO_PASSPHRASE" || true
