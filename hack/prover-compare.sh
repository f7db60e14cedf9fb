#!/usr/bin/env bash
# The prover under a registration storm, side by side: the reference poet server
# (spacemeshos/poet v0.10.12, built from the test-only module hack/compat) and ours, same
# settings, each executing one round while 64 poet_load clients register with the next
# one. The load generator is pinned to LOAD_CPU (taskset), as a node-facing front end or a
# noisy neighbour would be. Leaves/s come from each server's poet_round_leaves_total{id="0"}:
# idle (IDLE seconds with no traffic), then loaded (from the moment poet_load has prepared
# its requests and starts sending to the moment it is done). "kept" is loaded/idle; ours
# must keep at least MIN_KEPT in every run. Two more columns split "kept": the share of
# wall time the prover thread (round.tid) spent on a CPU (/proc/<tid>/schedstat), which is
# the scheduling the server controls, and the leaves per CPU-second it kept, which falls
# when the hardware under the prover's CPU is shared (SMT siblings, a VM's vCPUs).
#
# Our server places its own threads (the prover on one CPU, the rest elsewhere); the
# reference does not. Run it with nothing else busy (see /tmp/bench.lock in the helper
# rules of this repository).
#
# Environment: CLIENTS (64), COUNT (20000), RUNS (2), IDLE (20), LOAD_CPU (the CPU that has
# served the most device interrupts: the one our poet leaves to its service threads),
# MIN_KEPT (0.97), OURS_ARGS (extra flags for our server, e.g. "--prover-cpu 1"),
# OURS_ENV (environment for our server, e.g. "GODEBUG=asyncpreemptoff=1"), ONLY (ours or
# reference: run one server).
set -euo pipefail

CLIENTS="${CLIENTS:-64}"
COUNT="${COUNT:-20000}"
RUNS="${RUNS:-2}"
IDLE="${IDLE:-20}"
# The load generator shares a CPU with the servers' service threads, not with our prover:
# ours puts its prover on the CPU that has served the fewest device interrupts.
LOAD_CPU="${LOAD_CPU:-$(awk 'NR == 1 { n = NF; next } $1 ~ /^[0-9]+:$/ { for (i = 2; i <= n + 1; i++) if ($i ~ /^[0-9]+$/) s[i - 2] += $i }
  END { best = 0; for (c = 1; c < n; c++) if (s[c] >= s[best]) best = c; print best }' /proc/interrupts)}"
MIN_KEPT="${MIN_KEPT:-0.97}"
OURS_ARGS="${OURS_ARGS:-}"
OURS_ENV="${OURS_ENV:-}"
ONLY="${ONLY:-}"
PHASE=8 # seconds from start to round 0's start
# shellcheck source=hack/compare-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compare-lib.sh"

build_reference
build_ours

work_dir prover-compare
echo "== the load generator runs on CPU $LOAD_CPU"

now() { date +%s.%N; }

# leaves prints round 0's leaves from the server's /metrics (0 before it executes).
leaves() {
  curl -fs "$METRICS/metrics" | awk '/^poet_round_leaves_total\{id="0"\}/ { printf "%d\n", $2; found=1 } END { if (!found) print 0 }'
}

# serve NAME BIN [ARGS...]: start a server whose round 0 starts PHASE seconds from now and
# executes for the rest of the hour; sets PID, URL and METRICS.
serve() {
  local name=$1 bin=$2 rest mport dir
  shift 2
  rest="127.0.0.1:$(port)"
  mport="$(port)"
  dir="$WORK/$name-$RANDOM"
  mkdir -p "$dir"
  env $ENV "$bin" --poetdir "$dir" --genesis-time "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --epoch-duration 1h --phase-shift "${PHASE}s" --cycle-gap 10m \
    --restlisten "$rest" --rpclisten "127.0.0.1:$(port)" --config-rpclisten "127.0.0.1:$(port)" \
    --metrics-port "$mport" "$@" >"$dir/log" 2>&1 &
  PID=$!
  DIR="$dir"
  URL="http://$rest"
  METRICS="http://127.0.0.1:$mport"
  LOG="$dir/log"
  wait_up "$name" "$URL" "$dir/log"
}

rate() { awk -v l0="$1" -v t0="$2" -v l1="$3" -v t1="$4" 'BEGIN { printf "%d\n", (l1-l0)/(t1-t0) }'; }

# cputime prints the prover thread's time on a CPU so far, in ns (/proc/<tid>/schedstat),
# from the round.tid both servers write; 0 when unknown.
cputime() {
  local tid
  tid="$(cat "$DIR/data/round.tid" 2>/dev/null || true)"
  awk '{ print $1; found=1 } END { if (!found) print 0 }' "/proc/$tid/schedstat" 2>/dev/null || echo 0
}
# share prints CPU time over wall time; per prints leaves per CPU-second.
share() { awk -v c0="$1" -v t0="$2" -v c1="$3" -v t1="$4" 'BEGIN { printf "%.3f\n", (c1-c0)/1e9/(t1-t0) }'; }
per() { awk -v l0="$1" -v c0="$2" -v l1="$3" -v c1="$4" 'BEGIN { if (c1 > c0) printf "%d\n", (l1-l0)/((c1-c0)/1e9); else print 0 }'; }

declare -a ROWS
fail=0
for r in $(seq "$RUNS"); do
  for name in reference ours; do
    [[ -n "$ONLY" && "$ONLY" != "$name" ]] && continue
    if [[ $name == reference ]]; then
      ENV=""
      serve "$name" "$REF_BIN"
    else
      ENV="$OURS_ENV"
      # shellcheck disable=SC2086 # OURS_ARGS is a list of flags
      serve "$name" "$BIN/poet" $OURS_ARGS
    fi
    # One member, so that round 0 has a statement on both servers.
    "$BIN/poet_load" --url "$URL" -c 1 -n 1 >/dev/null
    for _ in $(seq 300); do
      [[ "$(leaves)" -gt 0 ]] && break
      sleep 0.1
    done
    [[ "$(leaves)" -gt 0 ]] || { echo "$name: round 0 does not execute:"; cat "$LOG"; exit 1; }
    sleep 3
    l0=$(leaves); c0=$(cputime); t0=$(now)
    sleep "$IDLE"
    l1=$(leaves); c1=$(cputime); t1=$(now)
    idle=$(rate "$l0" "$t0" "$l1" "$t1")
    idleShare=$(share "$c0" "$t0" "$c1" "$t1"); idlePer=$(per "$l0" "$c0" "$l1" "$c1")
    ls=""; ts=""; cs=""; regs=""
    while IFS= read -r line; do
      case "$line" in
        prepared*) ls=$(leaves); cs=$(cputime); ts=$(now) ;;
        registrations/s:*) regs="${line#registrations/s: }" ;;
      esac
    done < <(taskset -c "$LOAD_CPU" "$BIN/poet_load" --url "$URL" -c "$CLIENTS" -n "$COUNT")
    le=$(leaves); ce=$(cputime); te=$(now)
    loaded=$(rate "$ls" "$ts" "$le" "$te")
    stormShare=$(share "$cs" "$ts" "$ce" "$te"); stormPer=$(per "$ls" "$cs" "$le" "$ce")
    secs=$(awk -v a="$ts" -v b="$te" 'BEGIN { printf "%.1f", b-a }')
    kept=$(awk -v a="$loaded" -v b="$idle" 'BEGIN { printf "%.3f", a/b }')
    perKept=$(awk -v a="$stormPer" -v b="$idlePer" 'BEGIN { if (b > 0) printf "%.3f", a/b; else print "-" }')
    placement="$(grep -o 'proverCPU=[-0-9]* idleCPUs=[^ ]* otherCPUs=[^ ]*' "$LOG" | head -1 || true)"
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
    echo "run $r $name: idle $idle leaves/s, storm $loaded leaves/s over ${secs}s at $regs registrations/s, kept $kept;" \
      "prover thread on a CPU $idleShare of the time idle, $stormShare in the storm; leaves per CPU-second $idlePer idle, $stormPer in the storm ($perKept)" \
      "${placement:+($placement)}"
    ROWS+=("| $r | $name | $idle | $loaded | $regs | $kept | $idleShare / $stormShare | $perKept |")
    if [[ $name == ours ]] && awk -v k="$kept" -v m="$MIN_KEPT" 'BEGIN { exit !(k < m) }'; then
      fail=1
    fi
  done
done
echo
echo "| run | server | idle leaves/s | leaves/s in the storm | registrations/s | kept | prover on a CPU, idle / storm | leaves per CPU-second kept |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
if [[ $fail == 1 ]]; then
  echo "FAIL: ours kept less than $MIN_KEPT of its idle rate in some run"
  exit 1
fi
echo "ours kept at least $MIN_KEPT of its idle rate in all $RUNS runs"
