#!/usr/bin/env bash
# Installs what the project needs on Debian 12 with the Swift toolchain: system packages
# (apt-get) and the Python peers (pip, into the project-local .venv). Safe to run again:
# it only installs what is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

packages=(python3 python3-venv python3-pip ca-certificates)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# MSAL Python and msal-extensions, the reference peers the tests compare against.
venv="$root/.venv"
requirements="$root/scripts/python-requirements.txt"
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$requirements" "$stamp"; then
  echo "setup: creating $venv with $(tr '\n' ' ' < "$requirements")" >&2
  /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$stamp"
fi

# portalocker, kept apart: msal-extensions uses its flock-based lock only when it can import
# it, so the tests run the Python peers both with it on PYTHONPATH and without.
portalocker="$venv/portalocker"
if [ ! -d "$portalocker/portalocker" ]; then
  "$venv/bin/pip" install -q --disable-pip-version-check --target "$portalocker" "portalocker==3.2.0"
fi
