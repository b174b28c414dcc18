#!/usr/bin/env bash
# The services that the integration tests (test/integration) talk to, on 127.0.0.1 only.
#
#   bash scripts/services.sh up      install (if missing) and start what this script owns, wait until it answers
#   bash scripts/services.sh down    stop what this script started
#   bash scripts/services.sh status  say what runs where, including the services the machine starts itself
#
# Idempotent: `up` on a running service only checks that it answers. Everything this script starts keeps its
# data, configuration, pid and log under .services/<name>/ (gitignored). One set of functions per service
# (<name>_up, <name>_down, <name>_status); add a service by writing its three functions and naming it in OWNED.
#
# Owned here:   influxdb (Debian's influxdb 1.x, HTTP on 127.0.0.1:${INFLUX_PORT:-8086})
# Only checked: postgresql (127.0.0.1:5432) and nats (JetStream, 127.0.0.1:4222), started by the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD/.services"
OWNED=(influxdb)
CHECKED=(postgresql nats)

log() { echo "services: $*"; }

# true when something accepts TCP connections on 127.0.0.1:$1
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# ---------------------------------------------------------------------------------------------------- influxdb
INFLUX_PORT="${INFLUX_PORT:-8086}"
INFLUX_DIR="$ROOT/influxdb"

influxdb_ping() { curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$INFLUX_PORT/ping"; }

influxdb_install() {
  command -v influxd >/dev/null && return 0
  log "influxdb: installing Debian's influxdb package"
  if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq influxdb >/dev/null
  command -v influxd >/dev/null || { log "influxdb: influxd still missing after apt-get install"; return 1; }
}

influxdb_up() {
  if influxdb_ping; then
    log "influxdb: already answering on http://127.0.0.1:$INFLUX_PORT"
    return 0
  fi
  if port_open "$INFLUX_PORT"; then
    log "influxdb: 127.0.0.1:$INFLUX_PORT is taken by something that is not InfluxDB"
    return 1
  fi
  influxdb_install
  mkdir -p "$INFLUX_DIR/meta" "$INFLUX_DIR/data" "$INFLUX_DIR/wal"
  # A private configuration: loopback only, data under .services, no usage reporting, no RPC port clash
  cat >"$INFLUX_DIR/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$((INFLUX_PORT + 2))"
[meta]
  dir = "$INFLUX_DIR/meta"
[data]
  dir = "$INFLUX_DIR/data"
  wal-dir = "$INFLUX_DIR/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$INFLUX_PORT"
  log-enabled = false
[monitor]
  store-enabled = false
CONF
  nohup influxd -config "$INFLUX_DIR/influxdb.conf" >"$INFLUX_DIR/influxd.log" 2>&1 </dev/null &
  echo $! >"$INFLUX_DIR/influxd.pid"
  log "influxdb: started influxd (pid $(cat "$INFLUX_DIR/influxd.pid")) on http://127.0.0.1:$INFLUX_PORT, data in $INFLUX_DIR, log $INFLUX_DIR/influxd.log"
  for _ in $(seq 1 150); do
    if influxdb_ping; then
      log "influxdb: answering"
      return 0
    fi
    if ! pid_alive "$INFLUX_DIR/influxd.pid"; then
      log "influxdb: influxd exited; last lines of its log:"
      tail -20 "$INFLUX_DIR/influxd.log" >&2 || true
      return 1
    fi
    sleep 0.2
  done
  log "influxdb: no answer after 30 s; see $INFLUX_DIR/influxd.log"
  return 1
}

influxdb_down() {
  if pid_alive "$INFLUX_DIR/influxd.pid"; then
    local pid
    pid=$(cat "$INFLUX_DIR/influxd.pid")
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    log "influxdb: stopped influxd (pid $pid)"
  else
    log "influxdb: not started by this script"
  fi
  rm -f "$INFLUX_DIR/influxd.pid"
}

influxdb_status() {
  if influxdb_ping; then
    local who="started elsewhere"
    pid_alive "$INFLUX_DIR/influxd.pid" && who="pid $(cat "$INFLUX_DIR/influxd.pid"), log $INFLUX_DIR/influxd.log"
    log "influxdb: up on http://127.0.0.1:$INFLUX_PORT ($who)"
  else
    log "influxdb: down"
    return 1
  fi
}

# -------------------------------------------------------------------------------------------------- postgresql
postgresql_status() {
  if port_open 5432; then log "postgresql: up on 127.0.0.1:5432 (started by the machine)"; else log "postgresql: down"; return 1; fi
}

# -------------------------------------------------------------------------------------------------------- nats
nats_status() {
  if ! port_open 4222; then log "nats: down"; return 1; fi
  # the server's greeting (INFO {...}) says whether JetStream is enabled
  local info js="JetStream off"
  info=$(timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/4222; IFS= read -r line <&3; echo "$line"' 2>/dev/null || true)
  [[ "$info" == *'"jetstream":true'* ]] && js="JetStream on"
  log "nats: up on 127.0.0.1:4222 (started by the machine; $js)"
  [[ "$js" == "JetStream on" ]]
}

# ------------------------------------------------------------------------------------------------------- main
cmd="${1:-status}"
case "$cmd" in
  up)
    mkdir -p "$ROOT"
    for s in "${OWNED[@]}"; do "${s}_up"; done
    rc=0
    for s in "${CHECKED[@]}"; do "${s}_status" || rc=1; done
    exit $rc
    ;;
  down)
    for s in "${OWNED[@]}"; do "${s}_down"; done
    ;;
  status)
    rc=0
    for s in "${OWNED[@]}" "${CHECKED[@]}"; do "${s}_status" || rc=1; done
    exit $rc
    ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
