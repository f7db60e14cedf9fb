#!/usr/bin/env bash
# Builds a real control plane for envtest from Go modules (no download site is
# reachable here): etcd, kube-apiserver, kubectl and kube-controller-manager, into a
# cache outside the clone keyed by version, in setup-envtest's store layout.
# Prints the directory on stdout (export KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh));
# logs go to stderr. A second run with the same versions returns at once.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.7.3}"
CACHE="${POET_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/poet-operator}"
DEST="$CACHE/k8s/$K8S_VERSION-linux-amd64"
GOVERSION="$(go env GOVERSION)"
STAMP="k8s=$K8S_VERSION etcd=$ETCD_VERSION go=$GOVERSION"

if [[ -f "$DEST/.stamp" && "$(cat "$DEST/.stamp")" == "$STAMP" ]]; then
  echo "$DEST"
  exit 0
fi
mkdir -p "$DEST"
WORK="$CACHE/build"
mkdir -p "$WORK"
log() { echo "envtest-assets: $*" >&2; }

if [[ ! -x "$DEST/etcd" ]]; then
  log "building etcd $ETCD_VERSION (about a minute)"
  d="$WORK/etcd-$ETCD_VERSION"
  rm -rf "$d" && mkdir -p "$d"
  cat >"$d/go.mod" <<GOMOD
module poet-operator.dev/envtest/etcd

go 1.26

require (
	go.etcd.io/etcd/api/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/pkg/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/v3 $ETCD_VERSION
	go.etcd.io/etcd/pkg/v3 $ETCD_VERSION
	go.etcd.io/etcd/server/v3 $ETCD_VERSION
)
GOMOD
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$d/tools.go"
  (cd "$d" && go mod tidy >&2 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$DEST/etcd" go.etcd.io/etcd/server/v3 >&2)
fi

if [[ ! -x "$DEST/kube-controller-manager" || ! -x "$DEST/kube-apiserver" || ! -x "$DEST/kubectl" ]]; then
  # shellcheck source=hack/k8s-build.sh
  source "$(dirname "$0")/k8s-build.sh"
  k8s_build "$WORK/kubernetes-$K8S_VERSION" poet-operator.dev/envtest/kubernetes "$DEST" kube-apiserver kubectl kube-controller-manager
fi

echo "$STAMP" >"$DEST/.stamp"
echo "$DEST"
