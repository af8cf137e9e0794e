#!/usr/bin/env bash
# Installs what the project needs on Debian 12 with the Swift toolchain: system packages
# (apt-get) and the Python peers (pip, into the project-local .venv). Safe to run again:
# it only installs what is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

# Python for the MSAL peers; libssl-dev for AES-GCM and scrypt; libsqlite3-dev for the
# SQLite store; a Secret Service that runs headless (gnome-keyring on a private D-Bus
# session) with libsecret, and the GObject bindings msal-extensions' LibsecretPersistence
# needs; PostgreSQL's server and psql, which the tests start in a private cluster; and
# keyctl (keyutils), with which the tests take a data key out of the kernel keyring; and
# Debian's chromium with its chromedriver, the real browser of the web app tests.
packages=(python3 python3-venv python3-pip ca-certificates openssl pkg-config libssl-dev libsqlite3-dev
  dbus-daemon dbus-bin libglib2.0-bin gnome-keyring libsecret-1-0 libsecret-tools gir1.2-secret-1 python3-gi
  postgresql-15 postgresql-client-15 keyutils chromium chromium-driver)
# A benchmark script names what it needs on top (callgrind.sh: valgrind and binutils).
read -ra extra <<< "${TOKENCACHE_SETUP_PACKAGES:-}"
packages+=("${extra[@]}")
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

# MSAL Python and msal-extensions, the reference peers the tests compare against, and
# Selenium, which drives the browser (with the system chromedriver: it downloads nothing).
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
