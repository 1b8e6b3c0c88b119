#!/usr/bin/env bash
# Runs the benchmarks built in BUILD and writes OUT (Markdown): the machine, the commit, the
# command, then each benchmark's tables as it prints them (also shown while running). OUT is
# replaced only when every benchmark finished.
#   scripts/bench.sh BUILD OUT [--quick]
set -euo pipefail
build=$1 out=$2 quick=${3:-}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

closure_args=(--seconds 2 --rounds 3)
ingest_args=(--agents 8 --repetitions 2000 --rounds 3)
footprint_args=(--idle-seconds 10 --tasks 20000 --rate 1000)
scale_args=(--agents 1000,10000 --real-agents 32 --steady-seconds 10)
mesh_args=(--agents 1000 --mesh-agents 1000 --real-agents 0 --steady-seconds 3 --replicas 1,3)
if [[ $quick == --quick ]]; then
  closure_args=(--seconds 0.3 --rounds 1)
  ingest_args=(--agents 4 --repetitions 200 --rounds 1)
  footprint_args=(--idle-seconds 2 --tasks 2000 --rate 1000)
  scale_args=(--agents 1000 --real-agents 8 --steady-seconds 3)
  mesh_args=(--agents 200 --mesh-agents 200 --real-agents 0 --steady-seconds 1 --replicas 1,3)
fi

{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` (\`scripts/bench.sh\`) on $(date -u '+%Y-%m-%d %H:%M UTC'), commit"
  echo "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)'). Reproduce with \`make bench\`."
  echo
  echo "Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores,"
  echo "$(free -g | awk '/^Mem:/ {print $2}') GiB, Linux $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME"),"
  echo "$(g++ --version | head -1), Release build. Loopback only; the machine is shared, so"
  echo "compare the ratios (both sides measured in the same run, alternating) more than"
  echo "the absolute figures."
  echo
  echo "## 1. Closure throughput"
  echo
  echo "\`$build/bench/closure_bench ${closure_args[*]}\`"
  echo
  "$build/bench/closure_bench" "${closure_args[@]}"
  echo "## 2. Controller ingest"
  echo
  echo "\`$build/bench/ingest_bench ${ingest_args[*]}\`"
  echo
  "$build/bench/ingest_bench" "${ingest_args[@]}"
  echo "## 3. Agent footprint"
  echo
  echo "\`$build/bench/footprint_bench ${footprint_args[*]}\`"
  echo
  "$build/bench/footprint_bench" "${footprint_args[@]}"
  echo "## 4. Scale"
  echo
  echo "\`$build/bench/scale_bench ${scale_args[*]}\`"
  echo
  "$build/bench/scale_bench" "${scale_args[@]}"
  echo "## 5. Run engine: a full mesh over 1,000 simulated agents, on SQLite and on 1 and 3 replicas"
  echo
  echo "\`$build/bench/scale_bench ${mesh_args[*]}\`"
  echo
  "$build/bench/scale_bench" "${mesh_args[@]}"
  if [[ -f docs/benchmark-notes.md ]]; then cat docs/benchmark-notes.md; fi
} | tee "$tmp"
mkdir -p "$(dirname "$out")"
cp "$tmp" "$out"
echo "bench: wrote $out" >&2
