#!/usr/bin/env bash
# Herald quick start: builds the three binaries, starts a dispatcher with
# embedded NATS and an agent with a sample watch, publishes one event with
# the CLI and shows the outcome. Everything lives in a temp dir and stops
# when the script ends (KEEP=1 leaves Herald running and prints how to stop it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

work=$(mktemp -d -t herald-quickstart-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
if [ "${KEEP:-}" != 1 ]; then trap cleanup EXIT; fi

echo "==> building dispatcher, agent and herald into $work/bin"
# -buildvcs=auto: stamp the revision (herald version, herald status) even
# where GOFLAGS turns it off; outside a git checkout it stamps nothing.
go build -buildvcs=auto -o "$work/bin/" ./cmd/dispatcher ./cmd/agent ./cmd/herald

echo "==> starting the dispatcher (embedded NATS with JetStream, data in $work/data)"
"$work/bin/dispatcher" --data "$work/data" --nats-listen 127.0.0.1:0 --http 127.0.0.1:0 \
  --ready-file "$work/ready.json" --log-format console 2>"$work/dispatcher.log" &
pids+=($!)
for _ in $(seq 1 200); do [ -s "$work/ready.json" ] && break; sleep 0.05; done
[ -s "$work/ready.json" ] || { cat "$work/dispatcher.log"; echo "dispatcher did not start" >&2; exit 1; }
export HERALD_NATS=$(sed -n 's/.*"nats_url": *"\([^"]*\)".*/\1/p' "$work/ready.json")
http=$(sed -n 's/.*"http_addr": *"\([^"]*\)".*/\1/p' "$work/ready.json")
echo "    NATS at $HERALD_NATS, HTTP at http://$http"

mkdir -p "$work/watches.d"
cat > "$work/watches.d/hello.yaml" <<'YAML'
watches:
  - name: hello
    on: event:demo.hello
    key: /demo/*
    # A list is argv: no shell. The event data arrives on stdin and the
    # event's attributes in HERALD_* variables.
    exec: ["/bin/sh", "-c", "echo \"[$HERALD_HOST] $HERALD_EVENT_TYPE $HERALD_KEY: $(cat)\""]
    run_mode: queue
    timeout: 10s
YAML
echo "==> starting an agent named quickstart-agent with $work/watches.d/hello.yaml"
"$work/bin/agent" --nats "$HERALD_NATS" --name quickstart-agent --watches "$work/watches.d" --state "$work/state" \
  --log-format console 2>"$work/agent.log" &
pids+=($!)
for _ in $(seq 1 200); do grep -q "agent consuming events" "$work/agent.log" 2>/dev/null && break; sleep 0.05; done
grep -q "agent consuming events" "$work/agent.log" || { cat "$work/agent.log"; echo "agent did not start" >&2; exit 1; }

"$work/bin/herald" tail --outcomes --count 1 > "$work/outcome.txt" 2>"$work/tail.err" &
tailpid=$!
for _ in $(seq 1 200); do grep -q listening "$work/tail.err" 2>/dev/null && break; sleep 0.05; done
echo "==> herald publish --type demo.hello --key /demo/greeting --data 'hello, fleet'"
id=$("$work/bin/herald" publish --type demo.hello --key /demo/greeting --data 'hello, fleet')
echo "    stored event $id"
wait "$tailpid"
echo "==> outcome (herald tail --outcomes):"
sed 's/^/    /' "$work/outcome.txt"
echo "==> herald status:"
"$work/bin/herald" status | sed 's/^/    /'
echo "==> the same outcome as JSON, with the action's stdout (herald tail --outcomes --json would print it live):"
"$work/bin/herald" status --json | grep -o '"stdout": *"[^"]*"' | head -1 | sed 's/^/    /' || true
echo "==> the web console: http://$http/ui/ (the fleet; this event at http://$http/ui/events/$id)"
if [ "${KEEP:-}" = 1 ]; then
  echo "==> Herald keeps running (KEEP=1): export HERALD_NATS=$HERALD_NATS; stop with: kill ${pids[*]}"
fi
