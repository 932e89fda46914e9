#!/usr/bin/env bash
# Herald on a cluster, on loopback: a 3-node NATS cluster (JetStream, the
# streams with 3 replicas), a 3-server ZooKeeper ensemble (Debian's
# zookeeper package), two dispatchers and three agents with a sample watch
# on the znode /demo/config, with identities and TLS on: every process
# connects with its own credentials (herald auth) over TLS. It builds the
# binaries (and nats-server, at the version in go.mod, when none is on
# PATH), shows one znode change reaching the three agents, prints how to
# try it, and stops everything it started on Ctrl-C. ONESHOT=1 stops right
# after the first event instead.
#
# The servers run from the files next to this script: nats-1.conf ..
# nats-3.conf, zoo-1.cfg .. zoo-3.cfg and dispatcher.yaml, on fixed ports
# (NATS 4222-4224, routes 6222-6224, monitoring 8222-8224, ZooKeeper
# 2181-2183, 2888-2890, 3888-3890, HTTP 7070-7071). What they need lives in
# a temp dir $work, removed at the end: the stores, the auth directory
# $work/auth (herald auth init, add-agent, add-viewer, add-publisher), the
# CA and server certificate $work/tls (openssl), and each node's
# $work/nats-N/herald-auth.conf (herald auth server-config). The copies of
# the files there differ only in store_dir, the /etc/nats/tls paths and
# dataDir.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
export PATH=$PATH:/usr/local/go/bin

zkjar=/usr/share/java/zookeeper.jar
[ -f "$zkjar" ] || { echo "ZooKeeper is not installed: apt-get install -y zookeeper" >&2; exit 1; }
command -v java >/dev/null || { echo "java is not on PATH: apt-get install -y zookeeper brings one" >&2; exit 1; }
command -v openssl >/dev/null || { echo "openssl is not on PATH: apt-get install -y openssl" >&2; exit 1; }
zkcp=$zkjar
[ -f /usr/share/java/slf4j-simple.jar ] && zkcp=$zkcp:/usr/share/java/slf4j-simple.jar

# Every port the files name must be free: fail now rather than half-start.
for port in 4222 4223 4224 6222 6223 6224 8222 8223 8224 2181 2182 2183 \
  2888 2889 2890 3888 3889 3890 7070 7071; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port on 127.0.0.1 is in use; stop what listens there first" >&2
    exit 1
  fi
done

work=$(mktemp -d -t herald-cluster-XXXXXX)
agents=() dispatchers=() zks=() nats=()
stop() {
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "$@"; do wait "$p" 2>/dev/null || true; done
}
cleanup() {
  trap - EXIT INT TERM
  echo "==> stopping the agents, the dispatchers, ZooKeeper and NATS"
  # The clients first, so that none of them logs the servers going away.
  stop "${agents[@]}"
  stop "${dispatchers[@]}"
  stop "${zks[@]}"
  stop "${nats[@]}"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# fail prints a log and ends the script (cleanup runs).
fail() { echo "$1" >&2; [ -n "${2:-}" ] && tail -n 30 "$2" >&2; exit 1; }
# waitfor polls a command for up to $1 seconds.
waitfor() {
  local secs=$1; shift
  for _ in $(seq 1 $((secs * 10))); do "$@" && return 0; sleep 0.1; done
  return 1
}
# Each server in its own session: Ctrl-C reaches only this script, which
# stops them in order.
spawn() { local log=$1; shift; setsid "$@" >"$log" 2>&1 & }

echo "==> building dispatcher, agent and herald into $work/bin"
go build -buildvcs=auto -o "$work/bin/" ./cmd/dispatcher ./cmd/agent ./cmd/herald
if natsd=$(command -v nats-server); then
  echo "    using $natsd ($("$natsd" --version))"
else
  # The nats-server Herald is built and tested with, from the module cache.
  echo "==> building nats-server $(go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2) into $work/bin"
  go build -o "$work/bin/nats-server" github.com/nats-io/nats-server/v2
  natsd=$work/bin/nats-server
fi
bin=$work/bin

# The identities: the trust root and the dispatchers' identity (init), one
# per agent, a viewer for herald status and tail, a publisher for herald
# publish. On a real cluster this runs once, on an admin's machine.
auth=$work/auth
echo "==> herald auth: identities in $auth (init, add-agent agent-1..3, add-viewer ops, add-publisher demo)"
"$bin/herald" auth init --dir "$auth" >/dev/null
for i in 1 2 3; do "$bin/herald" auth add-agent "agent-$i" --dir "$auth" >/dev/null; done
"$bin/herald" auth add-viewer ops --dir "$auth" >/dev/null
"$bin/herald" auth add-publisher demo --types 'demo.*' --dir "$auth" >/dev/null
"$bin/herald" auth ls --dir "$auth" | sed 's/^/    /'

# TLS: a CA and one certificate for every node (SAN 127.0.0.1, localhost;
# serverAuth for clients, clientAuth too for the mutual TLS of routes).
# On a real cluster: your CA, one certificate per node naming its host.
tls=$work/tls
echo "==> openssl: a CA and the nodes' certificate (127.0.0.1, localhost) in $tls"
mkdir -m 700 "$tls"
openssl_quiet() { out=$(openssl "$@" 2>&1) || fail "openssl $1: $out"; }
openssl_quiet req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj "/CN=Herald cluster demo CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" -keyout "$tls/ca-key.pem" -out "$tls/ca.pem"
openssl_quiet req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=nats" -keyout "$tls/server-key.pem" -out "$tls/server.csr"
printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "extendedKeyUsage=serverAuth,clientAuth" \
  "keyUsage=critical,digitalSignature,keyEncipherment" > "$tls/server.ext"
openssl_quiet x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca-key.pem" \
  -CAcreateserial -CAserial "$tls/ca.srl" -days 30 -extfile "$tls/server.ext" -out "$tls/server.pem"
chmod 600 "$tls"/*-key.pem
ca=$tls/ca.pem
# What the CLI commands below pass: the viewer's identity and the CA.
viewer=(--nats-creds "$auth/viewers/ops.creds" --nats-tls-ca "$ca")

echo "==> starting the NATS cluster: nats-1..3 on 127.0.0.1:4222-4224 (deploy/cluster/nats-N.conf), TLS and identities on"
for i in 1 2 3; do
  # The file as it is, but for a private store (nats-server refuses
  # --store_dir next to a store_dir in the file) and the certificates in
  # $tls; the herald-auth.conf it includes is server-config's output, with
  # this node's own resolver directory.
  mkdir -p "$work/nats-$i"
  sed -e "s|^\( *store_dir:\).*|\1 \"$work/nats-$i/store\"|" -e "s|/etc/nats/tls/|$tls/|" \
    "$here/nats-$i.conf" > "$work/nats-$i/nats-$i.conf"
  "$bin/herald" auth server-config --dir "$auth" --resolver-dir "$work/nats-$i/jwt" > "$work/nats-$i/herald-auth.conf"
  spawn "$work/nats-$i.log" "$natsd" -c "$work/nats-$i/nats-$i.conf"
  nats+=($!)
done
# /healthz is ok once the node's JetStream is current in the cluster.
js_ready() { curl -sf "http://127.0.0.1:$1/healthz" >/dev/null; }
for i in 1 2 3; do
  waitfor 60 js_ready "$((8221 + i))" || fail "nats-$i: JetStream not ready" "$work/nats-$i.log"
done
urls=nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224
export HERALD_NATS=$urls

echo "==> starting the ZooKeeper ensemble: zk-1..3 on 127.0.0.1:2181-2183 (deploy/cluster/zoo-N.cfg)"
for i in 1 2 3; do
  mkdir -p "$work/zk-$i"
  echo "$i" > "$work/zk-$i/myid"
  sed "s|^dataDir=.*|dataDir=$work/zk-$i|" "$here/zoo-$i.cfg" > "$work/zk-$i/zoo.cfg"
  spawn "$work/zk-$i.log" java -Xmx256m -XX:+UseSerialGC -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -cp "$zkcp" org.apache.zookeeper.server.quorum.QuorumPeerMain "$work/zk-$i/zoo.cfg"
  zks+=($!)
done
# zkmode prints what server $1's srvr says: leader, follower or nothing.
zkmode() {
  local out
  out=$( (exec 3<>"/dev/tcp/127.0.0.1/218$1" && printf srvr >&3 && cat <&3) 2>/dev/null) || return 0
  sed -n 's/^Mode: //p' <<<"$out"
}
zk_serving() { case $(zkmode "$1") in leader | follower) return 0 ;; esac; return 1; }
for i in 1 2 3; do
  waitfor 90 zk_serving "$i" || fail "zk-$i: not serving" "$work/zk-$i.log"
done
for i in 1 2 3; do echo "    zk-$i: $(zkmode "$i")"; done
zkservers=127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183
# zkcli runs one command of Debian's ZooKeeper CLI, without its noise.
zkcli() {
  /usr/share/zookeeper/bin/zkCli.sh -server "$zkservers" "$@" 2>&1 |
    grep -v -e SLF4J -e '^$' -e 'WATCHER::' -e 'WatchedEvent' -e '^Connecting to' || true
}
out=$(zkcli create /demo)
grep -q "Created /demo" <<<"$out" || fail "zkCli.sh create /demo: $out"

echo "==> starting two dispatchers (deploy/cluster/dispatcher.yaml: streams.replicas 3), HTTP on 127.0.0.1:7070 and :7071, both as identity dispatcher"
for i in 1 2; do
  spawn "$work/dispatcher-$i.log" "$bin/dispatcher" --config "$here/dispatcher.yaml" \
    --auth "$auth" --nats-creds "$auth/dispatcher.creds" --nats-tls-ca "$ca" \
    --http "127.0.0.1:707$((i - 1))" --data "$work/dispatcher-$i" --ready-file "$work/dispatcher-$i.ready"
  dispatchers+=($!)
done
for i in 1 2; do
  waitfor 60 test -s "$work/dispatcher-$i.ready" || fail "dispatcher $i did not start" "$work/dispatcher-$i.log"
done

mkdir -p "$work/watches.d"
cat > "$work/watches.d/demo.yaml" <<'YAML'
watches:
  - name: demo-config
    # The dispatchers watch /demo/config because this watch asks for it.
    on: zk:/demo/config
    exec: ["/bin/sh", "-c", "echo \"[$HERALD_HOST] $HERALD_EVENT_TYPE $HERALD_KEY: $(cat)\""]
    run_mode: queue
    timeout: 10s
  - name: demo-hello
    # What the publisher demo may publish (herald auth add-publisher demo
    # --types 'demo.*').
    on: event:demo.hello
    exec: ["/bin/sh", "-c", "echo \"[$HERALD_HOST] $HERALD_EVENT_TYPE $HERALD_KEY: $(cat)\""]
    timeout: 10s
YAML
echo "==> starting three agents, agent-1..3, each with its own identity ($auth/agents/agent-N.creds), with $work/watches.d/demo.yaml (on: zk:/demo/config, event:demo.hello)"
for i in 1 2 3; do
  spawn "$work/agent-$i.log" "$bin/agent" --nats "$urls" --name "agent-$i" --nats-creds "$auth/agents/agent-$i.creds" \
    --nats-tls-ca "$ca" --watches "$work/watches.d" --state "$work/agent-$i"
  agents+=($!)
done
for i in 1 2 3; do
  waitfor 60 grep -q "agent consuming events" "$work/agent-$i.log" || fail "agent-$i did not start" "$work/agent-$i.log"
done
watching() { grep -q '"zk: watching".*/demo/config\|/demo/config.*"zk: watching"' "$work/dispatcher-$1.log"; }
for i in 1 2; do
  waitfor 60 watching "$i" || fail "dispatcher $i does not watch /demo/config" "$work/dispatcher-$i.log"
done

"$bin/herald" tail "${viewer[@]}" --outcomes --count 3 > "$work/outcomes.txt" 2>"$work/tail.err" &
tailpid=$!
waitfor 30 grep -q listening "$work/tail.err" || fail "herald tail did not start" "$work/tail.err"
echo "==> zkCli.sh create /demo/config 'hello, cluster'"
out=$(zkcli create /demo/config "hello, cluster")
sed 's/^/    /' <<<"$out"
grep -q "Created /demo/config" <<<"$out" || fail "zkCli.sh create /demo/config failed"
if ! waitfor 60 test "$(wc -l < "$work/outcomes.txt")" -ge 3; then
  kill "$tailpid" 2>/dev/null || true
  fail "no outcome from every agent within 60s" "$work/agent-1.log"
fi
wait "$tailpid"
echo "==> outcomes (herald tail --outcomes):"
sed 's/^/    /' "$work/outcomes.txt"
echo "==> herald status (as the viewer ops):"
"$bin/herald" status "${viewer[@]}" | sed 's/^/    /'
echo "==> what one agent's action printed (herald status --json):"
"$bin/herald" status "${viewer[@]}" --json | grep -o '"stdout": *"[^"]*"' | head -1 | sed 's/^/    /' || true

if [ "${ONESHOT:-}" = 1 ]; then exit 0; fi
leader=1
for i in 1 2 3; do [ "$(zkmode "$i")" = leader ] && leader=$i; done
# The node leading HERALD_EVENTS, from the monitoring port's /jsz.
events_leader=$(curl -sf 'http://127.0.0.1:8222/jsz?streams=true' | grep -A8 '"name": "HERALD_EVENTS"' |
  sed -n 's/.*"leader": "nats-\([0-9]\)".*/\1/p' | head -1 || true)
events_leader=${events_leader:-1}
cat <<EOF
==> Herald runs on the cluster, with identities ($auth) and TLS (CA $ca). Try it from another shell:
    export HERALD_NATS=$urls PATH=$bin:\$PATH
    herald status --nats-creds $auth/viewers/ops.creds --nats-tls-ca $ca
                              # the three agents, their watches and last outcomes
    herald tail --outcomes --nats-creds $auth/viewers/ops.creds --nats-tls-ca $ca
                              # outcomes as they come
    /usr/share/zookeeper/bin/zkCli.sh -server $zkservers set /demo/config v2
                              # a znode change: every agent runs demo-config once
    herald publish --nats-creds $auth/publishers/demo.creds --nats-tls-ca $ca --type demo.hello --key /demo/hello --data hi
                              # the publisher demo: every agent runs demo-hello
    herald publish --nats-creds $auth/publishers/demo.creds --nats-tls-ca $ca --type zk.changed --key /demo/config --data forged
                              # refused: a publisher may not publish the sources' types
    herald status --nats-tls-ca $ca    # no credentials: nats: Authorization Violation
    herald status             # no CA: the server's certificate is not trusted
    herald auth revoke agent-3 --dir $auth --nats $urls --nats-creds $auth/sys.creds --nats-tls-ca $ca
                              # pushed to the cluster: agent-3 is disconnected
                              # from its node and refused on every node from then on
  and kill a node, then change /demo/config again: it still reaches every agent.
    kill ${nats[$((events_leader - 1))]}   # nats-$events_leader, which leads HERALD_EVENTS: another node takes over,
                  # the streams keep 2 of 3 replicas, its clients move to another node
    kill ${zks[$((leader - 1))]}   # zk-$leader, the ZooKeeper leader: the other two elect a new one
    kill ${dispatchers[0]}   # dispatcher 1: dispatcher 2 stores every change alone
  Monitoring: http://127.0.0.1:8222/jsz?streams=true (NATS), /metrics on http://127.0.0.1:7070 and :7071.
  Logs: $work/*.log
  Ctrl-C stops everything this script started and removes $work.
EOF
while :; do sleep 1; done
