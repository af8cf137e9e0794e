#!/usr/bin/env bash
# A private PostgreSQL server for the tests and benchmarks, from Debian's packages: its
# own cluster in a folder of the caller's, on 127.0.0.1 only (no Unix socket), with
# password (SCRAM) authentication. Never touches a system cluster.
#
#   postgres.sh start DIR   create the cluster in DIR if needed and start it; prints the
#                           store URL. With TOKENCACHE_PG_TLS_DIR set when it creates the
#                           cluster, the server speaks TLS with server.crt and server.key
#                           from that folder. DIR/password holds the password, DIR/pgpass a
#                           libpq password file, DIR/port the port (kept across restarts).
#   postgres.sh stop DIR    shut down cleanly (waits).
#   postgres.sh kill DIR    crash it: every server process gets SIGKILL at once.
#   postgres.sh pause DIR   freeze it: every server process gets SIGSTOP (connections stay
#                           open, nothing answers) until resume.
#   postgres.sh resume DIR  thaw it (SIGCONT).
#   postgres.sh status DIR  exit 0 when running.
#
# As root it runs the server as the postgres user, which initdb and postgres require.
set -euo pipefail
# The server outlives this script: it must not inherit the caller's descriptors (a test
# runner waiting on one would wait for the server's exit).
for fd in /proc/$$/fd/*; do
  fd=${fd##*/}
  [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null || true
done
command=${1:?usage: postgres.sh start|stop|kill|pause|resume|status DIR}
dir=${2:?usage: postgres.sh start|stop|kill|pause|resume|status DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
data="$dir/data"
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/pg_ctl" ] || { echo "postgres.sh: no PostgreSQL server found; run scripts/setup.sh (it installs postgresql-15)" >&2; exit 69; }

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$command" in
start)
  if [ ! -f "$data/PG_VERSION" ]; then
    chmod 0700 "$dir"
    [ "$(id -u)" -ne 0 ] || chmod 0711 "$dir"
    head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$dir/password"
    chmod 0600 "$dir/password"
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' > "$dir/port"
    mkdir -p "$data"
    chmod 0700 "$data"
    pwfile="$data.pw"
    cp "$dir/password" "$pwfile"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$data" "$pwfile"; fi
    as_owner "$bin/initdb" -D "$data" -U tokencache --pwfile="$pwfile" --auth=scram-sha-256 \
      --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 70; }
    rm -f "$pwfile"
    cat >> "$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $(cat "$dir/port")
unix_socket_directories = ''
max_connections = 200
shared_buffers = ${TOKENCACHE_PG_SHARED_BUFFERS:-256MB}
logging_collector = off
log_min_messages = warning
CONF
    if [ -n "${TOKENCACHE_PG_TLS_DIR:-}" ]; then
      # TLS with the server certificate and key in that folder (server.crt, server.key).
      cp "$TOKENCACHE_PG_TLS_DIR/server.crt" "$TOKENCACHE_PG_TLS_DIR/server.key" "$data/"
      chmod 0600 "$data/server.key"
      [ "$(id -u)" -ne 0 ] || chown postgres "$data/server.crt" "$data/server.key"
      printf "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n" >> "$data/postgresql.conf"
    fi
    printf '127.0.0.1:%s:*:tokencache:%s\n' "$(cat "$dir/port")" "$(cat "$dir/password")" > "$dir/pgpass"
    chmod 0600 "$dir/pgpass"
    created=1
  fi
  if ! as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start >/dev/null \
      || { tail -n 20 "$data/server.log" >&2; exit 69; }
  fi
  if [ -n "${created:-}" ]; then
    env -u PGPASSWORD PGPASSFILE="$dir/pgpass" "$bin/createdb" -h 127.0.0.1 -p "$(cat "$dir/port")" -U tokencache tokencache
  fi
  echo "postgres://tokencache@127.0.0.1:$(cat "$dir/port")/tokencache"
  ;;
stop)
  [ -f "$data/PG_VERSION" ] || exit 0
  as_owner "$bin/pg_ctl" -D "$data" -w -t 60 -m fast stop >/dev/null 2>&1 || true
  ;;
kill)
  [ -f "$data/postmaster.pid" ] || exit 0
  leader=$(head -n 1 "$data/postmaster.pid")
  pids=$(pgrep -P "$leader" || true)
  kill -KILL "$leader" $pids 2>/dev/null || true
  # Wait until every server process is gone, so a restart can take the port again.
  for _ in $(seq 100); do
    kill -0 "$leader" $pids 2>/dev/null || break
    sleep 0.05
  done
  ;;
pause|resume)
  [ -f "$data/postmaster.pid" ] || exit 0
  leader=$(head -n 1 "$data/postmaster.pid")
  signal=$([ "$command" = pause ] && echo STOP || echo CONT)
  kill "-$signal" "$leader" $(pgrep -P "$leader" || true) 2>/dev/null || true
  ;;
status)
  as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
  ;;
*)
  echo "postgres.sh: unknown command $command" >&2
  exit 64
  ;;
esac
