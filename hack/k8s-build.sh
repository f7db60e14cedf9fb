# Sourced by hack/envtest-assets.sh and hack/cluster/assets.sh: builds Kubernetes commands
# from k8s.io/kubernetes, whose go.mod has replace directives that `go install` refuses.
#
#   k8s_build WORKDIR MODULE DEST CMD...
#
# writes a wrapper module MODULE in WORKDIR (one replace line per staging module, taken
# from upstream's go.mod; a tools.go importing every CMD, so `go mod tidy` records them
# all), then builds each CMD missing from DEST with the version stamped. Needs
# K8S_VERSION; logs to stderr.
k8s_build() {
  local d=$1 module=$2 dest=$3
  shift 3
  rm -rf "$d" && mkdir -p "$d"
  echo "k8s-build: resolving k8s.io/kubernetes v$K8S_VERSION" >&2
  local gomod staging m cmd p
  gomod="$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  staging="$(awk '/^replace \(/{f=1;next} f&&/^\)/{f=0} f{print $1}' "$gomod" | grep '^k8s.io/' | sort -u)"
  {
    printf 'module %s\n\ngo 1.26\n\ngodebug default=go1.26\n\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$module" "$K8S_VERSION"
    for m in $staging; do echo "	$m => $m v0.${K8S_VERSION#1.}"; done
    echo ")"
  } >"$d/go.mod"
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for cmd in "$@"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$cmd"; done
    printf ')\n'
  } >"$d/tools.go"
  (cd "$d" && go mod tidy >&2)
  local minor="${K8S_VERSION#1.}"
  minor="${minor%%.*}"
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  for cmd in "$@"; do
    if [[ ! -x "$dest/$cmd" ]]; then
      echo "k8s-build: building $cmd v$K8S_VERSION (minutes; the first of them ~10-15 min cold on 2 cores, peak ~2.7 GB)" >&2
      (cd "$d" && CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$dest/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd" >&2)
      mv "$dest/$cmd.tmp" "$dest/$cmd"
    fi
  done
}
