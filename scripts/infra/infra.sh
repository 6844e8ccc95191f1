#!/usr/bin/env bash
# Local infrastructure for Bilet's distributed mode (tests, local work): a single-node Apache Kafka
# broker (KRaft, jars resolved with Maven) and a PostgreSQL server from the machine's packages, both
# on loopback, all state under $REPO/var/. See docs/adr/0002-local-infrastructure.md for the why.
#
#   scripts/infra/infra.sh up       start what is not already running, then write var/infra.env
#   scripts/infra/infra.sh status   report both servers (always exits 0)
#   scripts/infra/infra.sh down     stop only what `up` started from this checkout
#   scripts/infra/infra.sh kafka-stop / kafka-start
#                                   stop / start again only the broker `up` started (tests that
#                                   take the broker away; exit 3 when the broker is not ours)
#
# Environment:
#   BVB_KAFKA_BOOTSTRAP  use this existing Kafka; nothing is started or stopped for Kafka
#   BVB_DATABASE_URL     use this existing PostgreSQL; nothing is started or stopped for PostgreSQL
#                        (either set to this script's own address, as after `source var/infra.env`,
#                        counts as unset)
#   BVB_PG_PORT          port for the local PostgreSQL (default 55432)
#   BVB_KAFKA_PORT, BVB_KAFKA_CONTROLLER_PORT, BVB_KAFKA_SSL_PORT, BVB_KAFKA_SASL_SSL_PORT
#                        the local broker's ports (default 9092, 9093, 9094, 9095): a second
#                        checkout can run its own broker beside the first one
#   BVB_KAFKA_HEAP       broker heap flags (default "-Xms256m -Xmx512m")
#   BVB_PG_BINDIR        directory with initdb/pg_ctl/postgres if not the Debian default
#   BVB_PG_INSTANCES     how many PostgreSQL servers `up` starts (default 1): parallel test workers
#                        each get their own (ports BVB_PG_PORT, +1, ...; state var/postgres-wN),
#                        because an event store's read horizon spans its whole server (ADR 0064);
#                        var/infra.env then lists them in BVB_TEST_DATABASE_URLS
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd -- "$SCRIPT_DIR/../.." && pwd -P)
VAR="$REPO/var"

# --- Kafka -------------------------------------------------------------------------------------
KAFKA_POM="$SCRIPT_DIR/kafka/pom.xml"
KAFKA_LOG4J="$SCRIPT_DIR/kafka/log4j2.xml"
KAFKA_TOOLS_LOG4J="$SCRIPT_DIR/kafka/log4j2-tools.xml"
KAFKA_DIR="$VAR/kafka"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_LOGS="$KAFKA_DIR/logs"
KAFKA_PROPS="$KAFKA_DIR/server.properties"
KAFKA_PID_FILE="$KAFKA_DIR/kafka.pid"
KAFKA_CP_FILE="$KAFKA_DIR/classpath.txt"
# The classpath is only trusted for the POM it was resolved from; editing the POM re-resolves.
KAFKA_CP_SUM_FILE="$KAFKA_DIR/classpath.pom.sha256"
KAFKA_CLUSTER_ID_FILE="$KAFKA_DIR/cluster.id"
KAFKA_HOST=127.0.0.1
KAFKA_PORT=${BVB_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${BVB_KAFKA_CONTROLLER_PORT:-9093}
KAFKA_BOOTSTRAP="$KAFKA_HOST:$KAFKA_PORT"
# Secured listeners beside PLAINTEXT, for testing bilet.kafka's TLS and SASL paths (ADR 0022):
# SSL with client certificates (mutual TLS, as Strimzi's `tls` authentication) and SASL_SSL with
# a SCRAM-SHA-512 user. Certificates and the user's password live in var/kafka/tls/.
KAFKA_SSL_PORT=${BVB_KAFKA_SSL_PORT:-9094}
KAFKA_SASL_SSL_PORT=${BVB_KAFKA_SASL_SSL_PORT:-9095}
KAFKA_TLS="$KAFKA_DIR/tls"
KAFKA_SCRAM_USER=bvb-local
KAFKA_SCRAM_DONE="$KAFKA_DIR/scram-user.done"
KAFKA_HEAP=${BVB_KAFKA_HEAP:--Xms256m -Xmx512m}
KAFKA_START_TIMEOUT=90
KAFKA_STOP_TIMEOUT=60
# Short-lived tool JVMs (format, readiness probe): small heap and C1 only, they run for seconds.
TOOL_JVM_OPTS=(-Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "-Dlog4j2.configurationFile=$KAFKA_TOOLS_LOG4J")

# --- PostgreSQL --------------------------------------------------------------------------------
PG_STATE="$VAR/postgres"
# PostgreSQL runs as an unprivileged user, which must pass through every parent of its data
# directory. A checkout under a private directory (a root clone under /root, mode 700) would stop
# it, so there, and only there, the server's state moves to a per-checkout directory under
# /var/tmp; var/postgres.location names it so that status and down find it again.
pg_private_parent() {
  local d="" part parts=()
  IFS=/ read -ra parts <<<"${VAR#/}"
  for part in "${parts[@]}"; do
    [[ -z $part ]] && continue
    d="$d/$part"
    [[ -d $d ]] || return 1
    [[ $(( 0$(stat -c '%a' "$d") & 01 )) -ne 0 ]] || return 0
  done
  return 1
}
if (( EUID == 0 )) && pg_private_parent; then
  PG_STATE="/var/tmp/bilet-postgres-$(printf '%s' "$REPO" | sha256sum | cut -c1-12)"
  mkdir -p "$VAR" && printf '%s\n' "$PG_STATE" >"$VAR/postgres.location"
fi
# An extra server for a parallel test worker (BVB_PG_INSTANCES): its own state beside the first.
PG_INSTANCE=${BVB_PG_INSTANCE:-0}
[[ $PG_INSTANCE =~ ^[0-9]+$ ]] || { echo "infra: error: BVB_PG_INSTANCE must be a number" >&2; exit 1; }
(( PG_INSTANCE == 0 )) || PG_STATE="$PG_STATE-w$PG_INSTANCE"
PG_INSTANCES=${BVB_PG_INSTANCES:-1}
PG_DATA="$PG_STATE/data"
PG_RUN="$PG_STATE/run"
PG_LOG_DIR="$PG_STATE/log"
PG_HOST=127.0.0.1
PG_PORT=${BVB_PG_PORT:-$((55432 + PG_INSTANCE))}
PG_OS_USER=bvb-pg
PG_SUPERUSER=bvb
PG_PASSWORD=bvb
PG_DATABASES=(bvb bvb_identity bvb_consent bvb_diagnostics bvb_events bvb_portfolio bvb_recommender)
PG_START_TIMEOUT=60
PG_BIN=""

ENV_FILE="$VAR/infra.env"
PG_LOCAL_URL="postgresql://$PG_SUPERUSER:$PG_PASSWORD@$PG_HOST:$PG_PORT/bvb"

# External servers. A shell that ran `source var/infra.env` has both variables set to this script's
# own addresses; that is not an external server, and treating it as one would make `down` quietly
# stop nothing. So only a value different from our own address means "someone else's server".
EXTERNAL_KAFKA=${BVB_KAFKA_BOOTSTRAP:-}
[[ $EXTERNAL_KAFKA == "$KAFKA_BOOTSTRAP" ]] && EXTERNAL_KAFKA=""
EXTERNAL_DB=${BVB_DATABASE_URL:-}
[[ $EXTERNAL_DB == "$PG_LOCAL_URL" ]] && EXTERNAL_DB=""

log()  { printf 'infra: %s\n' "$*"; }
warn() { printf 'infra: warning: %s\n' "$*" >&2; }
die()  { printf 'infra: error: %s\n' "$*" >&2; exit 1; }

# Database URLs carry a password; never print it.
mask_url() {
  # shellcheck disable=SC2001  # a back-reference is needed, which ${var//} cannot do
  sed 's#://\([^:/@]*\):[^@]*@#://\1:***@#' <<<"$1"
}

usage() {
  cat <<EOF
usage: scripts/infra/infra.sh up|down|status|kafka-stop|kafka-start

  up      start a single-node Kafka on $KAFKA_BOOTSTRAP and PostgreSQL on $PG_HOST:$PG_PORT
          (reusing servers that already answer there), create the databases, write var/infra.env
  status  report both servers; always exits 0
  down    stop what 'up' started from this checkout; servers it merely reused are left alone
  kafka-stop   stop only the broker 'up' started from this checkout (PostgreSQL keeps running);
               exit status 3, nothing stopped, when the broker is external or not started here
  kafka-start  start that broker again (as 'up' would, Kafka only)

Existing servers instead: BVB_KAFKA_BOOTSTRAP=host:port, BVB_DATABASE_URL=postgresql://...
(set to this script's own addresses, as after 'source var/infra.env', they count as unset)
Other overrides: BVB_PG_PORT (default 55432), BVB_KAFKA_PORT / BVB_KAFKA_CONTROLLER_PORT /
BVB_KAFKA_SSL_PORT / BVB_KAFKA_SASL_SSL_PORT (default 9092-9095), BVB_KAFKA_HEAP (default "-Xms256m -Xmx512m"),
BVB_PG_BINDIR (PostgreSQL server binaries). Then: source var/infra.env
EOF
}

# --- small helpers -----------------------------------------------------------------------------

# A pid that exists but is a zombie is dead for our purposes (kill -0 would still succeed on it).
proc_alive() {
  local pid=$1 stat
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }          # fields after "(comm) "; comm may contain spaces
  [[ ${stat%% *} != Z ]]
}

# Something accepts TCP connections there. Not proof of a working server, only that the port is taken.
tcp_open() {
  # shellcheck disable=SC2016  # $0/$1 are expanded by the inner bash, on purpose
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

rss_mb() {
  awk '/^VmRSS:/ {printf "%d MB", $2 / 1024}' "/proc/$1/status" 2>/dev/null || true
}

# "17", "21"; old Javas say "1.8", which counts as 8.
java_major() {
  local v
  v=$(java -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java\.specification\.version/ {print $2; exit}')
  [[ $v == 1.* ]] && v=${v#1.}
  v=${v%%.*}
  [[ $v =~ ^[0-9]+$ ]] && echo "$v" || echo 0
}

# Finds the PostgreSQL server binaries; prefers 15, the version the project targets.
find_pg_bindir() {
  local d candidates=("${BVB_PG_BINDIR:-}" /usr/lib/postgresql/15/bin)
  if command -v pg_config >/dev/null 2>&1; then
    candidates+=("$(pg_config --bindir 2>/dev/null || true)")
  fi
  for d in "${candidates[@]}"; do
    if [[ -n $d && -x $d/initdb && -x $d/pg_ctl && -x $d/postgres && -x $d/psql && -x $d/pg_isready ]]; then
      PG_BIN=$d
      return 0
    fi
  done
  return 1
}

# Checks up front so a missing tool gives one actionable line instead of a failure halfway through.
require_tools() {
  local want_kafka=$1 want_pg=$2 pkgs=() why=()
  if [[ $want_kafka == yes ]]; then
    if ! command -v java >/dev/null 2>&1; then
      pkgs+=(openjdk-17-jre-headless); why+=("java (Kafka 4 needs Java 17+)")
    elif (( $(java_major) < 17 )); then
      pkgs+=(openjdk-17-jre-headless); why+=("Java 17+ (found Java $(java_major))")
    fi
    if ! command -v mvn >/dev/null 2>&1; then
      pkgs+=(maven); why+=("mvn (fetches the Kafka jars)")
    fi
  fi
  if [[ $want_pg == yes ]] && ! find_pg_bindir; then
    pkgs+=(postgresql-15); why+=("PostgreSQL server binaries (initdb, pg_ctl, postgres)")
  fi
  if (( ${#pkgs[@]} )); then
    local joined
    joined=$(printf '%s; ' "${why[@]}")
    die "missing ${joined%; }. Install with: apt-get install ${pkgs[*]}"
  fi
  command -v timeout >/dev/null 2>&1 || die "missing: timeout. Install with: apt-get install coreutils"
}

# --- Kafka -------------------------------------------------------------------------------------

kafka_version_wanted() {
  sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM" | head -n 1
}

kafka_version_resolved() {
  [[ -f $KAFKA_CP_FILE ]] && tr ':' '\n' <"$KAFKA_CP_FILE" | sed -n 's:.*/kafka_2\.13-\(.*\)\.jar$:\1:p' | head -n 1
}

# True when the classpath file matches the current POM and every jar in it is still on disk.
kafka_classpath_complete() {
  local jar
  [[ -s $KAFKA_CP_FILE && -s $KAFKA_CP_SUM_FILE ]] || return 1
  [[ $(<"$KAFKA_CP_SUM_FILE") == "$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)" ]] || return 1
  while IFS= read -r -d ':' jar; do
    [[ -f $jar ]] || return 1
  done < <(printf '%s:' "$(<"$KAFKA_CP_FILE")")
}

# Resolves the broker jars into the user's Maven repository (~/.m2) and records the classpath.
# Maven is not run at all when the recorded classpath is complete, and runs offline first when it is
# not, so a second `up` never touches the network.
kafka_ensure_classpath() {
  if kafka_classpath_complete; then
    log "kafka: jars for Apache Kafka $(kafka_version_resolved) already resolved; Maven not run"
    return 0
  fi
  mkdir -p "$KAFKA_DIR"
  local tmp="$KAFKA_CP_FILE.tmp" mvn_log="$KAFKA_DIR/maven.log"
  local mvn_args=(-B -q -Dstyle.color=never -f "$KAFKA_POM" dependency:build-classpath "-Dmdep.outputFile=$tmp")
  if mvn -o "${mvn_args[@]}" >"$mvn_log" 2>&1; then
    log "kafka: classpath rebuilt from the local Maven cache (offline, nothing downloaded)"
  else
    log "kafka: fetching Apache Kafka $(kafka_version_wanted) jars with Maven (cached in ~/.m2 for next time)..."
    if ! mvn "${mvn_args[@]}" >"$mvn_log" 2>&1; then
      tail -n 30 "$mvn_log" >&2 || true
      die "Maven could not fetch org.apache.kafka:kafka_2.13:$(kafka_version_wanted) and its dependencies" \
          "(no access to Maven Central? a proxy or mirror needed in ~/.m2/settings.xml?). Full log: $mvn_log." \
          "No substitute broker is used; fix the download or set BVB_KAFKA_BOOTSTRAP to an existing Kafka."
    fi
  fi
  mv -f "$tmp" "$KAFKA_CP_FILE"
  sha256sum "$KAFKA_POM" | cut -d' ' -f1 >"$KAFKA_CP_SUM_FILE"
  kafka_classpath_complete || die "Maven reported success but jars listed in $KAFKA_CP_FILE are missing"
}

# Pid of the broker this checkout started, if it is still running. Matching the command line
# (not just the pid) keeps a recycled pid from being mistaken for, and then killed as, our broker.
kafka_our_pid() {
  local pid
  [[ -f $KAFKA_PID_FILE ]] || return 1
  pid=$(<"$KAFKA_PID_FILE")
  proc_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $KAFKA_PROPS" || return 1
  printf '%s\n' "$pid"
}

# A real API round trip, not just a TCP connect: the port opens before the broker has caught up with
# its metadata log and can serve requests.
kafka_probe() {
  local bootstrap=$1 limit=${2:-30} out="$KAFKA_DIR/probe.out"
  timeout "$limit" java "${TOOL_JVM_OPTS[@]}" -cp "$(<"$KAFKA_CP_FILE")" \
    org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$bootstrap" >"$out" 2>&1 \
    && grep -q '(id: ' "$out"
}

kafka_write_properties() {
  mkdir -p "$KAFKA_DATA" "$KAFKA_LOGS"
  cat >"$KAFKA_PROPS" <<EOF
# Written by scripts/infra/infra.sh on every 'up'; edit the script, not this file.
# Single node in KRaft combined mode: one process is both the broker and the only controller.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT,SSL://$KAFKA_HOST:$KAFKA_SSL_PORT,SASL_SSL://$KAFKA_HOST:$KAFKA_SASL_SSL_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT,SSL://$KAFKA_HOST:$KAFKA_SSL_PORT,SASL_SSL://$KAFKA_HOST:$KAFKA_SASL_SSL_PORT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$KAFKA_DATA

# TLS for the SSL and SASL_SSL listeners (certificates from kafka_ensure_tls). The SSL listener
# wants a client certificate signed by the local CA; the SASL_SSL one a SCRAM-SHA-512 login.
ssl.keystore.type=PKCS12
ssl.keystore.location=$KAFKA_TLS/broker.p12
ssl.keystore.password=$(<"$KAFKA_TLS/keystore.password")
ssl.key.password=$(<"$KAFKA_TLS/keystore.password")
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_TLS/ca.pem
listener.name.ssl.ssl.client.auth=required
listener.name.sasl_ssl.ssl.client.auth=none
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;

# One replica is all there is; the defaults (3) would leave internal topics unavailable.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Fewer internal partitions than the production default (50): faster first group/transaction use.
offsets.topic.num.partitions=10
transaction.state.log.num.partitions=10
num.partitions=3

# Topics are created explicitly (admin client / relays), as in production; a typo in a topic name
# must fail instead of silently creating a new, empty topic.
auto.create.topics.enable=false
delete.topic.enable=true
# Tests start consumer groups constantly; waiting for more members only slows them down.
group.initial.rebalance.delay.ms=0
# Event history must stay replayable: never delete by age or size.
log.retention.ms=-1
log.retention.bytes=-1
EOF
}

# Every step is checked (`|| return`): errexit does not apply inside a function whose status
# the caller tests.
kafka_make_tls() {
  local t=$1 name usage
  cd "$t" || return 1
  umask 077
  openssl rand -hex 24 >keystore.password || return 1
  openssl rand -hex 24 >scram.password || return 1
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 -sha256 \
    -subj "/CN=Bilet local Kafka CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" || return 1
  for name in broker client; do
    usage=serverAuth
    [[ $name == client ]] && usage=clientAuth
    openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" \
      -subj "/CN=bilet-local-$name" || return 1
    printf 'basicConstraints=CA:FALSE\nsubjectAltName=IP:%s,DNS:localhost\nextendedKeyUsage=%s\nauthorityKeyIdentifier=keyid,issuer\n' \
      "$KAFKA_HOST" "$usage" >"$name.ext" || return 1
    openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -sha256 \
      -extfile "$name.ext" -out "$name.pem" || return 1
  done
  openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker \
    -out broker.p12 -passout file:keystore.password || return 1
  rm -f ./*.csr ./*.ext ca.srl
}

# A local CA, a broker certificate for 127.0.0.1/localhost, a client certificate, and the SCRAM
# user's password: made once with openssl (kept across restarts, so clients' CA files stay valid).
kafka_ensure_tls() {
  local t=$KAFKA_TLS
  [[ -s $t/broker.p12 && -s $t/client.pem && -s $t/scram.password ]] && return 0
  command -v openssl >/dev/null 2>&1 || die "missing: openssl (the local broker's TLS certificates). Install with: apt-get install openssl"
  log "kafka: making a local CA and TLS certificates in $t"
  rm -rf "$t" && mkdir -p "$t" && chmod 700 "$t"
  # In a subshell: it changes directory and umask.
  if ! (kafka_make_tls "$t") >"$KAFKA_LOGS/tls.log" 2>&1; then
    cat "$KAFKA_LOGS/tls.log" >&2
    die "making the local TLS certificates in $t failed"
  fi
  rm -f "$KAFKA_SCRAM_DONE"
}

# This checkout's broker was started on the ports asked for now (BVB_KAFKA_*_PORT may differ
# between two runs of the script; the pid file does not say which).
kafka_ports_match() {
  grep -q "^listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT," "$KAFKA_PROPS" 2>/dev/null
}

# The broker runs with the secured listeners when the properties it was started from name them.
kafka_has_secured_listeners() {
  grep -q "^listeners=.*SASL_SSL://$KAFKA_HOST:$KAFKA_SASL_SSL_PORT" "$KAFKA_PROPS" 2>/dev/null
}

# The SCRAM user lives in the cluster metadata, so it outlives restarts; made once per data
# directory (the marker is removed with it). The password goes in a file, not on a command line.
kafka_ensure_scram_user() {
  [[ -f $KAFKA_SCRAM_DONE && $KAFKA_SCRAM_DONE -nt $KAFKA_TLS/scram.password && -f $KAFKA_DATA/meta.properties && $KAFKA_SCRAM_DONE -nt $KAFKA_DATA/meta.properties ]] && return 0
  local config="$KAFKA_TLS/scram-user.properties"
  (umask 077; printf 'SCRAM-SHA-512=iterations=8192,password=%s\n' "$(<"$KAFKA_TLS/scram.password")" >"$config")
  if ! java "${TOOL_JVM_OPTS[@]}" -cp "$(<"$KAFKA_CP_FILE")" org.apache.kafka.tools.ConfigCommand \
         --bootstrap-server "$KAFKA_BOOTSTRAP" --alter --entity-type users --entity-name "$KAFKA_SCRAM_USER" \
         --add-config-file "$config" >"$KAFKA_LOGS/scram-user.log" 2>&1; then
    rm -f "$config"
    cat "$KAFKA_LOGS/scram-user.log" >&2
    die "kafka: could not create the SCRAM-SHA-512 user $KAFKA_SCRAM_USER"
  fi
  rm -f "$config"
  touch "$KAFKA_SCRAM_DONE"
  log "kafka: SCRAM-SHA-512 user $KAFKA_SCRAM_USER ready on SASL_SSL $KAFKA_HOST:$KAFKA_SASL_SSL_PORT"
}

# KRaft storage is formatted once; re-formatting would wipe the metadata log (all topics).
kafka_format_once() {
  [[ -f $KAFKA_DATA/meta.properties ]] && return 0
  local cp cluster_id
  cp=$(<"$KAFKA_CP_FILE")
  if [[ ! -s $KAFKA_CLUSTER_ID_FILE ]]; then
    java "${TOOL_JVM_OPTS[@]}" -cp "$cp" kafka.tools.StorageTool random-uuid | tail -n 1 >"$KAFKA_CLUSTER_ID_FILE"
  fi
  cluster_id=$(<"$KAFKA_CLUSTER_ID_FILE")
  [[ $cluster_id =~ ^[A-Za-z0-9_-]{22}$ ]] || die "bad Kafka cluster id in $KAFKA_CLUSTER_ID_FILE: '$cluster_id'"
  log "kafka: formatting storage (cluster id $cluster_id, standalone KRaft controller)"
  # --standalone: this node alone forms the (dynamic) controller quorum, the Kafka 4 way for one node.
  if ! java "${TOOL_JVM_OPTS[@]}" -cp "$cp" kafka.tools.StorageTool format \
         --cluster-id "$cluster_id" --config "$KAFKA_PROPS" --standalone >"$KAFKA_LOGS/format.log" 2>&1; then
    cat "$KAFKA_LOGS/format.log" >&2
    die "formatting Kafka storage in $KAFKA_DATA failed"
  fi
}

# Log sizes when this start began, so a failure shows this attempt's lines, not an older run's.
declare -A KAFKA_LOG_OFFSETS=()
KAFKA_STARTUP_LOGS=(server.log controller.log kafka.out)

kafka_mark_logs() {
  local f
  for f in "${KAFKA_STARTUP_LOGS[@]}"; do
    KAFKA_LOG_OFFSETS[$f]=$(stat -c %s "$KAFKA_LOGS/$f" 2>/dev/null || echo 0)
  done
}

kafka_fail_start() {
  local pid=$1 reason=$2 f new
  for f in "${KAFKA_STARTUP_LOGS[@]}"; do
    new=$(tail -c +"$(( ${KAFKA_LOG_OFFSETS[$f]:-0} + 1 ))" "$KAFKA_LOGS/$f" 2>/dev/null | tail -n 25) || true
    [[ -n $new ]] || continue
    printf '\n--- %s (last lines of this start) ---\n%s\n' "$KAFKA_LOGS/$f" "$new" >&2
  done
  # A half-started broker would hold the ports and confuse the next `up`.
  if proc_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$KAFKA_PID_FILE"
  die "kafka: $reason"
}

kafka_start() {
  local heap cp pid="" t0=$SECONDS deadline remaining i
  # shellcheck disable=SC2206  # the heap setting is a list of JVM flags, split on purpose
  heap=($KAFKA_HEAP)
  cp=$(<"$KAFKA_CP_FILE")
  rm -f "$KAFKA_PID_FILE"
  kafka_mark_logs
  log "kafka: starting Apache Kafka $(kafka_version_resolved) on $KAFKA_BOOTSTRAP (controller $KAFKA_HOST:$KAFKA_CONTROLLER_PORT, heap ${heap[*]})"
  # 9>&- below: the broker must not inherit (and hold forever) the infra.sh lock.
  # setsid: own session, so Ctrl-C or a process-group kill aimed at the caller (a test runner, a
  # shell) does not take the broker with it. The inner bash records its own pid and then execs, so
  # the pid file holds the JVM's pid whether or not setsid had to fork.
  # shellcheck disable=SC2016  # $$, $0 and $@ belong to the inner bash
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$KAFKA_PID_FILE" \
    nohup java "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
      -Djava.awt.headless=true "-Dkafka.logs.dir=$KAFKA_LOGS" "-Dlog4j2.configurationFile=$KAFKA_LOG4J" \
      -cp "$cp" kafka.Kafka "$KAFKA_PROPS" \
    >>"$KAFKA_LOGS/kafka.out" 2>&1 </dev/null 9>&- &
  for i in $(seq 50); do
    [[ -s $KAFKA_PID_FILE ]] && pid=$(<"$KAFKA_PID_FILE") && break
    sleep 0.1
  done
  [[ -n $pid ]] || kafka_fail_start "" "the broker process did not start"

  deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  while (( SECONDS < deadline )); do
    proc_alive "$pid" || kafka_fail_start "$pid" "the broker exited during startup (logs above, all in $KAFKA_LOGS)"
    if tcp_open "$KAFKA_HOST" "$KAFKA_PORT"; then
      remaining=$((deadline - SECONDS))
      if kafka_probe "$KAFKA_BOOTSTRAP" $((remaining < 30 ? (remaining > 1 ? remaining : 1) : 30)); then
        log "kafka: ready on $KAFKA_BOOTSTRAP (pid $pid, $((SECONDS - t0)) s)"
        return 0
      fi
    fi
    sleep 1
  done
  kafka_fail_start "$pid" "the broker did not answer on $KAFKA_BOOTSTRAP within ${KAFKA_START_TIMEOUT}s"
}

kafka_up() {
  local pid
  if [[ -n $EXTERNAL_KAFKA ]]; then
    log "kafka: using the existing broker at $EXTERNAL_KAFKA (BVB_KAFKA_BOOTSTRAP); nothing started"
    return 0
  fi
  mkdir -p "$KAFKA_DATA" "$KAFKA_LOGS"
  kafka_ensure_classpath
  if pid=$(kafka_our_pid); then
    kafka_ports_match || die "kafka: the broker this checkout started (pid $pid) listens on other ports" \
      "($(sed -n 's/^listeners=//p' "$KAFKA_PROPS")): set the BVB_KAFKA_*_PORT it was started with, or stop it first"
    kafka_probe "$KAFKA_BOOTSTRAP" || die "kafka: our broker (pid $pid) runs but does not answer on $KAFKA_BOOTSTRAP; see $KAFKA_LOGS, or run 'down' then 'up'"
    log "kafka: already running (pid $pid, started by infra.sh)"
    if kafka_has_secured_listeners; then
      kafka_ensure_scram_user
    else
      # Never restarted behind the back of whoever uses it: the secured listeners come with the
      # next start.
      warn "kafka: this broker was started before infra.sh added the SSL and SASL_SSL listeners;" \
           "the secured-Kafka tests need them: 'scripts/infra/infra.sh kafka-stop && scripts/infra/infra.sh kafka-start' when nobody uses it"
    fi
    return 0
  fi
  rm -f "$KAFKA_PID_FILE"   # stale: that broker is gone
  if tcp_open "$KAFKA_HOST" "$KAFKA_PORT"; then
    # Someone else's broker (another checkout, a manual start): reuse it, never start a second one.
    kafka_probe "$KAFKA_BOOTSTRAP" \
      || die "port $KAFKA_PORT on $KAFKA_HOST is taken by something that does not answer as a Kafka broker; stop it or set BVB_KAFKA_BOOTSTRAP"
    log "kafka: a broker already answers on $KAFKA_BOOTSTRAP (not started here); reusing it, 'down' will leave it alone"
    return 0
  fi
  local port
  for port in "$KAFKA_CONTROLLER_PORT" "$KAFKA_SSL_PORT" "$KAFKA_SASL_SSL_PORT"; do
    if tcp_open "$KAFKA_HOST" "$port"; then
      die "port $KAFKA_HOST:$port (the broker's controller, SSL or SASL_SSL listener) is in use by another process;" \
          "free it, choose other BVB_KAFKA_*_PORT values, or set BVB_KAFKA_BOOTSTRAP"
    fi
  done
  kafka_ensure_tls
  kafka_write_properties
  kafka_format_once
  kafka_start
  kafka_ensure_scram_user
}

kafka_down() {
  local pid i
  if [[ -n $EXTERNAL_KAFKA ]]; then
    log "kafka: external broker $EXTERNAL_KAFKA (BVB_KAFKA_BOOTSTRAP) not touched"
    return 0
  fi
  if ! pid=$(kafka_our_pid); then
    rm -f "$KAFKA_PID_FILE"
    if tcp_open "$KAFKA_HOST" "$KAFKA_PORT"; then
      log "kafka: the broker on $KAFKA_BOOTSTRAP was not started by infra.sh; left running"
    else
      log "kafka: not running"
    fi
    return 0
  fi
  log "kafka: stopping the broker (pid $pid)..."
  kill -TERM "$pid" 2>/dev/null || true   # SIGTERM = controlled shutdown, logs flushed
  for ((i = 0; i < KAFKA_STOP_TIMEOUT * 10; i++)); do
    proc_alive "$pid" || break
    sleep 0.1
  done
  if proc_alive "$pid"; then
    warn "kafka: broker did not stop within ${KAFKA_STOP_TIMEOUT}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$KAFKA_PID_FILE"
  log "kafka: stopped"
}

kafka_status() {
  local pid version
  version=$(kafka_version_resolved || true)
  version=${version:-$(kafka_version_wanted) (jars not resolved yet)}
  if [[ -n $EXTERNAL_KAFKA ]]; then
    # No reachability claim: a TCP connect proves little (proxies accept anything) and a real probe
    # would make status slow; the services' own health checks report it.
    printf '%-9s %-9s %s\n' kafka external "$EXTERNAL_KAFKA (from BVB_KAFKA_BOOTSTRAP, not managed here)"
  elif pid=$(kafka_our_pid) && ! kafka_ports_match; then
    printf '%-9s %-9s %s\n' kafka running "pid $pid, started by infra.sh on other ports: $(sed -n 's/^listeners=//p' "$KAFKA_PROPS")"
  elif pid=$(kafka_our_pid); then
    printf '%-9s %-9s %s\n' kafka running "pid $pid  $KAFKA_BOOTSTRAP  Apache Kafka $version  RSS $(rss_mb "$pid")  (started by infra.sh)"
    if kafka_has_secured_listeners; then
      printf '%-9s %-9s %s\n' "" secured "SSL $KAFKA_HOST:$KAFKA_SSL_PORT (client certificates), SASL_SSL $KAFKA_HOST:$KAFKA_SASL_SSL_PORT (SCRAM-SHA-512 user $KAFKA_SCRAM_USER); $KAFKA_TLS"
    else
      printf '%-9s %-9s %s\n' "" plaintext "no SSL/SASL_SSL listeners: started before infra.sh had them (kafka-stop, kafka-start)"
    fi
  elif tcp_open "$KAFKA_HOST" "$KAFKA_PORT"; then
    printf '%-9s %-9s %s\n' kafka running "$KAFKA_BOOTSTRAP  (not started by infra.sh; 'down' leaves it alone)"
  else
    printf '%-9s %-9s %s\n' kafka stopped "$KAFKA_BOOTSTRAP  Apache Kafka $version"
  fi
}

# --- PostgreSQL --------------------------------------------------------------------------------

# PostgreSQL refuses to run as root, so as root every server-side command runs as the unprivileged
# system user; as anyone else it simply runs as that user. The cd keeps initdb/pg_ctl from starting
# in a directory the unprivileged user cannot read.
as_pg() {
  if (( EUID == 0 )); then
    (cd "$PG_STATE" && runuser -u "$PG_OS_USER" -- "$@")
  else
    (cd "$PG_STATE" && "$@")
  fi
}

pg_ensure_os_user() {
  (( EUID == 0 )) || return 0
  id -u "$PG_OS_USER" >/dev/null 2>&1 && return 0
  command -v useradd >/dev/null 2>&1 || die "useradd not found (apt-get install passwd); needed to run PostgreSQL as a non-root user"
  command -v runuser >/dev/null 2>&1 || die "runuser not found (apt-get install util-linux)"
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_OS_USER"
  log "postgres: created the unprivileged system user $PG_OS_USER (PostgreSQL refuses to run as root)"
}

# The server runs as $PG_OS_USER, which must be able to reach $PG_STATE through every parent
# directory. A repo cloned under /root (mode 700) is the usual trap; say exactly what blocks it.
pg_ensure_state_dir() {
  mkdir -p "$PG_STATE"
  if (( EUID == 0 )); then
    chown "$PG_OS_USER:$PG_OS_USER" "$PG_STATE"
  fi
  chmod 700 "$PG_STATE" 2>/dev/null || true   # a directory of another user is reported just below
  if ! as_pg test -w "$PG_STATE" -a -x "$PG_STATE" 2>/dev/null; then
    local d="" part blocker="" parts=()
    IFS=/ read -ra parts <<<"${PG_STATE#/}"
    for part in "${parts[@]}"; do
      d="$d/$part"
      if (( EUID == 0 )) && ! runuser -u "$PG_OS_USER" -- test -x "$d" 2>/dev/null; then blocker=$d; break; fi
    done
    if [[ -n $blocker && $blocker != "$PG_STATE" ]]; then
      die "PostgreSQL runs as '$PG_OS_USER' (it refuses root) and cannot reach $PG_STATE because $blocker" \
          "($(stat -c '%A %U' "$blocker")) is not searchable by others. Fix one of: 'chmod o+x $blocker'" \
          "(lets others pass through, not list it); clone the repo under a traversable path such as /srv or /opt;" \
          "or run PostgreSQL yourself and set BVB_DATABASE_URL."
    fi
    die "$PG_STATE is not writable by $(if (( EUID == 0 )); then echo "$PG_OS_USER"; else id -un; fi)" \
        "(created by another user, e.g. an earlier run as root?); remove it or fix its owner"
  fi
  as_pg mkdir -p "$PG_RUN" "$PG_LOG_DIR"
}

# Pid of the postmaster serving *our* data directory, if it runs. The postmaster's working directory
# is its data directory, which identifies it more reliably than a possibly stale postmaster.pid.
pg_our_pid() {
  local pid
  [[ -r $PG_DATA/postmaster.pid ]] || return 1
  pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null) || return 1
  proc_alive "$pid" || return 1
  [[ $(readlink -f "/proc/$pid/cwd" 2>/dev/null) == "$(readlink -f "$PG_DATA")" ]] || return 1
  printf '%s\n' "$pid"
}

# pg_isready: 0 accepting, 1 rejecting (still starting), 2 no answer. Anything but 2 means a server.
pg_answers() {
  local rc=0
  "$PG_BIN/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT" -t 3 || rc=$?
  (( rc != 2 ))
}

pg_psql() {
  PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
    -h "$PG_HOST" -p "$PG_PORT" -U "$PG_SUPERUSER" -d postgres "$@"
}

pg_initdb_once() {
  [[ -f $PG_DATA/PG_VERSION ]] && return 0
  local locale=C pwfile="$PG_STATE/.initdb-password"
  # C.UTF-8: byte-order collation like C (stable, fast) but Unicode-aware upper()/lower()/ILIKE,
  # which matters for Cyrillic names. Debian's glibc always has it; fall back to plain C otherwise.
  if locale -a 2>/dev/null | grep -qix 'c\.utf-\?8'; then locale=C.UTF-8; fi
  log "postgres: initdb in $PG_DATA (superuser $PG_SUPERUSER, UTF8, locale $locale)"
  (umask 077; printf '%s\n' "$PG_PASSWORD" >"$pwfile")
  if (( EUID == 0 )); then chown "$PG_OS_USER:$PG_OS_USER" "$pwfile"; fi
  if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_SUPERUSER" --pwfile="$pwfile" \
         --encoding=UTF8 --locale="$locale" --auth=scram-sha-256 >"$PG_LOG_DIR/initdb.log" 2>&1; then
    rm -f "$pwfile"
    tail -n 30 "$PG_LOG_DIR/initdb.log" >&2
    die "initdb failed (full log: $PG_LOG_DIR/initdb.log)"
  fi
  rm -f "$pwfile"
  # Settings that depend on this checkout live in a separate file, rewritten on every up.
  printf "\ninclude_if_exists = 'bvb-infra.conf'\n" | as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null
}

pg_write_conf() {
  local sockdirs=$PG_RUN escaped
  # Unix socket paths are limited to 107 bytes; in a deep checkout, go TCP-only instead of failing.
  if (( ${#PG_RUN} + 20 > 107 )); then
    warn "postgres: $PG_RUN is too long for a unix socket; TCP only"
    sockdirs=""
  fi
  escaped=${sockdirs//"'"/"''"}
  as_pg tee "$PG_DATA/bvb-infra.conf" >/dev/null <<EOF
# Written by scripts/infra/infra.sh on every 'up'; edit the script, not this file.
listen_addresses = '$PG_HOST'
port = $PG_PORT
unix_socket_directories = '$escaped'
unix_socket_permissions = 0700
max_connections = 200
shared_buffers = 128MB
password_encryption = 'scram-sha-256'
fsync = on
timezone = 'UTC'
log_timezone = 'UTC'
log_line_prefix = '%m [%p] %q%u@%d '
# Each transaction's commit time, for pg_xact_commit_timestamp(): the recommender bench reads when
# the portfolio's row became visible from it (ADR 0104). Takes effect when the server (re)starts.
track_commit_timestamp = on
EOF
}

pg_check_version() {
  local data_major bin_major
  data_major=$(<"$PG_DATA/PG_VERSION")
  bin_major=$("$PG_BIN/postgres" --version | sed -n 's/.* \([0-9][0-9]*\)\..*/\1/p')
  [[ $data_major == "$bin_major" ]] \
    || die "$PG_DATA was created by PostgreSQL $data_major but $PG_BIN is PostgreSQL $bin_major; set BVB_PG_BINDIR or remove $PG_STATE"
}

pg_start() {
  pg_ensure_os_user
  pg_ensure_state_dir
  pg_initdb_once
  pg_check_version
  pg_write_conf
  log "postgres: starting PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on $PG_HOST:$PG_PORT"
  # 9>&-: the postmaster must not inherit (and hold forever) the infra.sh lock.
  if ! as_pg "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG_DIR/postgres.log" -w -t "$PG_START_TIMEOUT" -s 9>&-; then
    tail -n 25 "$PG_LOG_DIR/postgres.log" >&2 || true
    die "PostgreSQL did not start (full log: $PG_LOG_DIR/postgres.log)"
  fi
}

pg_ensure_databases() {
  local existing db created=()
  existing=$(pg_psql -c "SELECT datname FROM pg_database") \
    || die "a PostgreSQL server answers on $PG_HOST:$PG_PORT but not to $PG_SUPERUSER/$PG_PASSWORD;" \
           "stop it, choose another BVB_PG_PORT, or point BVB_DATABASE_URL at it"
  for db in "${PG_DATABASES[@]}"; do
    grep -qx "$db" <<<"$existing" && continue
    pg_psql -c "CREATE DATABASE \"$db\"" || die "could not create database $db"
    created+=("$db")
  done
  if (( ${#created[@]} )); then
    log "postgres: created databases ${created[*]}"
  else
    log "postgres: databases present: ${PG_DATABASES[*]}"
  fi
}

pg_up() {
  local pid i
  if [[ -n $EXTERNAL_DB ]]; then
    log "postgres: using the existing server at $(mask_url "$EXTERNAL_DB") (BVB_DATABASE_URL); nothing started"
    return 0
  fi
  if pid=$(pg_our_pid); then
    log "postgres: already running (pid $pid, started by infra.sh)"
  elif pg_answers; then
    log "postgres: a server already answers on $PG_HOST:$PG_PORT (not started here); reusing it, 'down' will leave it alone"
  else
    pg_start
  fi
  for ((i = 0; i < 30; i++)); do
    "$PG_BIN/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT" -t 2 && break
    sleep 1
  done
  "$PG_BIN/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT" -t 2 || die "PostgreSQL on $PG_HOST:$PG_PORT does not accept connections"
  pg_ensure_databases
}

pg_down() {
  local pid
  if [[ -n $EXTERNAL_DB ]]; then
    log "postgres: external server (BVB_DATABASE_URL) not touched"
    return 0
  fi
  if ! pid=$(pg_our_pid); then
    if [[ -n $PG_BIN ]] && pg_answers; then
      log "postgres: the server on $PG_HOST:$PG_PORT was not started by infra.sh; left running"
    else
      log "postgres: not running"
    fi
    return 0
  fi
  log "postgres: stopping (pid $pid)..."
  # fast = roll back open transactions and stop; a test suite's idle connections must not block it.
  as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t 60 -s || die "PostgreSQL did not stop; see $PG_LOG_DIR/postgres.log"
  log "postgres: stopped"
}

pg_status() {
  local pid version=""
  if [[ -n $EXTERNAL_DB ]]; then
    printf '%-9s %-9s %s\n' postgres external "$(mask_url "$EXTERNAL_DB") (from BVB_DATABASE_URL, not managed here)"
    return 0
  fi
  if [[ -z $PG_BIN ]] && ! find_pg_bindir; then
    printf '%-9s %-9s %s\n' postgres missing "no PostgreSQL server binaries (apt-get install postgresql-15)"
    return 0
  fi
  version=$(pg_psql -c "SHOW server_version" 2>/dev/null | awk '{print $1}') || true
  version=${version:-$("$PG_BIN/postgres" --version | awk '{print $3}')}
  if pid=$(pg_our_pid); then
    printf '%-9s %-9s %s\n' postgres running "pid $pid  $PG_HOST:$PG_PORT  PostgreSQL $version  data $PG_DATA  (started by infra.sh)"
  elif pg_answers; then
    printf '%-9s %-9s %s\n' postgres running "$PG_HOST:$PG_PORT  PostgreSQL $version  (not started by infra.sh; 'down' leaves it alone)"
  else
    printf '%-9s %-9s %s\n' postgres stopped "$PG_HOST:$PG_PORT  PostgreSQL $version"
  fi
}

# --- commands ----------------------------------------------------------------------------------

prepare_var() {
  mkdir -p "$VAR"
  # Belt and braces: var/ is machine-local state even if the repo's .gitignore misses it.
  [[ -f $VAR/.gitignore ]] || printf '# Local state of scripts/infra/infra.sh and friends; never committed.\n*\n' >"$VAR/.gitignore"
}

# up/down from two shells at once (parallel test runs) must not race on the same pid files.
take_lock() {
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>"$VAR/.infra.lock"
  flock -w 300 9 || die "another infra.sh up/down is still running (lock $VAR/.infra.lock)"
}

write_env_file() {
  local kafka=${EXTERNAL_KAFKA:-$KAFKA_BOOTSTRAP}
  local db=${EXTERNAL_DB:-$PG_LOCAL_URL}
  {
    printf '# Written by scripts/infra/infra.sh up. Use: source var/infra.env\n'
    printf 'export BVB_KAFKA_BOOTSTRAP=%q\n' "$kafka"
    printf 'export BVB_DATABASE_URL=%q\n' "$db"
    if [[ -z $EXTERNAL_DB ]] && (( PG_INSTANCES > 1 )); then
      local i urls=$PG_LOCAL_URL
      for ((i = 1; i < PG_INSTANCES; i++)); do
        urls+=" postgresql://$PG_SUPERUSER:$PG_PASSWORD@$PG_HOST:$((PG_PORT + i))/bvb"
      done
      printf 'export BVB_TEST_DATABASE_URLS=%q\n' "$urls"
    fi
    # Only for the secured-Kafka tests (none of these is a setting a service reads): where the
    # local broker's SSL and SASL_SSL listeners are, its CA, a client certificate, a SCRAM login.
    if [[ -z $EXTERNAL_KAFKA ]] && kafka_our_pid >/dev/null && kafka_has_secured_listeners; then
      printf 'export BVB_LOCAL_KAFKA_SSL_BOOTSTRAP=%q\n' "$KAFKA_HOST:$KAFKA_SSL_PORT"
      printf 'export BVB_LOCAL_KAFKA_SASL_SSL_BOOTSTRAP=%q\n' "$KAFKA_HOST:$KAFKA_SASL_SSL_PORT"
      printf 'export BVB_LOCAL_KAFKA_TLS_DIR=%q\n' "$KAFKA_TLS"
      printf 'export BVB_LOCAL_KAFKA_SCRAM_USERNAME=%q\n' "$KAFKA_SCRAM_USER"
    fi
  } >"$ENV_FILE.tmp"
  mv -f "$ENV_FILE.tmp" "$ENV_FILE"
}

# Checked before anything starts: a bad value should not leave PostgreSQL up and Kafka down.
check_settings() {
  local flag
  [[ $PG_PORT =~ ^[0-9]+$ ]] || die "BVB_PG_PORT must be a port number, got '$PG_PORT'"
  [[ $PG_INSTANCES =~ ^[1-9][0-9]*$ ]] || die "BVB_PG_INSTANCES must be a count of servers, got '$PG_INSTANCES'"
  local port
  for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_SSL_PORT" "$KAFKA_SASL_SSL_PORT"; do
    [[ $port =~ ^[0-9]+$ ]] || die "BVB_KAFKA_*_PORT must be port numbers, got '$port'"
  done
  for flag in $KAFKA_HEAP; do
    [[ $flag == -X* ]] || die "BVB_KAFKA_HEAP must be JVM heap flags such as \"-Xms256m -Xmx1g\", got: '$KAFKA_HEAP'"
  done
}

cmd_up() {
  local t0=$SECONDS want_kafka=yes want_pg=yes
  [[ -n $EXTERNAL_KAFKA ]] && want_kafka=no
  [[ -n $EXTERNAL_DB ]] && want_pg=no
  check_settings
  require_tools "$want_kafka" "$want_pg"
  prepare_var
  take_lock
  pg_up
  pg_extra_instances up
  kafka_up
  write_env_file
  log "up in $((SECONDS - t0)) s; environment in $ENV_FILE (source it)"
}

cmd_down() {
  prepare_var
  take_lock
  if [[ -z $EXTERNAL_DB ]]; then find_pg_bindir || true; fi
  kafka_down
  pg_down
  pg_extra_instances down
}

# The extra servers of parallel test workers: `up` starts instances 1..BVB_PG_INSTANCES-1 on the
# ports after the first; `down` stops every extra instance this checkout has state for. Each runs
# as this script again (under the lock this run holds), as if it were the only server.
pg_extra_instances() {
  local action=$1 i dir
  [[ -z $EXTERNAL_DB && $PG_INSTANCE -eq 0 ]] || return 0
  if [[ $action == up ]]; then
    for ((i = 1; i < PG_INSTANCES; i++)); do
      env -u BVB_DATABASE_URL BVB_PG_INSTANCE="$i" BVB_PG_PORT="$((PG_PORT + i))" \
        "$SCRIPT_DIR/infra.sh" pg-instance-up
    done
    return 0
  fi
  for dir in "$PG_STATE"-w*; do
    [[ -d $dir ]] || continue
    i=${dir##*-w}
    [[ $i =~ ^[0-9]+$ ]] || continue
    env -u BVB_DATABASE_URL BVB_PG_INSTANCE="$i" "$SCRIPT_DIR/infra.sh" pg-instance-down
  done
}

# Exit status of kafka-stop when the broker is not ours to stop: callers (the broker-restart test)
# tell "not allowed" from "failed".
NOT_OURS=3

cmd_kafka_stop() {
  prepare_var
  take_lock
  if [[ -n $EXTERNAL_KAFKA ]]; then
    printf 'infra: kafka: external broker %s (BVB_KAFKA_BOOTSTRAP) is not ours to stop\n' "$EXTERNAL_KAFKA" >&2
    exit "$NOT_OURS"
  fi
  if ! kafka_our_pid >/dev/null; then
    printf 'infra: kafka: no broker started by infra.sh from this checkout is running; nothing stopped\n' >&2
    exit "$NOT_OURS"
  fi
  kafka_down
}

cmd_kafka_start() {
  [[ -n $EXTERNAL_KAFKA ]] || require_tools yes no
  check_settings
  prepare_var
  take_lock
  kafka_up
}

cmd_status() {
  find_pg_bindir || true
  kafka_status
  pg_status
  [[ -f $ENV_FILE ]] && printf '%-9s %-9s %s\n' env "" "$ENV_FILE"
  return 0
}

case ${1:-} in
  up)     cmd_up ;;
  # Internal: one extra PostgreSQL instance, run by `up`/`down` under their lock.
  pg-instance-up)   check_settings; require_tools no yes; prepare_var; pg_up ;;
  pg-instance-down) prepare_var; find_pg_bindir || true; pg_down ;;
  down)   cmd_down ;;
  kafka-stop)  cmd_kafka_stop ;;
  kafka-start) cmd_kafka_start ;;
  status) cmd_status ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
