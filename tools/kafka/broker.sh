#!/usr/bin/env bash
# A single-node Apache Kafka 3.9 broker (KRaft, broker and controller in one JVM) on 127.0.0.1,
# for tests and development. Needs java (17+); Maven only once, to fetch the jars (see pom.xml).
#
#   tools/kafka/broker.sh start [DIR]  start a broker whose files live in DIR (a new temp dir by
#                                      default) and print its bootstrap address, e.g. 127.0.0.1:40123.
#                                      Starting a DIR used before restarts that same broker: same data,
#                                      same ports.
#   tools/kafka/broker.sh stop DIR     stop it: SIGTERM, then SIGKILL if it has not exited in 30 s.
#   tools/kafka/broker.sh kill DIR     crash it: SIGKILL at once.
#
# DIR holds server.properties, data/, broker.log and broker.pid.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
jars="$here/jars"
ready_timeout_s="${KAFKA_READY_TIMEOUT_S:-90}"
log4j=("-Dlog4j.configuration=file:$here/log4j.properties")

die() {
  echo "broker.sh: $*" >&2
  exit 1
}

# True while the process lives. A zombie (dead, not yet reaped by its parent) counts as gone.
alive() {
  local state
  state="$(ps -o stat= -p "$1" 2>/dev/null)" && [[ $state != Z* ]]
}

# Fetches the jars once. The lock keeps two concurrent starts from running Maven twice.
ensure_jars() {
  [[ -f $jars/.complete ]] && return
  command -v mvn >/dev/null || die "Maven (mvn) is needed once, to fetch the Kafka jars into $jars"
  mkdir -p "$jars"
  (
    flock 9
    if [[ ! -f $jars/.complete ]]; then
      echo "broker.sh: fetching the Kafka jars with Maven (once; ~46 MB) ..." >&2
      mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies >&2
      touch "$jars/.complete"
    fi
  ) 9>"$jars/.lock"
}

# Prints two free TCP ports on 127.0.0.1 (the broker's and the controller's).
free_ports() {
  node -e '
    const net = require("node:net");
    const servers = [net.createServer(), net.createServer()];
    let left = servers.length;
    for (const s of servers) s.listen(0, "127.0.0.1", () => {
      if (--left > 0) return;
      console.log(servers.map((x) => x.address().port).join(" "));
      for (const x of servers) x.close();
    });'
}

write_properties() {
  local dir="$1" port="$2" cport="$3"
  cat >"$dir/server.properties" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$dir/data
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
# One partition for the consumer-offsets and transaction-state topics instead of 50 each: the first
# consumer group and the first idempotent producer wait less, and recovery after a crash is quicker.
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
# After a crash (SIGKILL) the restarted broker may register only once its old session has expired:
# 4 s instead of 9 s brings it back sooner.
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=1000
PROPERTIES
}

start() {
  local dir="${1:-}"
  command -v java >/dev/null || die "java (17 or newer) is needed to run the Kafka broker"
  ensure_jars
  [[ -n $dir ]] || dir="$(mktemp -d "${TMPDIR:-/tmp}/trackpipe-kafka.XXXXXX")"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local log="$dir/broker.log" port cport cluster_id offset pid
  if [[ -f $dir/broker.pid ]] && alive "$(<"$dir/broker.pid")"; then
    die "a broker already runs from $dir (pid $(<"$dir/broker.pid"))"
  fi

  if [[ ! -f $dir/server.properties ]]; then
    read -r port cport <<<"$(free_ports)"
    write_properties "$dir" "$port" "$cport"
    cluster_id="$(java -cp "$jars/*" kafka.tools.StorageTool random-uuid 2>>"$log")"
    java "${log4j[@]}" -cp "$jars/*" kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" >>"$log" 2>&1 ||
      die "formatting the log directory failed; the end of $log:
$(tail -n 30 "$log")"
  fi
  port="$(sed -n 's|^advertised.listeners=PLAINTEXT://127.0.0.1:||p' "$dir/server.properties")"

  offset="$(($(stat -c %s "$log" 2>/dev/null || echo 0) + 1))"
  java -Xmx256m -XX:+UseSerialGC "${log4j[@]}" \
    -cp "$jars/*" kafka.Kafka "$dir/server.properties" </dev/null >>"$log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/broker.pid"

  # Ready when this run has logged "Kafka Server started" (the listener then accepts requests).
  local deadline=$((SECONDS + ready_timeout_s))
  until tail -c "+$offset" "$log" | grep -q 'Kafka Server started'; do
    if ! alive "$pid"; then
      rm -f "$dir/broker.pid"
      die "the broker exited during startup; the end of $log:
$(tail -n 30 "$log")"
    fi
    if ((SECONDS >= deadline)); then
      kill -KILL "$pid"
      rm -f "$dir/broker.pid"
      die "the broker (pid $pid, now killed) was not ready after ${ready_timeout_s} s; the end of $log:
$(tail -n 30 "$log")"
    fi
    sleep 0.2
  done
  echo "broker.sh: broker pid $pid ready; files in $dir (stop: tools/kafka/broker.sh stop $dir)" >&2
  echo "127.0.0.1:$port"
}

stop() {
  local dir="$1" signal="$2" pid
  [[ -f $dir/broker.pid ]] || die "no broker runs from $dir (no broker.pid)"
  pid="$(<"$dir/broker.pid")"
  if alive "$pid"; then
    kill "-$signal" "$pid"
    for ((i = 0; i < 300; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      echo "broker.sh: the broker (pid $pid) is still running 30 s after SIG$signal; sending SIGKILL" >&2
      kill -KILL "$pid"
      while alive "$pid"; do sleep 0.1; done
    fi
  fi
  rm -f "$dir/broker.pid"
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) stop "${2:?usage: broker.sh stop DIR}" TERM ;;
  kill) stop "${2:?usage: broker.sh kill DIR}" KILL ;;
  *) die "usage: broker.sh start [DIR] | stop DIR | kill DIR" ;;
esac
