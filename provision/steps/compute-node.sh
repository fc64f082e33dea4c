#!/bin/bash
# Step 1 on one node: the planned hostname, and no swap (the kubelet refuses to run with swap on).
# /etc/hosts is copied by the engine before this runs. Idempotent: changes only what differs.
# Usage: compute-node.sh NODE_NAME
set -euo pipefail
name=$1

if [ "$(hostname)" != "$name" ]; then
  echo "setting hostname $name (was $(hostname))"
  echo "$name" >/etc/hostname
  hostname "$name"
fi

if [ -n "$(tail -n +2 /proc/swaps)" ]; then
  echo "turning swap off"
  swapoff -a
fi
if awk '$1 !~ /^#/ && $3 == "swap" {found=1} END {exit !found}' /etc/fstab; then
  echo "commenting out swap in /etc/fstab so it stays off after a reboot"
  sed -i -E '/^[^#]\S*\s+\S+\s+swap\s/ s/^/#/' /etc/fstab
fi
