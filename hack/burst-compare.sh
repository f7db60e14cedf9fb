#!/usr/bin/env bash
# The round-end proof burst, side by side: the reference poet server (spacemeshos/poet
# v0.10.12, built from the test-only module hack/compat) and ours, each serving one
# finished round's proof stored by hack/compat/seedproof (a real PoSW proof over random
# members, in each server's own database), fetched by CLIENTS concurrent poet_load
# clients that behave like nodes: each waits the node's jitter (0.02-0.04 % of
# CYCLE_GAP), fetches with Go's default pooled transport (compression on) and reads the
# whole body; every body is checked (one fully verified, the others by digest). Loopback.
#
# Ours is run twice: with every client decoding its body as the transport does
# (poet_load --decode each: the generator's inflating then costs more CPU than the
# server), and with the bodies compared as they came over the wire and one decoded
# (--decode once: the generator measures the server). The reference never compresses,
# so the two are the same for it and it runs once. The CPU the server and the generator
# spent during each burst is printed beside the times: on one 2-vCPU machine they share.
#
# Ours serves MEMBERS members; the reference cannot answer a proof past its gateway's
# 8 MiB limit (about 246k members), so it serves REF_MEMBERS.
#
# Environment: CLIENTS (100), MEMBERS (1000000), REF_MEMBERS (200000),
# CYCLE_GAP (12h: the mainnet jitter, 8.64-17.28 s; 0 sends every request at once),
# WINDOW (17: the seconds every body must be in by, from the first request),
# MAX_RATIO (0.75: the most bytes on the wire per client, as a fraction of the JSON).
set -euo pipefail

CLIENTS="${CLIENTS:-100}"
MEMBERS="${MEMBERS:-1000000}"
REF_MEMBERS="${REF_MEMBERS:-200000}"
CYCLE_GAP="${CYCLE_GAP:-12h}"
WINDOW="${WINDOW:-17}"
MAX_RATIO="${MAX_RATIO:-0.75}"
# shellcheck source=hack/compare-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compare-lib.sh"
SEED_BIN="$ROOT/bin/compat/seedproof"

build_reference
build_ours
echo "== building seedproof"
(cd "$ROOT/hack/compat" && CGO_ENABLED=0 go build -trimpath -o "$SEED_BIN" ./seedproof)

work_dir burst-compare

# burst NAME BIN MEMBERS DECODE: seed a proof of MEMBERS members as round 0, start the
# server with its key, run the burst, stop the server; prints poet_load's report.
burst() {
  local name=$1 bin=$2 members=$3 decode=$4 dir rest out
  dir="$WORK/$name-$decode"
  mkdir -p "$dir"
  eval "$("$SEED_BIN" -members "$members" -round 0 "$([[ $name == reference ]] && echo -reference || echo -ours)" "$dir/db")"
  rest="127.0.0.1:$(port)"
  POET_PRIVATE_KEY="$POET_PRIVATE_KEY" "$bin" --poetdir "$dir" --genesis-time "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --epoch-duration 2h --phase-shift 1h --cycle-gap 10m \
    --restlisten "$rest" --rpclisten "127.0.0.1:$(port)" --config-rpclisten "127.0.0.1:$(port)" \
    >"$dir/log" 2>&1 &
  PID=$!
  wait_up "$name" "http://$rest" "$dir/log"
  local cpu0 tck
  tck="$(getconf CLK_TCK)"
  cpu0="$(awk '{print $14+$15}' "/proc/$PID/stat")"
  out="$(/usr/bin/time -f 'generator CPU: %U s user, %S s system' "$BIN/poet_load" --url "http://$rest" --proof-burst 0 \
    -c "$CLIENTS" --cycle-gap "$CYCLE_GAP" --service-pubkey "$SERVICE_PUBKEY" --decode "$decode" --timeout 5m 2>&1)" || true
  awk -v a="$cpu0" -v t="$tck" '{printf "server CPU during the burst: %.2f s\n", ($14+$15-a)/t}' "/proc/$PID/stat"
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  echo "$out"
}

RUNS=(reference:each ours:each ours:once)
declare -A WALL P50 P99 WIRE RATIO OK JSON SCPU GCPU
for run in "${RUNS[@]}"; do
  server=${run%%:*}; decode=${run#*:}; name="$server"; [[ $server == ours ]] && name="ours/$decode"
  bin="$BIN/poet"; members="$MEMBERS"
  [[ $server == reference ]] && { bin="$REF_BIN"; members="$REF_MEMBERS"; }
  echo "== $name: $members members, $CLIENTS clients, cycle gap $CYCLE_GAP, decode $decode"
  out="$(burst "$server" "$bin" "$members" "$decode")"
  echo "$out"
  WALL[$name]="$(sed -n 's/^burst wall (first request to last body): //p' <<<"$out")"
  P50[$name]="$(sed -n 's/^latency p50 \([^ ]*\) .*/\1/p' <<<"$out")"
  P99[$name]="$(sed -n 's/^latency .* p99 \([^ ]*\) .*/\1/p' <<<"$out")"
  WIRE[$name]="$(sed -n 's/^bytes on the wire per client: \([0-9]*\) .*/\1/p' <<<"$out")"
  RATIO[$name]="$(sed -n 's/^bytes on the wire per client: [0-9]* (\([0-9.]*\) of the JSON)/\1/p' <<<"$out")"
  OK[$name]="$(sed -n 's/^proof: .* verified once; \([0-9]*\) of .*/\1/p' <<<"$out")"
  JSON[$name]="$(sed -n 's/^proof: [0-9]* members, [0-9]* leaves, \([0-9]*\) bytes of JSON.*/\1/p' <<<"$out")"
  SCPU[$name]="$(sed -n 's/^server CPU during the burst: \([0-9.]*\) s/\1/p' <<<"$out")"
  GCPU[$name]="$(sed -n 's/^generator CPU: \([0-9.]*\) s user, \([0-9.]*\) s system/\1 \2/p' <<<"$out" | awk '{printf "%.2f", $1+$2}')"
done

echo
printf '%-10s %10s %12s %9s %9s %9s %14s %14s %7s %11s %11s\n' server members "bodies ok" wall p50 p99 "JSON bytes" "wire/client" ratio "server CPU" "client CPU"
for name in reference ours/each ours/once; do
  members="$MEMBERS"; [[ $name == reference ]] && members="$REF_MEMBERS"
  printf '%-10s %10s %12s %9s %9s %9s %14s %14s %7s %11s %11s\n' "$name" "$members" "${OK[$name]:-0}/$CLIENTS" "${WALL[$name]:--}" \
    "${P50[$name]:--}" "${P99[$name]:--}" "${JSON[$name]:--}" "${WIRE[$name]:--}" "${RATIO[$name]:--}" "${SCPU[$name]:--} s" "${GCPU[$name]:--} s"
done

fail=0
for name in ours/each ours/once; do
  bad=""
  [[ "${OK[$name]:-0}" == "$CLIENTS" ]] || bad+=" ${OK[$name]:-0} of $CLIENTS bodies checked;"
  [[ -n "${WALL[$name]:-}" ]] && python3 -c "import sys; sys.exit(0 if ${WALL[$name]% s} <= $WINDOW else 1)" ||
    bad+=" wall ${WALL[$name]:-?} over $WINDOW s;"
  python3 -c "import sys; sys.exit(0 if ${RATIO[$name]:-9} <= $MAX_RATIO else 1)" ||
    bad+=" ${RATIO[$name]:-?} of the JSON on the wire per client, over $MAX_RATIO;"
  if [[ -n "$bad" ]]; then
    echo "FAIL $name:$bad"; fail=1
  else
    echo "PASS $name: all $CLIENTS bodies checked within $WINDOW s, ${RATIO[$name]} of the JSON per client"
  fi
done
exit "$fail"
