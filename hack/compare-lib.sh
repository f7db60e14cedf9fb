# Shared by the side-by-side scripts (hack/*-compare.sh): sourced, not run.
# Sets ROOT, BIN and REF_BIN, and defines:
#   build_reference     build the reference poet v0.10.12 from hack/compat once (cached)
#   build_ours          build our poet and poet_load into bin/
#   port                print a free TCP port on 127.0.0.1
#   work_dir NAME       make $WORK, removed with the server in $PID on exit
#   wait_up NAME URL LOG  wait up to 10 s for GET URL/v1/info (as a node sends it); on
#                       a timeout print LOG and exit 1
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/bin"
REF_VERSION="v0.10.12"
REF_BIN="$ROOT/bin/compat/ref-poet-$REF_VERSION"

build_reference() {
  if [[ ! -x "$REF_BIN" ]]; then
    echo "== building the reference poet -> ${REF_BIN#"$ROOT"/}"
    mkdir -p "$(dirname "$REF_BIN")"
    (cd "$ROOT/hack/compat" && CGO_ENABLED=0 go build -trimpath -o "$REF_BIN" github.com/spacemeshos/poet)
  fi
}

build_ours() {
  echo "== building poet and poet_load"
  (cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$BIN/" ./poet/cmd/poet ./poet/cmd/poet_load)
}

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_up() {
  local name=$1 url=$2 log=$3
  for _ in $(seq 100); do
    curl -fs -o /dev/null -X GET -H 'Content-Type: application/json' -d '{}' "$url/v1/info" && return 0
    sleep 0.1
  done
  echo "$name did not start:"; cat "$log"; exit 1
}

work_dir() {
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
  PID=""
  trap 'cleanup' EXIT
}
cleanup() { [[ -n "${PID:-}" ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
