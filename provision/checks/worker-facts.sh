#!/bin/bash
# Facts for the workers checker, in "==> SECTION" blocks.
# Needs unit_health (lib-unit-health.sh, sent ahead of this script).
# Usage: worker-facts.sh
set -u
section() { printf '\n==> %s\n' "$1"; }

section modules
for module in overlay br_netfilter; do
  if [ -d "/sys/module/$module" ]; then echo "$module loaded"; else echo "$module missing"; fi
done
section sysctl
for key in net.bridge.bridge-nf-call-iptables net.ipv4.ip_forward; do
  echo "$key=$(sysctl -n "$key" 2>&1)"
done
unit_health containerd kubelet kube-proxy
section containerd-version
containerd --version 2>&1 | head -n 1
section ctr-version
timeout 20 ctr version 2>&1
section runc-version
runc --version 2>&1 | head -n 1
section runc-path
command -v runc
section crictl-version
crictl --version 2>&1 | head -n 1
section kubelet-version
kubelet --version 2>&1 | head -n 1
section kube-proxy-version
kube-proxy --version 2>&1 | head -n 1
section cni-plugins
for plugin in bridge host-local loopback; do
  if [ -x "/opt/cni/bin/$plugin" ]; then
    echo "$plugin $(CNI_COMMAND=VERSION "/opt/cni/bin/$plugin" </dev/null 2>&1 | head -c 300)"
  else
    echo "$plugin missing"
  fi
done
section bridge-conf
cat /etc/cni/net.d/10-bridge.conf 2>&1
# Images in containerd's k8s.io namespace (the kubelet's), and which ones are pinned (safe from
# the kubelet's image garbage collection).
section images
timeout 30 ctr -n k8s.io images ls -q 2>&1 | grep -v '^sha256:'
section pinned-images
timeout 30 ctr -n k8s.io images ls -q 'labels."io.cri-containerd.pinned"==pinned' 2>&1 | grep -v '^sha256:'
# The sections above carry the results; the script itself always succeeds.
exit 0
