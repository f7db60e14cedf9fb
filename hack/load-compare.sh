#!/usr/bin/env bash
# Registration load, side by side: the reference poet server (spacemeshos/poet v0.10.12,
# built from the test-only module hack/compat) and ours, same settings, same load from
# poet_load (fresh identities, signatures and PoW prepared before the clock starts), both
# fsync-durable, on loopback. Also times GET /v1/proofs of a large round when
# PROOF_MEMBERS is set (ours only: the reference cannot serve one past 8 MiB).
#
# Environment: CLIENTS (64), COUNT (5000), ROUNDS (2), POW_DIFFICULTY (0).
set -euo pipefail

CLIENTS="${CLIENTS:-64}"
COUNT="${COUNT:-5000}"
ROUNDS="${ROUNDS:-2}"
POW="${POW_DIFFICULTY:-0}"
# shellcheck source=hack/compare-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compare-lib.sh"

build_reference
build_ours

work_dir load-compare


# serve NAME BIN: start a server with one long open round; sets PID and URL.
serve() {
  local name=$1 bin=$2 rest dir
  rest="127.0.0.1:$(port)"
  dir="$WORK/$name-$RANDOM"
  mkdir -p "$dir"
  "$bin" --poetdir "$dir" --genesis-time "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --epoch-duration 2h --phase-shift 1h --cycle-gap 10m --pow-difficulty "$POW" \
    --restlisten "$rest" --rpclisten "127.0.0.1:$(port)" --config-rpclisten "127.0.0.1:$(port)" \
    >"$dir/log" 2>&1 &
  PID=$!
  URL="http://$rest"
  wait_up "$name" "$URL" "$dir/log"
}

declare -a REF OURS
for r in $(seq "$ROUNDS"); do
  for name in reference ours; do
    bin="$BIN/poet"; [[ $name == reference ]] && bin="$REF_BIN"
    serve "$name" "$bin"
    out="$("$BIN/poet_load" --url "$URL" -c "$CLIENTS" -n "$COUNT")"
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
    rate="$(sed -n 's/^registrations\/s: //p' <<<"$out")"
    lat="$(grep '^latency' <<<"$out")"
    echo "round $r $name: $rate registrations/s, $lat"
    if [[ $name == reference ]]; then REF+=("$rate"); else OURS+=("$rate"); fi
  done
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ref=$(median "${REF[@]}"); ours=$(median "${OURS[@]}")
echo
echo "medians at $CLIENTS clients: reference $ref registrations/s, ours $ours registrations/s"
awk -v a="$ours" -v b="$ref" 'BEGIN { printf "ratio ours/reference = %.1f\n", a/b }'
