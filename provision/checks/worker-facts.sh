#!/bin/bash
# Facts for the workers checker, in "==> SECTION" blocks.
# Usage: worker-facts.sh
set -u
section() { printf '==> %s\n' "$1"; }

section modules
for module in overlay br_netfilter; do
  if [ -d "/sys/module/$module" ]; then echo "$module loaded"; else echo "$module missing"; fi
done
section sysctl
for key in net.bridge.bridge-nf-call-iptables net.ipv4.ip_forward; do
  echo "$key=$(sysctl -n "$key" 2>&1)"
done
section containerd-active
systemctl is-active containerd 2>&1
section containerd-version
containerd --version 2>&1 | head -n 1
section ctr-version
timeout 20 ctr version 2>&1
section runc-version
runc --version 2>&1 | head -n 1
section runc-path
command -v runc
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
section kubelet-active
systemctl is-active kubelet 2>&1
section kube-proxy-active
systemctl is-active kube-proxy 2>&1
# The sections above carry the results; the script itself always succeeds.
exit 0
