#!/usr/bin/env bash
# Builds what a one-node test cluster needs beyond the envtest control plane, from pinned
# Go modules, and installs the Debian packages it uses. Cached outside the clone, keyed by
# version; a second run with the same versions returns at once.
#   kubelet, kube-scheduler, kube-proxy  k8s.io/kubernetes (same wrapper module as envtest)
#   containerd, containerd-shim-runc-v2, ctr  github.com/containerd/containerd/v2
#   coredns                               github.com/coredns/coredns, with only the plugins a
#                                         cluster-local resolver needs (no forwarder)
#   runc, CNI plugins, nft, iptables      Debian packages (runc, containernetworking-plugins, ...)
# Prints the bin directory on stdout; logs go to stderr.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
CONTAINERD_VERSION="${CONTAINERD_VERSION:-v2.4.2}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.15.0}"
CACHE="${POET_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/poet-operator}"
GOVERSION="$(go env GOVERSION)"
STAMP="k8s=$K8S_VERSION containerd=$CONTAINERD_VERSION coredns=$COREDNS_VERSION go=$GOVERSION"
DEST="$CACHE/cluster/k8s-$K8S_VERSION-containerd-$CONTAINERD_VERSION-coredns-$COREDNS_VERSION"
WORK="$CACHE/build"
log() { echo "cluster-assets: $*" >&2; }

debs=(runc containernetworking-plugins nftables iptables conntrack util-linux iproute2 procps openssl)
need=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  if [[ $(id -u) != 0 ]]; then log "missing Debian packages (run as root): ${need[*]}"; exit 1; fi
  log "installing Debian packages: ${need[*]}"
  apt-get install -y --no-install-recommends "${need[@]}" >&2 || { apt-get update >&2 && apt-get install -y --no-install-recommends "${need[@]}" >&2; }
fi

if [[ -f "$DEST/.stamp" && "$(cat "$DEST/.stamp")" == "$STAMP" ]]; then
  echo "$DEST"
  exit 0
fi
mkdir -p "$DEST" "$WORK"

# Kubernetes node components: a wrapper module, because k8s.io/kubernetes's go.mod has replace directives.
if [[ ! -x "$DEST/kube-proxy" || ! -x "$DEST/kubelet" || ! -x "$DEST/kube-scheduler" ]]; then
  # shellcheck source=hack/k8s-build.sh
  source "$(dirname "$0")/../k8s-build.sh"
  k8s_build "$WORK/cluster-kubernetes-$K8S_VERSION" poet-operator.dev/cluster/kubernetes "$DEST" kubelet kube-scheduler kube-proxy
fi

if [[ ! -x "$DEST/containerd" || ! -x "$DEST/containerd-shim-runc-v2" || ! -x "$DEST/ctr" ]]; then
  d="$WORK/containerd-$CONTAINERD_VERSION"
  rm -rf "$d" && mkdir -p "$d"
  printf 'module poet-operator.dev/cluster/containerd\n\ngo 1.26\n\nrequire github.com/containerd/containerd/v2 %s\n' "$CONTAINERD_VERSION" >"$d/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "github.com/containerd/containerd/v2/cmd/containerd"\n\t_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"\n\t_ "github.com/containerd/containerd/v2/cmd/ctr"\n)\n' >"$d/tools.go"
  (cd "$d" && go mod tidy >&2)
  ld="-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION"
  for cmd in containerd containerd-shim-runc-v2 ctr; do
    if [[ ! -x "$DEST/$cmd" ]]; then
      log "building $cmd $CONTAINERD_VERSION"
      (cd "$d" && CGO_ENABLED=0 go build -trimpath -tags "no_btrfs no_devmapper no_zfs" -ldflags "$ld" -o "$DEST/$cmd.tmp" "github.com/containerd/containerd/v2/cmd/$cmd" >&2)
      mv "$DEST/$cmd.tmp" "$DEST/$cmd"
    fi
  done
fi

if [[ ! -x "$DEST/coredns" ]]; then
  d="$WORK/coredns-$COREDNS_VERSION"
  rm -rf "$d" && mkdir -p "$d"
  printf 'module poet-operator.dev/cluster/coredns\n\ngo 1.26\n\nrequire github.com/coredns/coredns %s\n' "$COREDNS_VERSION" >"$d/go.mod"
  # Only cluster-local plugins: the cluster's resolver answers for cluster.local and nothing
  # else, so no query ever leaves the machine.
  cat >"$d/main.go" <<'GO'
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	"github.com/coredns/coredns/coremain"
)

var _ = dnsserver.Directives

func main() { coremain.Run() }
GO
  (cd "$d" && go mod tidy >&2)
  log "building coredns $COREDNS_VERSION"
  (cd "$d" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$DEST/coredns.tmp" . >&2)
  mv "$DEST/coredns.tmp" "$DEST/coredns"
fi

echo "$STAMP" >"$DEST/.stamp"
echo "$DEST"
