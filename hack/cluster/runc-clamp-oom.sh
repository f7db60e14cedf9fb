#!/usr/bin/env bash
# Test-only runc wrapper for machines without CAP_SYS_RESOURCE (like these VMs), where runc
# fails to give a container a negative oom_score_adj ("nsexec: failed to update
# /proc/self/oom_score_adj: Permission denied"). It clamps negative values to 0 in the OCI
# bundle (create/run) and in the process spec (exec), then runs the real runc. Real nodes
# use runc directly; hack/cluster/cluster.sh only installs this where the kernel refuses.
set -euo pipefail
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  f=""
  case "${args[i]}" in
    --bundle | -b) f="${args[i + 1]:-}/config.json" ;;
    --bundle=*) f="${args[i]#--bundle=}/config.json" ;;
    --process | -p) f="${args[i + 1]:-}" ;;
    --process=*) f="${args[i]#--process=}" ;;
  esac
  if [[ -n $f && -f $f ]]; then
    sed -i -E 's/"oomScoreAdj":[[:space:]]*-[0-9]+/"oomScoreAdj":0/g' "$f"
  fi
done
exec /usr/sbin/runc "$@"
