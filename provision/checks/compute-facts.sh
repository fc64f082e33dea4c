#!/bin/bash
# Facts for the compute checker, in "==> SECTION" blocks.
# Usage: compute-facts.sh NAME=IP...   (every node of the lab)
set -u
section() { printf '\n==> %s\n' "$1"; }

section hostname
hostname
section epoch
date +%s
section swaps
tail -n +2 /proc/swaps
section fstab-swap
awk '$1 !~ /^#/ && $3 == "swap"' /etc/fstab
section addresses
ip -o -4 addr show scope global | awk '{print $2, $4}'
for pair in "$@"; do
  name=${pair%%=*}
  ip=${pair#*=}
  section "resolve $name"
  getent hosts "$name" | head -n 1
  section "route $ip"
  ip -o route get "$ip" 2>&1 | head -n 1
done
# The sections above carry the results; the script itself always succeeds.
exit 0
