#!/bin/bash
# Step 9 on a worker: the kernel modules and sysctls pods need, applied now (the files in
# /etc/modules-load.d and /etc/sysctl.d, copied before this runs, make them survive a reboot).
# Only what is not already in effect is changed.
set -euo pipefail

for module in overlay br_netfilter; do
  if [ ! -d "/sys/module/$module" ]; then
    echo "loading kernel module $module"
    modprobe "$module"
  fi
done

conf=/etc/sysctl.d/kubernetes.conf
while IFS='=' read -r key value; do
  key=$(echo "$key" | xargs)
  value=$(echo "$value" | xargs)
  case "$key" in '' | '#'*) continue ;; esac
  if [ "$(sysctl -n "$key")" != "$value" ]; then
    echo "sysctl $key=$value"
    sysctl -q -w "$key=$value"
  fi
done <"$conf"
