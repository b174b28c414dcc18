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
#               kafka (Apache Kafka ${KAFKA_VERSION:-4.4.0} from Maven Central, one KRaft broker+controller,
#               PLAINTEXT on 127.0.0.1:${KAFKA_PORT:-9092}, run with the installed JDK, heap ${KAFKA_HEAP:-512m})
# Only checked: postgresql (127.0.0.1:5432) and nats (JetStream, 127.0.0.1:4222), started by the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD/.services"
OWNED=(influxdb kafka)
CHECKED=(postgresql nats)

log() { echo "services: $*"; }

# true when something accepts TCP connections on 127.0.0.1:$1
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# A broker left running by an earlier checkout whose directory was removed still answers its port but has lost
# its files (seen here: InfluxDB answering /ping and failing every CREATE DATABASE). Stops every process matching
# $2 whose command line names a file ending in $3 that no longer exists, so that this checkout starts its own.
stop_orphans() {
  local name=$1 pattern=$2 suffix=$3 pid file i
  for pid in $(pgrep -f "$pattern" || true); do
    file=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -m1 -- "$suffix\$") || continue
    [[ -e "$file" ]] && continue
    log "$name: stopping pid $pid, left by a removed checkout ($file is gone)"
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  done
}

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
  stop_orphans influxdb "influxd -config" "influxdb.conf"
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

# ------------------------------------------------------------------------------------------------------- kafka
# The real broker: org.apache.kafka:kafka_2.13 and its dependencies are resolved by Maven (cached in ~/.m2) from a
# small pom written here; the classpath is kept in .services/kafka/classpath-<version>.txt. The log directory is
# formatted once for a single-node KRaft cluster (broker and controller in one process).
KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP="${KAFKA_HEAP:-512m}"
KAFKA_DIR="$ROOT/kafka"

kafka_ping() {
  # a broker answers an ApiVersions request (key 18, v0) on its port; anything else that listens does not
  port_open "$KAFKA_PORT" || return 1
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf "\x00\x00\x00\x0e\x00\x12\x00\x00\x00\x00\x00\x01\x00\x04ping" >&3
    head -c 8 <&3 | od -An -tx1 | tr -d " \n"' _ "$KAFKA_PORT" 2>/dev/null | grep -q '^........00000001$'
}

kafka_classpath() {
  local cp="$KAFKA_DIR/classpath-$KAFKA_VERSION.txt"
  if [[ -s "$cp" ]] && tr ':' '\n' <"$cp" | while read -r jar; do [[ -f "$jar" ]] || exit 1; done; then
    return 0
  fi
  command -v mvn >/dev/null || { log "kafka: mvn is missing (Maven is needed to fetch the broker)"; return 1; }
  command -v java >/dev/null || { log "kafka: java is missing (a JDK 17 runs the broker)"; return 1; }
  log "kafka: resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION with Maven (cached in ~/.m2)"
  mkdir -p "$KAFKA_DIR/pom"
  cat >"$KAFKA_DIR/pom/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>llm-sentinel.services</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
  </dependencies>
</project>
POM
  (cd "$KAFKA_DIR/pom" && mvn -q -B dependency:build-classpath -Dmdep.outputFile="$cp.tmp") >"$KAFKA_DIR/maven.log" 2>&1 || {
    log "kafka: Maven could not resolve the broker; see $KAFKA_DIR/maven.log"
    tail -20 "$KAFKA_DIR/maven.log" >&2 || true
    return 1
  }
  mv "$cp.tmp" "$cp"
}

kafka_up() {
  stop_orphans kafka "kafka.Kafka" "server.properties"
  if kafka_ping; then
    log "kafka: already answering on 127.0.0.1:$KAFKA_PORT"
    return 0
  fi
  if port_open "$KAFKA_PORT"; then
    log "kafka: 127.0.0.1:$KAFKA_PORT is taken by something that is not a Kafka broker"
    return 1
  fi
  if pid_alive "$KAFKA_DIR/kafka.pid"; then
    log "kafka: a broker started earlier (pid $(cat "$KAFKA_DIR/kafka.pid")) is still starting"
  else
    kafka_classpath
    local cp
    cp=$(cat "$KAFKA_DIR/classpath-$KAFKA_VERSION.txt")
    mkdir -p "$KAFKA_DIR/data"
    cat >"$KAFKA_DIR/server.properties" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=24
log.segment.bytes=67108864
CONF
    cat >"$KAFKA_DIR/log4j2.properties" <<CONF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $KAFKA_DIR/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
CONF
    local java_opts=(-Xmx"$KAFKA_HEAP" -Xms128m -XX:+UseG1GC -XX:ActiveProcessorCount=2
      -Djava.awt.headless=true -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties")
    if [[ ! -f "$KAFKA_DIR/data/meta.properties" ]]; then
      log "kafka: formatting $KAFKA_DIR/data for a single-node KRaft cluster"
      java "${java_opts[@]}" -cp "$cp" kafka.tools.StorageTool format --standalone \
        -t "$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)" \
        -c "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/format.log" 2>&1 || {
        log "kafka: formatting failed; see $KAFKA_DIR/format.log"
        tail -20 "$KAFKA_DIR/format.log" >&2 || true
        return 1
      }
    fi
    nohup java "${java_opts[@]}" -cp "$cp" kafka.Kafka "$KAFKA_DIR/server.properties" \
      >"$KAFKA_DIR/stdout.log" 2>&1 </dev/null &
    echo $! >"$KAFKA_DIR/kafka.pid"
    log "kafka: started the broker (pid $(cat "$KAFKA_DIR/kafka.pid")) on 127.0.0.1:$KAFKA_PORT, data in $KAFKA_DIR/data, log $KAFKA_DIR/server.log"
  fi
  for _ in $(seq 1 300); do
    if kafka_ping; then
      log "kafka: answering"
      return 0
    fi
    if ! pid_alive "$KAFKA_DIR/kafka.pid"; then
      log "kafka: the broker exited; last lines of its logs:"
      tail -20 "$KAFKA_DIR/stdout.log" "$KAFKA_DIR/server.log" >&2 || true
      return 1
    fi
    sleep 0.2
  done
  log "kafka: no answer after 60 s; see $KAFKA_DIR/server.log"
  return 1
}

kafka_down() {
  if pid_alive "$KAFKA_DIR/kafka.pid"; then
    local pid
    pid=$(cat "$KAFKA_DIR/kafka.pid")
    kill "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
    log "kafka: stopped the broker (pid $pid)"
  else
    log "kafka: not started by this script"
  fi
  rm -f "$KAFKA_DIR/kafka.pid"
}

kafka_status() {
  if kafka_ping; then
    local who="started elsewhere"
    pid_alive "$KAFKA_DIR/kafka.pid" && who="pid $(cat "$KAFKA_DIR/kafka.pid"), log $KAFKA_DIR/server.log"
    log "kafka: up on 127.0.0.1:$KAFKA_PORT ($who)"
  else
    log "kafka: down"
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
