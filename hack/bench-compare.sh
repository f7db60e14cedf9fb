#!/usr/bin/env bash
# Side-by-side benchmark of our poet_bench against the reference spacemeshos/poet
# v0.10.12 cmd/bench (built from the test-only module hack/compat), on the same host,
# alternating, plus the bare chained-compression kernel ceiling.
#
# Usage: hack/bench-compare.sh            (from anywhere in the repository)
# Environment:
#   ROUNDS=3           rounds (each: reference run, our run, our kernel run)
#   DURATION=20s       duration of each reference / poet_bench run (Go duration)
#   KERNEL_DURATION=5s duration of each poet_bench --kernel run
#   PIN_CPU=1          CPU to pin every run to with taskset (if taskset exists);
#                      PIN_CPU= (empty) disables pinning
#   SKIP_BUILD=1       use the existing poet_bench instead of rebuilding it
#   OUR_BIN=path       poet_bench binary to build / use (default bin/poet_bench)
#   POET_BENCH_ARGS    extra arguments for our (non-kernel) poet_bench runs
#
# Output: per-round figures, medians, ratios, and a summary block to paste into a README.
set -euo pipefail

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-20s}"
KERNEL_DURATION="${KERNEL_DURATION:-5s}"
PIN_CPU="${PIN_CPU-1}"
REF_VERSION="v0.10.12"
LABEL_HASHES=400 # SHA-256 compressions per leaf (the chained part of a label)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GO="${GO:-go}"
REF_BIN="$ROOT/bin/compat/ref-bench-$REF_VERSION"
OUR_BIN="${OUR_BIN:-$ROOT/bin/poet_bench}"

die() { echo "bench-compare: $*" >&2; exit 1; }

[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$ROUNDS'"

# --- build -------------------------------------------------------------------------
# Build one at a time (never two heavy builds at once).
if [[ ! -x "$REF_BIN" ]]; then
  echo "== building reference bench $REF_VERSION -> ${REF_BIN#"$ROOT"/}"
  mkdir -p "$(dirname "$REF_BIN")"
  (cd "$ROOT/hack/compat" &&
    CGO_ENABLED=0 "$GO" build -mod=readonly -trimpath -o "$REF_BIN" github.com/spacemeshos/poet/cmd/bench)
else
  echo "== reference bench: ${REF_BIN#"$ROOT"/} (cached; delete it to rebuild)"
fi
if [[ "${SKIP_BUILD:-}" == "1" && -x "$OUR_BIN" ]]; then
  echo "== poet_bench: ${OUR_BIN#"$ROOT"/} (SKIP_BUILD=1)"
else
  echo "== building poet_bench -> ${OUR_BIN#"$ROOT"/}"
  mkdir -p "$(dirname "$OUR_BIN")"
  (cd "$ROOT" && CGO_ENABLED=0 "$GO" build -trimpath -o "$OUR_BIN" ./poet/cmd/poet_bench)
fi

# --- helpers -----------------------------------------------------------------------
PIN=()
if [[ -n "$PIN_CPU" ]] && command -v taskset >/dev/null 2>&1; then
  PIN=(taskset -c "$PIN_CPU")
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-compare.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# If the reference ever hits a protobuf registration conflict at start-up (it does not
# import protobuf in cmd/bench today), this turns the panic into a warning.
export GOLANG_PROTOBUF_REGISTRATION_CONFLICT="${GOLANG_PROTOBUF_REGISTRATION_CONFLICT:-warn}"

# run LOG CMD...: runs a benchmark in a scratch directory, output to LOG; shows it on failure.
run() {
  local log="$1"; shift
  local dir; dir="$(mktemp -d "$WORK/run.XXXXXX")"
  if ! (cd "$dir" && "${PIN[@]}" "$@") >"$log" 2>&1; then
    echo "bench-compare: command failed: $*" >&2
    cat "$log" >&2
    exit 1
  fi
  rm -rf "$dir"
}

# Go duration string (e.g. 20.001234s, 1m0.5s, 850ms) -> seconds.
dur_seconds() {
  awk -v d="$1" 'BEGIN {
    s = 0; n = ""
    while (length(d) > 0) {
      c = substr(d, 1, 1)
      if (c ~ /[0-9.]/) { n = n c; d = substr(d, 2); continue }
      if (substr(d, 1, 2) == "ms") { s += n / 1e3; d = substr(d, 3) }
      else if (substr(d, 1, 2) == "us" || substr(d, 1, 3) == "µs") { s += n / 1e6; d = substr(d, (substr(d,1,2)=="us") ? 3 : 4) }
      else if (substr(d, 1, 2) == "ns") { s += n / 1e9; d = substr(d, 3) }
      else if (c == "h") { s += n * 3600; d = substr(d, 2) }
      else if (c == "m") { s += n * 60; d = substr(d, 2) }
      else if (c == "s") { s += n; d = substr(d, 2) }
      else { exit 1 }
      n = ""
    }
    printf "%.9f\n", s
  }'
}

# The reference prints (v0.10.12 cmd/bench):
#   Proof with 205890 leafs generated in 5.006634977s (41178/s)
# Its "(X/s)" divides by the whole seconds only; we recompute N / D.
parse_ref() {
  local line n d secs
  line="$(grep -E '^Proof with [0-9]+ leafs generated in ' "$1" | tail -n1)" ||
    die "no 'Proof with N leafs generated in D' line in reference output: $(cat "$1")"
  n="$(sed -E 's/^Proof with ([0-9]+) leafs generated in ([^ ]+) .*/\1/' <<<"$line")"
  d="$(sed -E 's/^Proof with ([0-9]+) leafs generated in ([^ ]+) .*/\2/' <<<"$line")"
  secs="$(dur_seconds "$d")" || die "cannot parse duration '$d'"
  awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f %s %s\n", n / s, n, s }'
}

# Our poet_bench: last non-empty line "<key>: N".
parse_last() {
  local key="$1" file="$2" last
  last="$(awk 'NF { l = $0 } END { print l }' "$file")"
  [[ "$last" =~ ^$key:\ *([0-9]+(\.[0-9]+)?)$ ]] ||
    die "last line of poet_bench output is not '$key: N': '$last'"
  printf '%.0f\n' "${BASH_REMATCH[1]}"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.0f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
thousands() { awk -v x="$1" 'BEGIN { s = sprintf("%.0f", x); r = ""; while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) } print s r }'; }

# --- rounds ------------------------------------------------------------------------
cpu_model="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)"
sha_ni="no"; grep -qw sha_ni /proc/cpuinfo 2>/dev/null && sha_ni="yes"
host_line="${cpu_model:-unknown CPU}, $(nproc 2>/dev/null || echo '?') CPUs, SHA-NI: $sha_ni, $(uname -sr), $("$GO" env GOVERSION)"
pin_line="not pinned"; ((${#PIN[@]})) && pin_line="pinned with taskset -c $PIN_CPU"

echo "== $ROUNDS rounds: reference -d $DURATION, poet_bench -d $DURATION, poet_bench --kernel -d $KERNEL_DURATION ($pin_line)"
echo "== host: $host_line"

REF=() OURS=() KERN=() ROWS=()
for ((r = 1; r <= ROUNDS; r++)); do
  ref_log="$WORK/ref.$r.log" our_log="$WORK/ours.$r.log" kern_log="$WORK/kernel.$r.log"
  # Alternate the order so neither binary always runs first (thermal / turbo drift).
  if ((r % 2)); then
    run "$ref_log" "$REF_BIN" -d "$DURATION"
    run "$our_log" "$OUR_BIN" -d "$DURATION" ${POET_BENCH_ARGS:-}
  else
    run "$our_log" "$OUR_BIN" -d "$DURATION" ${POET_BENCH_ARGS:-}
    run "$ref_log" "$REF_BIN" -d "$DURATION"
  fi
  run "$kern_log" "$OUR_BIN" --kernel -d "$KERNEL_DURATION"

  ref_out="$(parse_ref "$ref_log")"
  read -r ref_lps ref_n ref_s <<<"$ref_out"
  our_lps="$(parse_last 'leaves/s' "$our_log")"
  comp="$(parse_last 'compressions/s' "$kern_log")"
  ceil="$(awk -v c="$comp" -v h="$LABEL_HASHES" 'BEGIN { printf "%.0f", c / h }')"
  REF+=("$ref_lps") OURS+=("$our_lps") KERN+=("$comp")
  row="| $r | $(thousands "$ref_lps") | $(thousands "$our_lps") | $(thousands "$comp") | $(thousands "$ceil") | $(ratio "$our_lps" "$ref_lps") | $(ratio "$our_lps" "$ceil") |"
  ROWS+=("$row")
  printf 'round %d: reference %s leaves/s (%s leaves in %.3fs) | ours %s leaves/s | kernel %s compressions/s (ceiling %s leaves/s)\n' \
    "$r" "$ref_lps" "$ref_n" "$ref_s" "$our_lps" "$comp" "$ceil"
done

m_ref="$(median "${REF[@]}")"
m_ours="$(median "${OURS[@]}")"
m_comp="$(median "${KERN[@]}")"
m_ceil="$(awk -v c="$m_comp" -v h="$LABEL_HASHES" 'BEGIN { printf "%.0f", c / h }')"
r_ref="$(ratio "$m_ours" "$m_ref")"
r_ceil="$(ratio "$m_ours" "$m_ceil")"
r_ref_ceil="$(ratio "$m_ref" "$m_ceil")"

echo
echo "medians: reference $m_ref leaves/s, ours $m_ours leaves/s, kernel $m_comp compressions/s (ceiling $m_ceil leaves/s)"
echo "ratios:  ours/reference = $r_ref, ours/ceiling = $r_ceil (reference/ceiling = $r_ref_ceil)"

cat <<EOF

----- summary (paste into README) -----
#### poet_bench vs reference spacemeshos/poet $REF_VERSION ($(date -u +%Y-%m-%d))

Host: $host_line; $pin_line.
$ROUNDS alternating rounds of \`ref-bench -d $DURATION\` and \`poet_bench -d $DURATION\`, plus \`poet_bench --kernel -d $KERNEL_DURATION\`
(ceiling = compressions/s ÷ $LABEL_HASHES; reference leaves/s recomputed as N ÷ elapsed).

| round | reference leaves/s | poet_bench leaves/s | kernel compressions/s | ceiling leaves/s | ours/reference | ours/ceiling |
|---|---|---|---|---|---|---|
$(printf '%s\n' "${ROWS[@]}")
| **median** | **$(thousands "$m_ref")** | **$(thousands "$m_ours")** | **$(thousands "$m_comp")** | **$(thousands "$m_ceil")** | **$r_ref** | **$r_ceil** |

Median throughput: poet_bench is **${r_ref}×** the reference and runs at **${r_ceil}** of the kernel ceiling (the reference: ${r_ref_ceil}).
----- end summary -----
EOF
