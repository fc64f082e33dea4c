#!/bin/bash
# A stand-in pod for the routes checker: a network namespace attached to the cni0 bridge by running
# the CNI bridge plugin by hand, exactly as containerd does for a pod sandbox. Proves pod-to-pod
# traffic between workers without Kubernetes.
# Usage: pod-netns.sh add NAME        creates it; prints its IPv4 address (from this worker's pod CIDR)
#        pod-netns.sh ping NAME IP    pings IP from inside it
#        pod-netns.sh del NAME        removes it and releases its address
set -euo pipefail
action=$1
name=$2
conf=/etc/cni/net.d/10-bridge.conf
export CNI_PATH=/opt/cni/bin CNI_IFNAME=eth0 CNI_CONTAINERID="$name" CNI_NETNS="/var/run/netns/$name"

remove() {
  # DEL releases the IPAM reservation even when the namespace is already gone.
  CNI_COMMAND=DEL /opt/cni/bin/bridge <"$conf" >/dev/null 2>&1 || true
  if [ -e "$CNI_NETNS" ]; then ip netns delete "$name"; fi
}

case "$action" in
  add)
    remove
    ip netns add "$name"
    ip -n "$name" link set lo up
    CNI_COMMAND=ADD /opt/cni/bin/bridge <"$conf" >/dev/null
    ip -n "$name" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1
    ;;
  ping)
    ip netns exec "$name" ping -c 3 -W 2 -i 0.3 "$3"
    ;;
  del)
    remove
    ;;
  *)
    echo "unknown action $action" >&2
    exit 2
    ;;
esac
