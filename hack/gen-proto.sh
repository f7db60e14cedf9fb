#!/usr/bin/env bash
# Generates the Go code of poet/api/v1 from its .proto files: protoc from Debian, the
# plugins at the versions go.mod pins, cached in bin/ by version.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/bin"
mkdir -p "$BIN"

if ! command -v protoc >/dev/null 2>&1 || [[ ! -f /usr/include/google/protobuf/duration.proto ]]; then
  if [[ $(id -u) -eq 0 ]]; then
    echo "gen-proto: installing protoc (Debian protobuf-compiler, libprotobuf-dev)" >&2
    (apt-get install -y protobuf-compiler libprotobuf-dev >/dev/null 2>&1 ||
      { apt-get update >/dev/null && apt-get install -y protobuf-compiler libprotobuf-dev >/dev/null; })
  else
    echo "gen-proto: protoc is missing: apt-get install protobuf-compiler libprotobuf-dev" >&2
    exit 1
  fi
fi

# plugin NAME PACKAGE MODULE: install PACKAGE at the version go.mod has for MODULE.
plugin() {
  local name=$1 pkg=$2 mod=$3 ver
  ver=$(go list -m -f '{{.Version}}' "$mod")
  local dest="$BIN/$name-$ver"
  if [[ ! -x "$dest" ]]; then
    GOBIN="$BIN/.tmp" go install "$pkg@$ver"
    mv "$BIN/.tmp/$name" "$dest"
  fi
  ln -sf "$(basename "$dest")" "$BIN/$name"
}
plugin protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/protobuf
# protoc-gen-go-grpc is a module of its own, versioned apart from grpc.
GRPC_PLUGIN=v1.6.2
if [[ ! -x "$BIN/protoc-gen-go-grpc-$GRPC_PLUGIN" ]]; then
  GOBIN="$BIN/.tmp" go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$GRPC_PLUGIN
  mv "$BIN/.tmp/protoc-gen-go-grpc" "$BIN/protoc-gen-go-grpc-$GRPC_PLUGIN"
fi
ln -sf "protoc-gen-go-grpc-$GRPC_PLUGIN" "$BIN/protoc-gen-go-grpc"
plugin protoc-gen-grpc-gateway github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway github.com/grpc-ecosystem/grpc-gateway/v2

cd poet/api/v1
PATH="$BIN:$PATH" protoc -I . -I /usr/include \
  --go_out=paths=source_relative:. \
  --go-grpc_out=paths=source_relative:. \
  --grpc-gateway_out=paths=source_relative,grpc_api_configuration=gateway.yaml,standalone=false:. \
  api.proto internal_api.proto
echo "gen-proto: generated $(ls ./*.go | wc -l) files in poet/api/v1" >&2
