#!/usr/bin/env bash
# make demo: two agents on loopback. Agent B serves on 127.0.0.2; agent A probes it from
# 127.0.0.1 with every scenario and prints what each end observed against what Linux
# predicts. Exits with the probe's code (0: everything as expected).
set -uo pipefail
build=${1:-build}
agent="$build/agent/rstmesh-agent"
[ -x "$agent" ] || { echo "demo: $agent is missing; run 'make build' first" >&2; exit 2; }

log=$(mktemp)
"$agent" serve --listen 127.0.0.2 --port 0 --closed-port 0 -o json >"$log" 2>&1 &
pid=$!
cleanup() { kill -INT "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$log"; }
trap cleanup EXIT

line=""
for _ in $(seq 100); do
  line=$(grep -m1 '^serving' "$log") && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$line" ]; then
  echo "demo: agent B did not start:" >&2
  cat "$log" >&2
  exit 1
fi
data=$(sed -E 's/.*data=([^ ]+).*/\1/' <<<"$line")
closed_port=$(sed -E 's/.*closed=[^ ]*:([0-9]+).*/\1/' <<<"$line")
echo "== agent B (responder): $line"
echo "== agent A (initiator) probes $data from 127.0.0.1, every scenario, 3 times each"
echo
"$agent" probe --peer "$data" --closed-port "$closed_port" --source 127.0.0.1 \
  --scenario all --count 3 --idle-ms 500
rc=$?
kill -INT "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
echo
echo "== agent B's side of the same tests (one line per test it answered):"
grep -c '"role":"ROLE_RESPONDER"' "$log" | sed 's/^/   responder observations: /'
grep -c '"matched":true' "$log" | sed 's/^/   as predicted:           /'
grep -m1 '^stopped' "$log" | sed 's/^/   /'
exit $rc
