#!/usr/bin/env bash
# Generates the Go code of poet/api/v1 from its .proto files and gateway.yaml: protoc
# from Debian (installed here when missing and running as root, as in CI), the plugins at
# pinned versions, built once into bin/<plugin>-<version>. The output depends only on
# the inputs and those versions: no absolute paths, and the protoc version in the
# generated headers is checked, not taken from whatever is installed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/bin"
GO="${GO:-go}"
mkdir -p "$BIN"

# Debian's protobuf-compiler (bookworm and trixie); its version is written into the
# generated files' headers.
PROTOC_VERSION=3.21.12
# protoc-gen-go-grpc is a module of its own (google.golang.org/grpc/cmd/protoc-gen-go-grpc),
# versioned apart from grpc, so go.mod cannot pin it.
GRPC_PLUGIN_VERSION=v1.6.2

die() { echo "gen-proto: $*" >&2; exit 1; }

if ! command -v protoc >/dev/null 2>&1 || [[ ! -f /usr/include/google/protobuf/duration.proto ]]; then
  [[ $(id -u) -eq 0 ]] || die "protoc or google/protobuf/*.proto missing; install them with: sudo apt-get install -y protobuf-compiler libprotobuf-dev"
  command -v apt-get >/dev/null 2>&1 || die "protoc missing and no apt-get: install protoc $PROTOC_VERSION and its google/protobuf/*.proto under /usr/include"
  echo "gen-proto: installing protoc (Debian protobuf-compiler, libprotobuf-dev)" >&2
  if ! apt-get install -y --no-install-recommends protobuf-compiler libprotobuf-dev >/dev/null 2>&1; then
    apt-get update >/dev/null
    apt-get install -y --no-install-recommends protobuf-compiler libprotobuf-dev >/dev/null
  fi
fi
have=$(protoc --version | awk '{print $2}')
[[ "$have" == "$PROTOC_VERSION" ]] ||
  die "protoc $have found; the committed code is generated with $PROTOC_VERSION (Debian protobuf-compiler), so a regeneration with $have would differ"

# plugin NAME PACKAGE VERSION: build PACKAGE@VERSION into bin/NAME-VERSION once, and
# point bin/NAME at it.
plugin() {
  local name=$1 pkg=$2 ver=$3
  local dest="$BIN/$name-$ver"
  if [[ ! -x "$dest" ]]; then
    echo "gen-proto: building $name $ver" >&2
    GOBIN="$BIN/.tmp" "$GO" install "$pkg@$ver"
    mv "$BIN/.tmp/$name" "$dest"
  fi
  ln -sf "$(basename "$dest")" "$BIN/$name"
}
# The version go.mod requires for a module, so the generated code matches its runtime.
modver() { "$GO" list -m -f '{{.Version}}' "$1"; }

plugin protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$(modver google.golang.org/protobuf)"
plugin protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$GRPC_PLUGIN_VERSION"
plugin protoc-gen-grpc-gateway github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway \
  "$(modver github.com/grpc-ecosystem/grpc-gateway/v2)"

# Paths relative to the repository: protoc writes them into the output, and the
# descriptors register as poet/api/v1/*.proto (the package, rpc.api.v1, is the reference's).
PATH="$BIN:$PATH" protoc -I . -I /usr/include \
  --plugin=protoc-gen-go="$BIN/protoc-gen-go" \
  --plugin=protoc-gen-go-grpc="$BIN/protoc-gen-go-grpc" \
  --plugin=protoc-gen-grpc-gateway="$BIN/protoc-gen-grpc-gateway" \
  --go_out=paths=source_relative:. \
  --go-grpc_out=paths=source_relative:. \
  --grpc-gateway_out=paths=source_relative,grpc_api_configuration=poet/api/v1/gateway.yaml,standalone=false:. \
  poet/api/v1/api.proto poet/api/v1/internal_api.proto
echo "gen-proto: generated $(find poet/api/v1 -maxdepth 1 -name '*.go' | wc -l) files in poet/api/v1" >&2
