#!/usr/bin/env bash
# A real one-node Kubernetes cluster on this machine, for the end-to-end tests and by hand.
#
#   hack/cluster/cluster.sh up                  start it (prints the kubeconfig path last)
#   hack/cluster/cluster.sh down                stop it and check the machine is as found
#   hack/cluster/cluster.sh kubeconfig          print the kubeconfig path
#   hack/cluster/cluster.sh restart-node [none|static]
#                                               a node reboot: every container, the kubelet and
#                                               containerd are killed, then started again, with
#                                               the given CPU manager policy (default: as before)
#   hack/cluster/cluster.sh import IMAGE.tar... import image tarballs into the node
#   hack/cluster/cluster.sh status              is it up
#
# One node: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy
# (nftables), kubelet with the static CPU manager (CPU 0 reserved), containerd + runc, a CNI
# bridge, CoreDNS as a pod. Binaries come from hack/envtest-assets.sh and
# hack/cluster/assets.sh (pinned Go modules and Debian packages, cached outside the clone);
# images from hack/cluster/images (no registry). All state lives under $POET_CLUSTER_DIR.
#
# The node (containerd, the kubelet and every container) runs in a mount namespace of its
# own, so the kubelet's and containerd's mounts, its view of three sysctls it would otherwise
# change machine-wide, and the runtime's fixed paths never reach the host and vanish with it.
# What is shared with the host (cgroups, the bridge, the nftables table of kube-proxy, the
# forwarding sysctls) is recorded before `up` and restored and checked by `down`.
#
# Networking stays on the machine: pods live on bridge poetbr0 (10.244.0.0/24) with routes
# only to the pod and service ranges; nothing is masqueraded and nothing is routed out.
# Needs root. Written for cgroup v1 (this machine) and v2 alike: the kubelet uses cgroupfs
# and finds the hierarchy itself; only cleanup walks the kubepods trees of whichever exist.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DIR="${POET_CLUSTER_DIR:-/tmp/poet-operator-cluster}"
NODE=poet-node
BRIDGE=poetbr0
NODE_IP=10.244.0.1
POD_CIDR=10.244.0.0/24
SVC_CIDR=10.96.0.0/24
DNS_IP=10.96.0.10
ETCD_PORT=12379
API="https://$NODE_IP:6443"
PINNED_PATHS=(/run/containerd /var/lib/cni /var/lib/kubelet /var/log/containers /var/log/pods)
# Sysctls that change by themselves (counters, entropy, ids): never compared.
VOLATILE='^(kernel\.random\.|kernel\.ns_last_pid|fs\.(dentry-state|inode-nr|inode-state|file-nr|aio-nr|quota\.)|kernel\.pty\.nr|net\.netfilter\.nf_conntrack_count|vm\.stat_refresh|net\.ipv4\.(conf|neigh)\.(veth|poetbr)|net\.ipv6\.(conf|neigh)\.(veth|poetbr)|kernel\.(sched_domain|perf_event)|fs\.binfmt_misc|net\.core\.netdev_rss_key|kernel\.tainted|kernel\.core_modes|dev\.)'

log() { echo "cluster: $*" >&2; }
die() { log "$*"; exit 1; }

bins() {
  K8S="$("$ROOT/hack/envtest-assets.sh")"
  NODEBIN="$("$HERE/assets.sh")"
}

pidfile() { echo "$DIR/run/$1.pid"; }
alive() { local p; p="$(cat "$(pidfile "$1")" 2>/dev/null)" && kill -0 "$p" 2>/dev/null; }

# start NAME CMD...: a daemon in its own session, logging to $DIR/logs/NAME.log.
start() {
  local name=$1; shift
  setsid "$@" >>"$DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$(pidfile "$name")"
}

# stop NAME: SIGTERM, then SIGKILL after 10 s.
stop() {
  local p
  p="$(cat "$(pidfile "$1")" 2>/dev/null)" || return 0
  if kill -0 "$p" 2>/dev/null; then
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$(pidfile "$1")"
}

wait_for() { # wait_for SECONDS WHAT CMD...
  local t=$1 what=$2; shift 2
  for _ in $(seq $((t * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  die "timed out after ${t}s waiting for $what (logs: $DIR/logs)"
}

kc() { "$K8S/kubectl" --kubeconfig "$DIR/kubeconfig" "$@"; }

# One line a sysctl: a few kernels have sysctls whose value is several lines (each listed by
# sysctl -a as "key = line"); their lines, sorted, are folded into one, joined by " | ", so
# that the record pairs each key once. Records written unfolded are folded when read.
sysctl_fold() {
  sort | awk '{
    i = index($0, " = "); k = (i ? substr($0, 1, i - 1) : $0); v = (i ? substr($0, i + 3) : "")
    if (k in val) val[k] = val[k] " | " v; else { val[k] = v; order[++n] = k }
  } END { for (j = 1; j <= n; j++) print order[j] " = " val[order[j]] }'
}
sysctl_snapshot() { sysctl -a 2>/dev/null | grep -Ev "$VOLATILE" | sysctl_fold; }
cgroup_roots() {
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then echo /sys/fs/cgroup; return; fi
  for d in /sys/fs/cgroup/*/; do [[ -f "$d/cgroup.procs" ]] && echo "${d%/}"; done
  [[ -f /sys/fs/cgroup/unified/cgroup.procs ]] && echo /sys/fs/cgroup/unified
  return 0
}

record_machine() {
  mkdir -p "$DIR/before"
  sysctl_snapshot >"$DIR/before/sysctl"
  nft list tables 2>/dev/null | sort >"$DIR/before/nft-tables" || true
  nft list ruleset >"$DIR/before/nft-ruleset" 2>/dev/null || true
  ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort >"$DIR/before/links"
  : >"$DIR/before/created-paths"
  for p in "${PINNED_PATHS[@]}"; do [[ -e $p ]] || echo "$p" >>"$DIR/before/created-paths"; done
}

pki() {
  local p="$DIR/pki"
  mkdir -p "$p"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=poet-cluster-ca" \
    -keyout "$p/ca.key" -out "$p/ca.crt" 2>/dev/null
  cat >"$p/apiserver.ext" <<EXT
subjectAltName=IP:$NODE_IP,IP:10.96.0.1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost
extendedKeyUsage=serverAuth
EXT
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$p/apiserver.key" -out "$p/apiserver.csr" 2>/dev/null
  openssl x509 -req -in "$p/apiserver.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 30 \
    -extfile "$p/apiserver.ext" -out "$p/apiserver.crt" 2>/dev/null
  # The API server's client certificate for the kubelet (logs, exec).
  printf 'extendedKeyUsage=clientAuth\n' >"$p/client.ext"
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
    -keyout "$p/kubelet-client.key" -out "$p/kubelet-client.csr" 2>/dev/null
  openssl x509 -req -in "$p/kubelet-client.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 30 \
    -extfile "$p/client.ext" -out "$p/kubelet-client.crt" 2>/dev/null
  openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
  openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
  local tok; tok="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  echo "$tok,admin,admin,system:masters" >"$p/tokens.csv"
  cat >"$DIR/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: poet
  cluster:
    server: $API
    certificate-authority: $p/ca.crt
users:
- name: admin
  user:
    token: $tok
contexts:
- name: poet
  context: {cluster: poet, user: admin}
current-context: poet
KC
  chmod 600 "$DIR/kubeconfig" "$p"/*.key
}

network_up() {
  ip link add "$BRIDGE" type bridge
  ip addr add "$NODE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # Service traffic from the host leaves from the node address, towards the bridge only.
  ip route add "$SVC_CIDR" dev "$BRIDGE" src "$NODE_IP"
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  mkdir -p "$DIR/cni/net.d" "$DIR/cni/ipam"
  cat >"$DIR/cni/net.d/10-poet.conflist" <<CNI
{
  "cniVersion": "0.4.0",
  "name": "poet",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$DIR/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "rangeStart": "10.244.0.10", "gateway": "$NODE_IP"}]],
        "routes": [{"dst": "$SVC_CIDR", "gw": "$NODE_IP"}]
      }
    },
    {"type": "loopback"}
  ]
}
CNI
}

control_plane_up() {
  mkdir -p "$DIR/etcd"
  start etcd "$K8S/etcd" --data-dir "$DIR/etcd" --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "default=http://127.0.0.1:$((ETCD_PORT + 1))"
  local p="$DIR/pki"
  start kube-apiserver "$K8S/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port 6443 \
    --service-cluster-ip-range "$SVC_CIDR" --authorization-mode Node,RBAC \
    --token-auth-file "$p/tokens.csv" --client-ca-file "$p/ca.crt" \
    --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
    --kubelet-client-certificate "$p/kubelet-client.crt" --kubelet-client-key "$p/kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
    --allow-privileged=true --profiling=false
  wait_for 90 "kube-apiserver" kc get --raw /readyz
  start kube-controller-manager "$K8S/kube-controller-manager" --kubeconfig "$DIR/kubeconfig" \
    --leader-elect=false --secure-port=0 --controllers='*' --use-service-account-credentials=false \
    --service-account-private-key-file "$p/sa.key" --root-ca-file "$p/ca.crt" \
    --cluster-signing-cert-file "$p/ca.crt" --cluster-signing-key-file "$p/ca.key" --profiling=false
  start kube-scheduler "$NODEBIN/kube-scheduler" --kubeconfig "$DIR/kubeconfig" \
    --authentication-kubeconfig "$DIR/kubeconfig" --authorization-kubeconfig "$DIR/kubeconfig" \
    --leader-elect=false --secure-port=0 --profiling=false
  cat >"$DIR/kube-proxy.yaml" <<KP
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection: {kubeconfig: $DIR/kubeconfig}
hostnameOverride: $NODE
bindAddress: $NODE_IP
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$NODE_IP/32"]
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s, udpTimeout: 0s, udpStreamTimeout: 0s}
KP
  start kube-proxy "$NODEBIN/kube-proxy" --config "$DIR/kube-proxy.yaml"
}

kubelet_config() { # kubelet_config POLICY
  cat >"$DIR/kubelet.yaml" <<KL
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cpuManagerPolicy: $1
# The static policy keeps ceil(100m) = one whole CPU (CPU 0) out of exclusive use, while
# allocatable stays 1.9 CPUs: a Guaranteed poet gets CPU 1 and small pods still fit beside it.
kubeReserved: {cpu: 100m}
makeIPTablesUtilChains: false
failSwapOn: false
protectKernelDefaults: false
address: $NODE_IP
healthzBindAddress: 127.0.0.1
healthzPort: 10248
readOnlyPort: 0
clusterDNS: [$DNS_IP]
clusterDomain: cluster.local
resolvConf: ""
podLogsDir: $DIR/pod-logs
containerRuntimeEndpoint: unix://$DIR/containerd/containerd.sock
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
serializeImagePulls: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $DIR/pki/ca.crt}
authorization: {mode: AlwaysAllow}
KL
  echo "$1" >"$DIR/run/cpu-manager-policy"
}

containerd_config() {
  local runc=/usr/sbin/runc
  # Machines without CAP_SYS_RESOURCE cannot give a process a negative oom_score_adj, which
  # runc does for every pod (pause -998, Guaranteed -997): a test-only wrapper clamps it to 0.
  if ! (echo -1 >/proc/self/oom_score_adj) 2>/dev/null; then
    runc="$HERE/runc-clamp-oom.sh"
    log "this machine cannot lower oom_score_adj: runc through $runc"
  fi
  cat >"$DIR/containerd.toml" <<TOML
version = 3
root = "$DIR/containerd/root"
state = "$DIR/containerd/state"
[grpc]
  address = "$DIR/containerd/containerd.sock"
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "localhost/pause:latest"
[plugins.'io.containerd.cri.v1.runtime']
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$DIR/cni/net.d"
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      BinaryName = "$runc"
      SystemdCgroup = false
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
TOML
}

# The node's mount namespace: a holder process keeps it alive; containerd, the kubelet and
# everything they start live in it. Fixed paths of the runtime are tmpfs there, the kubelet's
# root dir is an rshared bind (so its tmpfs volumes reach the containers), and the three
# machine-wide sysctls the kubelet sets are files.
in_node() { nsenter -t "$(cat "$(pidfile node-ns)")" -m -- "$@"; }

node_up() {
  mkdir -p "$DIR/kubelet" "$DIR/containerd" "$DIR/pod-logs" "$DIR/node-sysctl"
  for p in "${PINNED_PATHS[@]}"; do mkdir -p "$p"; done
  start node-ns unshare --mount --propagation slave -- sleep infinity
  # unshare runs after setsid returns: compare namespaces on every try, not once.
  local holder; holder="$(cat "$(pidfile node-ns)")"
  wait_for 10 "the node's mount namespace" sh -c "[ \"\$(readlink /proc/$holder/ns/mnt)\" != '$(readlink /proc/$$/ns/mnt)' ]"
  for p in "${PINNED_PATHS[@]}"; do in_node mount -t tmpfs -o mode=0755 tmpfs "$p"; done
  in_node mount --bind "$DIR/kubelet" "$DIR/kubelet"
  in_node mount --make-rshared "$DIR/kubelet"
  for s in vm/overcommit_memory kernel/panic kernel/panic_on_oops; do
    local f="$DIR/node-sysctl/${s//\//.}"
    cat "/proc/sys/$s" >"$f"
    in_node mount --bind "$f" "/proc/sys/$s"
  done
  containerd_config
  start containerd nsenter -t "$(cat "$(pidfile node-ns)")" -m -- "$NODEBIN/containerd" --config "$DIR/containerd.toml"
  wait_for 30 "containerd" test -S "$DIR/containerd/containerd.sock"
  import_images
  start kubelet nsenter -t "$(cat "$(pidfile node-ns)")" -m -- "$NODEBIN/kubelet" \
    --config "$DIR/kubelet.yaml" --kubeconfig "$DIR/kubeconfig" --root-dir "$DIR/kubelet" \
    --cert-dir "$DIR/kubelet/pki" --hostname-override "$NODE" --node-ip "$NODE_IP" --v=1
  wait_for 120 "node $NODE Ready" sh -c "'$K8S/kubectl' --kubeconfig '$DIR/kubeconfig' get node $NODE -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
}

import_images() {
  local t
  for t in "$DIR"/images/*.tar; do
    [[ -f $t ]] || continue
    "$NODEBIN/ctr" --address "$DIR/containerd/containerd.sock" -n k8s.io images import "$t" >/dev/null
  done
}

kubepods_cgroups() { # every kubepods cgroup directory, deepest first
  local r
  for r in $(cgroup_roots); do
    [[ -d "$r/kubepods" ]] && find "$r/kubepods" -depth -type d
  done
  return 0
}

node_down() {
  stop kubelet
  stop containerd
  # What a power cut does to the node's processes: containers and shims die at once.
  local ns p
  ns="$(readlink /proc/"$(cat "$(pidfile node-ns)" 2>/dev/null)"/ns/mnt 2>/dev/null || true)"
  for _ in 1 2 3; do
    for d in $(kubepods_cgroups); do
      [[ -f $d/cgroup.procs ]] && while read -r p; do kill -KILL "$p" 2>/dev/null || true; done <"$d/cgroup.procs"
    done
    if [[ -n $ns ]]; then
      for p in /proc/[0-9]*; do
        [[ "$(readlink "$p/ns/mnt" 2>/dev/null)" == "$ns" ]] || continue
        [[ ${p#/proc/} == "$(cat "$(pidfile node-ns)")" ]] && continue
        kill -KILL "${p#/proc/}" 2>/dev/null || true
      done
    fi
    sleep 0.5
  done
  stop node-ns
  for _ in $(seq 50); do
    local left=0
    for d in $(kubepods_cgroups); do rmdir "$d" 2>/dev/null || left=1; done
    ((left == 0)) && break
    sleep 0.2
  done
  rm -rf "$DIR/containerd/state"
}

wait_node_ready() {
  wait_for 120 "node $NODE Ready" sh -c "'$K8S/kubectl' --kubeconfig '$DIR/kubeconfig' get node $NODE -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
}

addons_up() {
  # CoreDNS and local persistent volumes (hostPath directories owned by the poet's uid).
  mkdir -p "$DIR/volumes"
  local vols="" i
  for i in $(seq 0 9); do
    install -d -o 65532 -g 65532 -m 0750 "$DIR/volumes/pv$i"
    vols+="---
apiVersion: v1
kind: PersistentVolume
metadata: {name: local-pv$i, labels: {poet-operator.dev/test-volume: \"true\"}}
spec:
  capacity: {storage: 100Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: manual
  hostPath: {path: $DIR/volumes/pv$i, type: Directory}
"
  done
  sed -e "s|@DNS_IP@|$DNS_IP|g" "$HERE/addons.yaml" | kc apply -f - >/dev/null
  echo "$vols" | kc apply -f - >/dev/null
  wait_for 180 "CoreDNS Ready" sh -c "'$K8S/kubectl' --kubeconfig '$DIR/kubeconfig' -n kube-system get pods -l k8s-app=kube-dns -o jsonpath='{.items[*].status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
}

cmd_up() {
  [[ $(id -u) == 0 ]] || die "needs root (a kubelet and a container runtime)"
  if alive kube-apiserver; then log "already up"; echo "$DIR/kubeconfig"; return 0; fi
  [[ -e "$DIR/before" ]] && die "$DIR holds a cluster that was not torn down: run '$0 down' first"
  ip link show "$BRIDGE" >/dev/null 2>&1 && die "bridge $BRIDGE exists: another cluster is up"
  bins
  mkdir -p "$DIR/run" "$DIR/logs" "$DIR/images"
  record_machine
  if ! ls "$DIR"/images/*.tar >/dev/null 2>&1; then
    log "building images"
    (cd "$HERE" && go run ./images --out "$DIR/images" --repo "$ROOT" --coredns "$NODEBIN/coredns") >&2
  fi
  pki
  network_up
  control_plane_up
  kubelet_config "${CPU_MANAGER_POLICY:-static}"
  node_up
  addons_up
  log "up: export KUBECONFIG=$DIR/kubeconfig; kubectl is $K8S/kubectl"
  echo "$DIR/kubeconfig"
}

cmd_restart_node() {
  alive kube-apiserver || die "not up"
  bins
  local policy="${1:-$(cat "$DIR/run/cpu-manager-policy")}"
  log "node reboot (cpu manager policy $policy)"
  node_down
  # The CPU manager refuses a state file written under another policy: a reboot into a new
  # policy starts without one (what a node's operator does when changing it).
  if [[ $policy != "$(cat "$DIR/run/cpu-manager-policy")" ]]; then
    rm -f "$DIR/kubelet/cpu_manager_state"
  fi
  kubelet_config "$policy"
  node_up
}

cmd_import() {
  alive containerd || die "not up"
  bins
  local t
  for t in "$@"; do
    "$NODEBIN/ctr" --address "$DIR/containerd/containerd.sock" -n k8s.io images import "$t" >/dev/null
  done
}

cmd_down() {
  [[ -d "$DIR/before" ]] || { log "nothing to tear down in $DIR"; return 0; }
  bins
  node_down
  stop kube-proxy
  # kube-proxy's own cleanup removes its nftables table (and iptables chains, if any).
  "$NODEBIN/kube-proxy" --cleanup >>"$DIR/logs/kube-proxy-cleanup.log" 2>&1 || true
  stop kube-scheduler
  stop kube-controller-manager
  stop kube-apiserver
  stop etcd
  ip link del "$BRIDGE" 2>/dev/null || true
  # Tables something of ours added and left.
  comm -13 "$DIR/before/nft-tables" <(nft list tables 2>/dev/null | sort) | while read -r _ fam name; do
    nft delete table "$fam" "$name" 2>/dev/null || true
  done
  # Sysctls back to what they were: ip_forward first, since it resets the per-interface ones.
  sysctl -qw "$(sed -n 's/^net.ipv4.ip_forward = /net.ipv4.ip_forward=/p' "$DIR/before/sysctl")"
  join -t= -j1 <(sysctl_fold <"$DIR/before/sysctl" | sed 's/ = /=/' | sort -t= -k1,1) <(sysctl_snapshot | sed 's/ = /=/' | sort -t= -k1,1) |
    awk -F= '$2 != $3 {print $1 "=" $2}' | while IFS= read -r kv; do
      sysctl -qw "${kv%%=*}=${kv#*=}" 2>/dev/null || log "could not restore ${kv%%=*}"
    done
  while read -r p; do [[ -n $p ]] && rmdir "$p" 2>/dev/null; done <"$DIR/before/created-paths" || true
  check_clean
}

# check_clean: the machine is as recorded before `up`. Exit 1 with what is left.
check_clean() {
  local bad=()
  local n
  for n in etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet containerd node-ns; do
    alive "$n" && bad+=("process $n ($(cat "$(pidfile "$n")")) still runs")
  done
  local procs
  procs="$(for p in /proc/[0-9]*; do [[ "$(readlink "$p/exe" 2>/dev/null)" == "$NODEBIN"/* || "$(readlink "$p/exe" 2>/dev/null)" == "$K8S"/* ]] && echo "${p#/proc/}"; done; true)"
  [[ -n $procs ]] && bad+=("processes from the cluster's binaries: $procs")
  grep -q "$DIR" /proc/mounts && bad+=("mounts under $DIR: $(grep "$DIR" /proc/mounts | awk '{print $2}' | tr '\n' ' ')")
  local cg; cg="$(kubepods_cgroups | tr '\n' ' ')"
  [[ -n ${cg// /} ]] && bad+=("cgroups: $cg")
  ip link show "$BRIDGE" >/dev/null 2>&1 && bad+=("bridge $BRIDGE")
  local links; links="$(comm -13 "$DIR/before/links" <(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort) | tr '\n' ' ')"
  [[ -n ${links// /} ]] && bad+=("interfaces: $links")
  diff -q "$DIR/before/nft-ruleset" <(nft list ruleset 2>/dev/null) >/dev/null || bad+=("nftables ruleset differs: $(diff "$DIR/before/nft-ruleset" <(nft list ruleset 2>/dev/null) | head -5 | tr '\n' ' ')")
  local sd; sd="$(join -t= -j1 <(sysctl_fold <"$DIR/before/sysctl" | sed 's/ = /=/' | sort -t= -k1,1) <(sysctl_snapshot | sed 's/ = /=/' | sort -t= -k1,1) | awk -F= '$2 != $3 {print $1}' | tr '\n' ' ')"
  [[ -n ${sd// /} ]] && bad+=("sysctls changed: $sd")
  while read -r p; do [[ -n $p && -e $p ]] && bad+=("path $p"); done <"$DIR/before/created-paths"
  if ((${#bad[@]})); then
    printf 'cluster: not clean after down:\n' >&2
    printf '  - %s\n' "${bad[@]}" >&2
    return 1
  fi
  if [[ -z ${POET_CLUSTER_KEEP:-} ]]; then rm -rf "$DIR"; fi
  log "down: the machine is as it was before up"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  kubeconfig) [[ -f "$DIR/kubeconfig" ]] && alive kube-apiserver || die "not up"; echo "$DIR/kubeconfig" ;;
  restart-node) shift; cmd_restart_node "$@" ;;
  import) shift; cmd_import "$@" ;;
  status) alive kube-apiserver && echo up || { echo down; exit 1; } ;;
  *) sed -n '2,13p' "$0" >&2; exit 2 ;;
esac
