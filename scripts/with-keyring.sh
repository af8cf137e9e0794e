#!/bin/sh
# with-keyring.sh COMMAND [ARGS...]
# Runs COMMAND in a private D-Bus session where gnome-keyring-daemon provides the Secret
# Service with an unlocked default ("login") collection, in a throw-away folder. No display,
# no prompt, nothing left behind. The exit status is COMMAND's.
set -eu
if [ -z "${WITH_KEYRING_INNER:-}" ]; then
  export WITH_KEYRING_INNER=1
  exec dbus-run-session -- "$0" "$@"
fi
unset WITH_KEYRING_INNER
base=$(mktemp -d "${TMPDIR:-/tmp}/tokencache-keyring.XXXXXX")
export XDG_DATA_HOME="$base/data" XDG_CACHE_HOME="$base/cache" XDG_RUNTIME_DIR="$base/run"
mkdir -p "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
# A non-empty password: with an empty one no "login" collection is created.
printf '%s' "tokencache-test-keyring" | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
# --unlock returns before the daemon owns the bus name; wait for it, or an early client
# starts a second daemon by D-Bus activation.
i=0
until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; do
  i=$((i + 1))
  [ "$i" -le 250 ] || { echo "with-keyring: the Secret Service did not appear" >&2; exit 1; }
  sleep 0.02
done
export TOKENCACHE_TEST_KEYRING=1
status=0
"$@" || status=$?
rm -rf "$base"
exit "$status"
